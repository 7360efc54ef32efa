/**
 * The one schema of `llmux.yaml` (SPEC §3): types, validation, admin API validation and the JSON
 * Schema for editors all come from here. Values are validated after `${ENV}` substitution
 * (see load.ts), where a value that came out empty has already been removed.
 */
import { z } from 'zod';

const idPattern = /^[a-z0-9_-]+$/;

/** -1 or null: unlimited; 0: disabled; n > 0: the limit. */
const limitValue = z.number().int().min(-1).nullable().optional();

export const limitsSchema = z
  .object({
    rpm: limitValue.describe('requests per sliding 60 s'),
    rpd: limitValue.describe('requests per calendar day in server.timezone'),
    tpm: limitValue.describe('tokens per sliding 60 s'),
    tpd: limitValue.describe('tokens per calendar day'),
    concurrency: limitValue.describe('requests in flight at once'),
  })
  .strict();

export const timeoutSchema = z
  .object({
    connectMs: z.number().int().positive().default(10_000),
    firstByteMs: z.number().int().positive().default(60_000),
    idleMs: z.number().int().positive().default(60_000),
    totalMs: z.number().int().positive().default(90_000),
  })
  .strict();

export const breakerSchema = z
  .object({
    failures: z.number().int().positive().default(3),
    cooldownMs: z.number().int().positive().default(30_000),
    maxCooldownMs: z.number().int().positive().default(600_000),
  })
  .strict();

const clientKeyObject = z
  .object({
    key: z.string().min(1),
    name: z.string().optional(),
    limits: limitsSchema.optional(),
    models: z.array(z.string()).optional().describe('routes this key may call; absent = all'),
    budgetTokens: z
      .union([z.number().int().positive(), z.object({ day: z.number().int().positive().optional(), month: z.number().int().positive().optional() }).strict()])
      .optional(),
    // A typo here must not make a key that never expires (new Date('tomorrow') is NaN, and NaN <= now is false).
    expiresAt: z.union([z.string().refine((v) => !Number.isNaN(Date.parse(v)), 'expected a date such as 2026-12-31 or 2026-12-31T23:59:59Z'), z.date()]).optional(),
  })
  .strict();

export const clientKeySchema = z.union([z.string().min(1), clientKeyObject]);

const sizePattern = /^\d+(\.\d+)?\s*(b|kb|mb|gb)?$/i;

export const serverSchema = z
  .object({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8080),
    keys: z.array(clientKeySchema).default([]),
    adminKey: z.string().optional(),
    allowOpen: z.boolean().default(false),
    maxConcurrency: z.number().int().positive().default(64),
    queue: z.object({ size: z.number().int().min(0).default(256), timeoutMs: z.number().int().positive().default(30_000) }).strict().default({ size: 256, timeoutMs: 30_000 }),
    bodyLimit: z.union([z.number().int().positive(), z.string().regex(sizePattern, 'expected a size such as 8mb')]).default('8mb'),
    timezone: z.string().refine(isTimeZone, 'unknown time zone (use an IANA name such as Asia/Shanghai or UTC)').default('UTC'),
    maxAttempts: z.number().int().positive().default(5),
    deadlineMs: z.number().int().positive().default(120_000),
    shutdownGraceMs: z.number().int().min(0).default(30_000),
  })
  .strict();

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Checked at load: a bad header would otherwise fail every request to the provider (UND_ERR_INVALID_ARG). */
const headerValue = z.string().refine((v) => !/[\r\n\0]/.test(v), 'a header value may not contain CR, LF or NUL');
const headersSchema = z.record(z.string(), headerValue).superRefine((h, ctx) => {
  for (const name of Object.keys(h)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'not a valid HTTP header name' });
  }
});

export const providerSchema = z
  .object({
    id: z.string().regex(idPattern, 'use lower-case letters, digits, "_" and "-"'),
    name: z.string().optional(),
    type: z.string().default('openai').describe('openai, or a preset name (see config/presets.ts and the README)'),
    baseUrl: z.string().url().optional().describe('presets fill this in'),
    keys: z.union([z.string(), z.array(z.string())]).optional().describe('each key is its own endpoint'),
    models: z.union([z.array(z.string().min(1)), z.literal('auto'), z.literal('free')]).optional(),
    modelMap: z.record(z.string(), z.string()).default({}),
    limits: limitsSchema.default({}),
    timeout: timeoutSchema.default(timeoutSchema.parse({})),
    breaker: breakerSchema.default(breakerSchema.parse({})),
    retries: z.number().int().min(0).max(10).default(0),
    params: z.record(z.string(), z.unknown()).default({}),
    stream: z.boolean().nullable().default(null),
    headers: headersSchema.default({}),
    proxy: z.string().nullable().optional().describe('an http(s) proxy URL, or "none" to bypass the default proxy'),
    priority: z.number().int().default(0),
    weight: z.number().positive().default(1),
    enabled: z.boolean().default(true),
    failoverOn: z.array(z.number().int().min(400).max(599)).default([]),
    attribution: z.object({ referer: z.string().optional(), title: z.string().optional() }).strict().optional(),
    reasoning: z.enum(['include', 'exclude']).optional(),
    reasoningField: z.string().optional(),
  })
  .strict();

