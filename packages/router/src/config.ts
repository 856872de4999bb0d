import { z } from 'zod';
import { RouterError, RouterErrorCode } from './errors.js';

const KiB = 1024;
const MiB = 1024 * KiB;

const count = (min: number) => z.number().int().min(min);
const millis = () => z.number().int().min(0);

/**
 * Tunables of one router, with Ambry's reference defaults (ambry.md 4.2-4.6). Sizes are bytes, times
 * milliseconds. Each key's `describe` text is its row in the README table (see describeConfig); the
 * comments above keys record where a default comes from or why a bound is what it is.
 *
 * Undelete has no knob on purpose: it succeeds only with a quorum of replicas in every datacenter
 * (Ambry's UndeleteOperationTracker), because an undelete that one datacenter missed would be undone
 * by that datacenter's delete replicating back.
 */
export const routerConfigSchema = z
  .object({
    // Ambry sends each chunk to all 3 local replicas at once.
    putParallelism: count(1).default(3).describe('PUT requests in flight per chunk, local replicas only'),
    putSuccessTarget: count(1)
      .default(2)
      .describe('Local replicas that must store a chunk before its PUT succeeds'),
    getParallelism: count(1).default(2).describe('GET requests in flight per chunk'),
    getSuccessTarget: count(1).default(1).describe('Replicas that must answer a GET'),
    // Ambry's "proxy request": a blob not yet replicated here is still readable right after its PUT.
    getCrossDatacenter: z
      .boolean()
      .default(true)
      .describe('GETs go on past local replicas: local, then the originating datacenter, then the rest'),
    updateParallelism: count(1)
      .default(3)
      .describe('DELETE / TTL update requests in flight, to replicas in every datacenter'),
    updateSuccessTarget: count(1)
      .default(2)
      .describe('Replicas (any datacenter) that must apply a DELETE / TTL update'),
    // Ours, not Ambry's: a read right after an update should not be served by a replica whose update
    // is still on its way; a replica slower than this is left to the failure detector and replication.
    updateStragglerGraceMs: millis()
      .default(500)
      .describe('After an update reaches its quorum, how long it waits for the other replicas it asked'),
    // The floor lets tests exercise multi-chunk blobs with small data; the ceiling is the store's
    // default largest blob, which one chunk must fit.
    chunkBytes: z
      .number()
      .int()
      .min(KiB)
      .max(64 * MiB)
      .default(4 * MiB)
      .describe('Chunk size: larger blobs become data chunks plus a metadata blob'),
    chunksInFlight: count(1)
      .default(4)
      .describe('Chunks buffered or in flight per PUT or GET (memory bound: this × chunkBytes)'),
    // Ambry's constructor default (its annotation says 20 s, the code 4 s).
    requestTimeoutMs: count(1).default(4000).describe('Timeout of one request to one replica'),
    // The original attempt plus Ambry's 1 "slipped put" on a different partition.
    maxPutAttempts: count(1)
      .default(2)
      .describe('Attempts per chunk PUT, each on a different partition, before the PUT fails'),
    nodeFailureThreshold: count(1)
      .default(3)
      .describe('Consecutive errors or timeouts that mark a data node down'),
    nodeBackoffMs: millis()
      .default(5 * 60_000)
      .describe('How long a down node is avoided before a request probes it'),
    diskFailureThreshold: count(1).default(1).describe('Consecutive disk errors that mark a disk down'),
    diskBackoffMs: millis()
      .default(10 * 60_000)
      .describe('How long a down disk is avoided before a request probes it'),
    hedgeGets: z
      .boolean()
      .default(true)
      .describe('Ask the next replica when a GET request is slower than the hedge delay'),
    // Ambry's AdaptiveOperationTracker uses the 0.9 quantile of recent latencies.
    hedgeQuantile: z
      .number()
      .gt(0)
      .lt(1)
      .default(0.9)
      .describe('Latency quantile (of recent GETs) used as the hedge delay'),
    // Ambry waits for 1000 samples; 100 still gives a usable p90 and adapts sooner after a start.
    hedgeMinSamples: count(1).default(100).describe('Latency samples needed before the quantile is trusted'),
    hedgeDefaultDelayMs: millis()
      .default(50)
      .describe('Hedge delay while fewer than hedgeMinSamples latencies are known'),
    hedgeMaxInFlight: count(1)
      .default(2)
      .describe('Most GET requests outstanding per chunk, hedges included'),
    // Ambry's not-found cache: 15 s absorbs clients hammering a missing id without hiding new blobs long.
    notFoundCacheMs: millis()
      .default(15_000)
      .describe('How long a blob-not-found answer is remembered (0 disables)'),
    // Approximate trimming (`XADD MAXLEN ~`) so Redis trims whole nodes, cheaply.
    changeStreamMaxLength: count(1)
      .default(1_000_000)
      .describe('Length cap of the Redis change stream (XADD MAXLEN ~)'),
  })
  .strict();

