import { readFile } from 'node:fs/promises';
import { RouterConfigError, type RouterConfigInput, resolveRouterConfig } from '@ambry/router';
import { z } from 'zod';

/**
 * The frontend's configuration: a JSON file, then `AMBRY_*` environment variables on top (the key in
 * UPPER_SNAKE_CASE: `maxBlobBytes` ← `AMBRY_MAX_BLOB_BYTES`; `router` ← `AMBRY_ROUTER` as JSON).
 * Validated at start, the router's part by the router itself; a bad value stops the process with a
 * message naming the key. The README's table lists every key.
 */

const KiB = 1024;
const GiB = 1024 * 1024 * KiB;

const fields = z
  .object({
    port: z.number().int().min(0).max(65_535).default(1174),
    host: z.string().min(1).default('127.0.0.1'),
    /** Static cluster map directory (hardware.json + partitions.json). */
    clusterMapDir: z.string().min(1),
    /** The local datacenter's name in the map: where puts go and gets start. */
    datacenter: z.string().min(1),
    /** Passed to the router, which validates it (keys reported as `router.<key>`). */
    router: z.record(z.string(), z.unknown()).default({}),
    /** Total bytes of the `x-ambry-um-*` names (without the prefix) and values of one upload. */
    maxUserMetadataBytes: z
      .number()
      .int()
      .min(0)
      .max(64 * KiB)
      .default(64 * KiB),
    /** Largest blob accepted; beyond it (declared or counted while streaming): 413. */
    maxBlobBytes: z
      .number()
      .int()
      .min(1)
      .max(Number.MAX_SAFE_INTEGER)
      .default(5 * GiB),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Whole-request receive limit (node's server.requestTimeout); 0 = none, uploads of any length. */
    requestTimeoutMs: z.number().int().min(0).default(0),
    /** An upload whose body stalls this long is cut off (408, connection closed). */
    bodyIdleTimeoutMs: z.number().int().min(1).default(30_000),
    /** Longest `GET /healthCheck` waits for the router's probe before answering 503. */
    healthCheckTimeoutMs: z.number().int().min(1).default(2_000),
    /** How long `stop()` (SIGTERM) lets requests in flight finish before closing their connections. */
    shutdownTimeoutMs: z.number().int().min(0).default(10_000),
  })
  .strict();

export type FrontendConfig = Omit<z.output<typeof fields>, 'router'> & { router: RouterConfigInput };
export type FrontendConfigInput = z.input<typeof fields>;

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid frontend configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

const ENV_PREFIX = 'AMBRY_';

export function envName(key: string): string {
  return ENV_PREFIX + key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
}

const schemaShape: Record<string, z.ZodType> = fields.shape;
const KEYS = Object.keys(schemaShape);

function kindOf(field: z.ZodType): string {
  let current: z.ZodType = field;
  for (;;) {
    const def = (current as unknown as { def: { type: string; innerType?: z.ZodType } }).def;
    if ((def.type === 'optional' || def.type === 'default') && def.innerType) {
      current = def.innerType;
      continue;
    }
    return def.type;
  }
}

/** The value of an environment override, typed by the key's schema (an object key takes JSON). */
function fromEnv(key: string, raw: string): unknown {
  const field = schemaShape[key];
  const kind = field === undefined ? 'string' : kindOf(field);
  if (kind === 'number') return raw.trim() === '' ? Number.NaN : Number(raw);
  if (kind === 'boolean') return raw === 'true' ? true : raw === 'false' ? false : raw;
  if (kind === 'record') {
    try {
      return JSON.parse(raw);
    } catch {
      return raw;
    }
  }
  return raw;
}

/** Validates a config object (file contents; `env` overrides applied on top). */
export function parseConfig(input: unknown, env: NodeJS.ProcessEnv = {}): FrontendConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ConfigError(['the configuration must be a JSON object']);
  }
  const merged: Record<string, unknown> = { ...(input as Record<string, unknown>) };
  const problems: string[] = [];
  for (const key of KEYS) {
    const raw = env[envName(key)];
    if (raw !== undefined) merged[key] = fromEnv(key, raw);
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith(ENV_PREFIX) && !KEYS.some((k) => envName(k) === name)) {
      problems.push(`${name}: not a frontend configuration key`);
    }
  }
  const source = (key: string) =>
    key !== '' && env[envName(key)] !== undefined ? ` (from ${envName(key)})` : '';
  const parsed = fields.safeParse(merged);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) problems.push(`${key}: not a frontend configuration key`);
        continue;
      }
      const key = issue.path.map(String).join('.') || '(config)';
      problems.push(`${key}${source(String(issue.path[0] ?? ''))}: ${issue.message}`);
    }
  }
  // The router judges its own part, so its rules (cross-checks included) live in one place.
  const routerInput = parsed.success ? parsed.data.router : merged.router;
  if (typeof routerInput === 'object' && routerInput !== null && !Array.isArray(routerInput)) {
    try {
      resolveRouterConfig(routerInput as RouterConfigInput);
    } catch (error) {
      if (!(error instanceof RouterConfigError)) throw error;
      for (const problem of error.problems) problems.push(`router.${problem}`);
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  return parsed.data as FrontendConfig;
}

/** Reads the JSON file (optional: everything may come from the environment) and applies the environment. */
export async function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv): Promise<FrontendConfig> {
  let input: unknown = {};
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new ConfigError([
        `${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      ]);
    }
    try {
      input = JSON.parse(text);
    } catch (error) {
      throw new ConfigError([`${file}: not valid JSON (${(error as Error).message})`]);
    }
  }
  return parseConfig(input, env);
}
