import { readFile } from 'node:fs/promises';
import { z } from 'zod';

/**
 * The datanode's configuration: a JSON file, then `AMBRY_*` environment variables on top (the key in
 * UPPER_SNAKE_CASE: `adminPort` ← `AMBRY_ADMIN_PORT`; lists comma-separated). Validated at start; a bad
 * value stops the process with a message naming the key. The README's table lists every key.
 */

const KiB = 1024;
const MiB = 1024 * KiB;

const port = z.number().int().min(0).max(65_535);

const fields = z
  .object({
    /** Which node of the cluster map this process is: its `host:port`. */
    node: z.string().regex(/^[^:\s]+:\d+$/, 'expected host:port'),
    /** Address to listen on (default: the node's host). Port 0 in tests is not allowed: the map fixes it. */
    listenHost: z.string().min(1).optional(),
    /** Admin HTTP port (default: the node's adminPort in the map). */
    adminPort: port.optional(),
    /** Static cluster map directory (hardware.json + partitions.json). */
    clusterMapDir: z.string().min(1).optional(),
    /** Redis cluster map instead: URL and cluster name. */
    redisUrl: z.string().min(1).optional(),
    clusterName: z.string().min(1).optional(),
    /** Redis mode: this node's datacenter name (the static map finds it in the files). */
    datacenter: z.string().min(1).optional(),
    /** Mount paths this node serves; when given they must be exactly the node's disks in the map. */
    disks: z.array(z.string().min(1)).min(1).optional(),
    durability: z.enum(['group-commit', 'interval']).default('group-commit'),
    syncIntervalMs: z.number().int().positive().default(1000),
    /** Log segment size of new replicas (default: min(replica capacity, 1 GiB)). */
    segmentBytes: z
      .number()
      .int()
      .min(4 * KiB)
      .optional(),
    maxFrameBytes: z
      .number()
      .int()
      .min(64 * KiB)
      .default(64 * MiB),
    maxInFlightPerConnection: z.number().int().min(1).default(64),
    maxConnections: z.number().int().min(1).default(1024),
    /** Blob bytes held by requests in progress (PUT payloads, GET responses); beyond it: SERVER_BUSY. */
    maxBufferedBytes: z
      .number()
      .int()
      .min(MiB)
      .default(512 * MiB),
    /** How long SIGTERM waits for in-flight requests. */
    shutdownTimeoutMs: z.number().int().min(0).default(10_000),
    /** I/O errors from one disk's stores before the disk is marked failed. */
    diskErrorThreshold: z.number().int().min(1).default(1),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Test only: every store goes through a FaultyIo and the admin port takes POST /test/disk-fault. */
    testFaultInjection: z.boolean().default(false),
  })
  .strict();

const schema = fields.superRefine((c, ctx) => {
  const staticMap = c.clusterMapDir !== undefined;
  const redisMap = c.redisUrl !== undefined || c.clusterName !== undefined;
  if (staticMap === redisMap) {
    ctx.addIssue({
      code: 'custom',
      path: ['clusterMapDir'],
      message: 'set either clusterMapDir, or redisUrl and clusterName',
    });
  } else if (
    redisMap &&
    (c.redisUrl === undefined || c.clusterName === undefined || c.datacenter === undefined)
  ) {
    ctx.addIssue({
      code: 'custom',
      path: ['redisUrl'],
      message: 'a Redis cluster map needs redisUrl, clusterName and datacenter',
    });
  }
});

export type DataNodeConfig = z.output<typeof schema>;
export type DataNodeConfigInput = z.input<typeof schema>;

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid datanode configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

const ENV_PREFIX = 'AMBRY_';

export function envName(key: string): string {
  return ENV_PREFIX + key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
}

/** The value of an environment override, typed by the key's schema. */
function fromEnv(key: string, raw: string): unknown {
  const field = schemaShape[key];
  const kind = field === undefined ? 'string' : describe(field);
  if (kind === 'number') return raw.trim() === '' ? Number.NaN : Number(raw);
  if (kind === 'boolean') return raw === 'true' ? true : raw === 'false' ? false : raw;
  if (kind === 'array') return raw.split(',').map((s) => s.trim());
  return raw;
}

const schemaShape: Record<string, z.ZodType> = fields.shape;

function describe(field: z.ZodType): 'number' | 'boolean' | 'array' | 'string' {
  let current: z.ZodType = field;
  for (;;) {
    const def = (current as unknown as { def: { type: string; innerType?: z.ZodType } }).def;
    if (def.type === 'optional' || def.type === 'default') {
      current = def.innerType!;
      continue;
    }
    if (def.type === 'number') return 'number';
    if (def.type === 'boolean') return 'boolean';
    if (def.type === 'array') return 'array';
    return 'string';
  }
}

/** Validates a config object (file contents with env overrides applied). */
export function parseConfig(input: unknown, env: NodeJS.ProcessEnv = {}): DataNodeConfig {
  const base = typeof input === 'object' && input !== null && !Array.isArray(input) ? { ...input } : input;
  const problems: string[] = [];
  if (typeof base !== 'object' || base === null || Array.isArray(base)) {
    throw new ConfigError(['the configuration must be a JSON object']);
  }
  const merged = base as Record<string, unknown>;
  for (const key of Object.keys(schemaShape)) {
    const raw = env[envName(key)];
    if (raw !== undefined) merged[key] = fromEnv(key, raw);
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith(ENV_PREFIX) && !Object.keys(schemaShape).some((k) => envName(k) === name)) {
      problems.push(`${name}: not a datanode configuration key`);
    }
  }
  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) problems.push(`${key}: not a datanode configuration key`);
        continue;
      }
      const key = issue.path.map(String).join('.') || '(config)';
      const top = String(issue.path[0] ?? '');
      const fromEnvToo = top !== '' && env[envName(top)] !== undefined ? ` (from ${envName(top)})` : '';
      problems.push(`${key}${fromEnvToo}: ${issue.message}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return parsed.data!;
}

/** Reads the JSON file (optional: everything may come from the environment) and applies the environment. */
export async function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv): Promise<DataNodeConfig> {
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
