/** The environment the warm-up's start gets: what finds programs and folders, and the user's own cache settings; no keys. */
export function startEnv(env?: Record<string, string | undefined>): Record<string, string>;
