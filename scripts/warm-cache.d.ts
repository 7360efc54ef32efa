/** The environment the warm-up's start gets: what finds programs and folders, the user's own Node settings (a relative NODE_COMPILE_CACHE made absolute against `cwd`); no keys. */
export function startEnv(env?: Record<string, string | undefined>, cwd?: string): Record<string, string>;
/** The line of a failed start's stderr that says why (not Node's closing version line). */
export function reason(stderr: string): string;
