import type module from 'node:module';

/** What llmux's launcher calls: Node's `module.enableCompileCache` with a folder, or with none (Node's default). */
export type EnableCache = (dir?: string) => ReturnType<typeof module.enableCompileCache>;

export declare const localCacheDir: string;
export declare function enableCompileCache(env?: NodeJS.ProcessEnv, enable?: EnableCache | null, dir?: string, canWrite?: (dir: string) => boolean): ReturnType<EnableCache> | undefined;