export type RouterConfig = Readonly<z.output<typeof routerConfigSchema>>;
export type RouterConfigInput = z.input<typeof routerConfigSchema>;
export type RouterConfigKey = keyof RouterConfig;

/** Rejected router configuration; `problems` holds one `key: message` line per bad value. */
export class RouterConfigError extends RouterError {
  constructor(readonly problems: readonly string[]) {
    super(RouterErrorCode.INVALID_ARGUMENT, `invalid router config: ${problems.join('; ')}`);
  }
}

interface CrossCheck {
  /** The key the problem is reported under. */
  readonly key: RouterConfigKey;
  readonly other: RouterConfigKey;
  readonly ok: (value: number, other: number) => boolean;
  readonly message: (other: number) => string;
}

// A success target above the parallelism could never be met: every operation would wait for requests it
// may not send. A hedge cap below the parallelism would silently lower the parallelism.
const notAbove = (key: RouterConfigKey, other: RouterConfigKey): CrossCheck => ({
  key,
  other,
  ok: (value, limit) => value <= limit,
  message: (limit) => `must not exceed ${other} (${limit})`,
});
const CROSS_CHECKS: readonly CrossCheck[] = [
  notAbove('putSuccessTarget', 'putParallelism'),
  notAbove('getSuccessTarget', 'getParallelism'),
  notAbove('updateSuccessTarget', 'updateParallelism'),
  {
    key: 'hedgeMaxInFlight',
    other: 'getParallelism',
    ok: (value, parallelism) => value >= parallelism,
    message: (parallelism) => `must be at least getParallelism (${parallelism})`,
  },
];

/**
 * The input with defaults filled in, or a RouterConfigError naming every bad key at once (unknown keys
 * too: a misspelt key would otherwise silently keep its default).
 */
export function resolveRouterConfig(input: RouterConfigInput = {}): RouterConfig {
  const parsed = routerConfigSchema.safeParse(input);
  const problems: string[] = [];
  const badKeys = new Set<string>();
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) problems.push(`${key}: unknown key`);
        continue;
      }
      const key = issue.path.map(String).join('.') || '(config)';
      badKeys.add(key);
      problems.push(`${key}: ${issue.message}`);
    }
  }
  // Cross-field rules run on the keys that are valid on their own, so one pass reports everything.
  const values = candidateValues(input, parsed.success ? parsed.data : undefined);
  if (values) {
    for (const check of CROSS_CHECKS) {
      if (badKeys.has(check.key) || badKeys.has(check.other)) continue;
      const value = values[check.key];
      const other = values[check.other];
      if (typeof value === 'number' && typeof other === 'number' && !check.ok(value, other))
        problems.push(`${check.key}: ${check.message(other)}`);
    }
  }
  if (problems.length > 0 || !parsed.success) throw new RouterConfigError(problems);
  return Object.freeze(parsed.data);
}

function candidateValues(
  input: unknown,
  data: RouterConfig | undefined,
): Readonly<Record<string, unknown>> | undefined {
  if (data) return data;
  if (typeof input !== 'object' || input === null) return undefined;
  const given = input as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(routerConfigSchema.shape)) {
    const one = field.safeParse(given[key]);
    if (one.success) out[key] = one.data;
  }
  return out;
}

/** Every key's default, as `resolveRouterConfig()` fills it in. */
export const ROUTER_DEFAULTS: RouterConfig = resolveRouterConfig();

export interface ConfigRow {
  readonly key: RouterConfigKey;
  readonly default: number | boolean;
  readonly meaning: string;
}

/** The rows of the README's config table, in schema order; a README test compares the two. */
export function describeConfig(): ConfigRow[] {
  return Object.entries(routerConfigSchema.shape).map(([key, field]) => ({
    key: key as RouterConfigKey,
    default: ROUTER_DEFAULTS[key as RouterConfigKey],
    meaning: field.description ?? '',
  }));
}