export const balanceSchema = z.enum(['round-robin', 'weighted', 'random', 'least-busy', 'least-latency']);

export const targetSchema = z
  .object({
    provider: z.string().min(1),
    model: z.string().optional(),
    priority: z.number().int().optional(),
    weight: z.number().positive().optional(),
  })
  .strict();

export const routeSchema = z
  .object({
    name: z.string().min(1),
    balance: balanceSchema.default('round-robin'),
    targets: z.array(targetSchema).optional().describe('absent on "*": every provider'),
    hedge: z.object({ afterMs: z.number().int().positive(), budget: z.number().min(0).max(1).default(0.1) }).strict().optional(),
    resume: z.boolean().optional(),
  })
  .strict();

export const sourceSchema = z
  .object({
    type: z.literal('free-api-dir'),
    path: z.string().min(1),
    watch: z.boolean().default(false),
  })
  .strict();

export const configSchema = z
  .object({
    server: serverSchema.default(serverSchema.parse({})),
    store: z.string().default('sqlite:./data/llmux.db'),
    state: z.string().default('memory'),
    proxy: z.string().optional(),
    repair: z.boolean().default(true),
    log: z.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'), file: z.string().nullable().default(null) }).strict().default({ level: 'info', file: null }),
    debug: z.object({ enabled: z.boolean().default(false), dir: z.string().default('./cache') }).strict().default({ enabled: false, dir: './cache' }),
    retention: z.object({ days: z.number().int().positive().default(30), maxRows: z.number().int().positive().default(1_000_000) }).strict().default({ days: 30, maxRows: 1_000_000 }),
    providers: z.array(providerSchema).default([]),
    routes: z.array(routeSchema).default([]),
    sources: z.array(sourceSchema).default([]),
    healthCheck: z
      .object({ onStartup: z.boolean().default(false), intervalMs: z.number().int().min(0).default(300_000), mode: z.enum(['models', 'chat']).default('models'), timeoutMs: z.number().int().positive().default(5_000) })
      .strict()
      .default({ onStartup: false, intervalMs: 300_000, mode: 'models', timeoutMs: 5_000 }),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    for (const i of crossReferenceIssues(cfg)) ctx.addIssue({ code: 'custom', path: i.path, message: i.message });
  });

/**
 * Problems between entries (duplicate ids, routes to unknown providers). Works on raw, unvalidated
 * data too, so a file with other problems still gets these listed in the same pass.
 */
export function crossReferenceIssues(raw: unknown): Array<{ path: Array<string | number>; message: string }> {
  const out: Array<{ path: Array<string | number>; message: string }> = [];
  const o = (typeof raw === 'object' && raw !== null ? raw : {}) as { providers?: unknown; routes?: unknown };
  const providers = Array.isArray(o.providers) ? o.providers : [];
  const routes = Array.isArray(o.routes) ? o.routes : [];
  const seen = new Set<unknown>();
  providers.forEach((p: { id?: unknown } | null, i) => {
    const id = p?.id;
    if (typeof id !== 'string') return;
    if (seen.has(id)) out.push({ path: ['providers', i, 'id'], message: `duplicate provider id "${id}"` });
    seen.add(id);
  });
  const names = new Set<unknown>();
  routes.forEach((r: { name?: unknown; targets?: unknown } | null, i) => {
    if (typeof r?.name === 'string' && names.has(r.name)) out.push({ path: ['routes', i, 'name'], message: `duplicate route "${r.name}"` });
    names.add(r?.name);
    if (!Array.isArray(r?.targets)) return;
    (r.targets as Array<{ provider?: unknown } | null>).forEach((t, j) => {
      if (typeof t?.provider === 'string' && !seen.has(t.provider)) {
        out.push({ path: ['routes', i, 'targets', j, 'provider'], message: `no provider with id "${t.provider}"` });
      }
    });
  });
  return out;
}

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type ProviderConfig = z.output<typeof providerSchema>;
export type RouteConfig = z.output<typeof routeSchema>;
export type TargetConfig = z.output<typeof targetSchema>;
export type LimitsConfig = z.output<typeof limitsSchema>;
export type ClientKeyConfig = z.output<typeof clientKeySchema>;
export type Balance = z.output<typeof balanceSchema>;

/** `providers[2].limits.rpm` style path from a zod issue path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || '(root)';
}

/** Every problem of a failed validation, one line each, by path. */
export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
}

/** The JSON Schema for editors (draft 2020-12). */
export function jsonSchema(): unknown {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' });
}
