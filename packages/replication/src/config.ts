import { z } from 'zod';

const KiB = 1024;
const MiB = 1024 * KiB;

const count = (min: number) => z.number().int().min(min);
const millis = (min = 0) => z.number().int().min(min);

/**
 * Settings of one class of peers (same datacenter, or another one). Ambry's defaults (ambry.md 3.1, 3.3):
 * 20 partitions and 1 MiB of entries per metadata request, one replica thread per datacenter, no
 * throttle. We run a few peer loops at once inside the datacenter, where bandwidth is cheap.
 */
function peerClassSchema(defaults: {
  concurrency: number;
  batchBytes: number;
  fetchParallelism: number;
  fetchBytesInFlight: number;
  requestsPerRound: number;
}) {
  return z
    .object({
      concurrency: count(1)
        .default(defaults.concurrency)
        .describe('Peer loops of this class running a round at once'),
      batchPartitions: count(1).default(20).describe('Partitions per REPLICA_METADATA request'),
      batchBytes: count(1)
        .default(defaults.batchBytes)
        .describe('maxTotalBytes of one REPLICA_METADATA request (bytes of PUT records covered)'),
      fetchParallelism: count(1)
        .default(defaults.fetchParallelism)
        .describe('GET requests for missing blobs (and local reconciliations) in flight per peer loop'),
      fetchBytesInFlight: count(1)
        .default(defaults.fetchBytesInFlight)
        .describe('Bytes of fetched blobs not yet written here per peer loop (a larger blob goes alone)'),
      requestsPerRound: count(1)
        .default(defaults.requestsPerRound)
        .describe(
          'REPLICA_METADATA requests chained in one round, each sent while the previous answer is applied (1 = no pipelining)',
        ),
      throttleMBps: z
        .number()
        .min(0)
        .default(0)
        .describe(
          'Blob bytes fetched per second by this class, in MB/s of 10^6 bytes (token bucket; 0 = off)',
        ),
    })
    .strict();
}

export const replicationConfigSchema = z
  .object({
    // Inside a datacenter a larger batch and more GETs in flight keep a catch-up from waiting on round
    // trips (bench/replication.bench.ts on 2 cores: 8 MiB and 16 did best of 1-16 MiB and 8-32).
    intraDc: peerClassSchema({
      concurrency: 4,
      batchBytes: 8 * MiB,
      fetchParallelism: 16,
      fetchBytesInFlight: 64 * MiB,
      requestsPerRound: 16,
    }).prefault({}),
    interDc: peerClassSchema({
      concurrency: 2,
      batchBytes: MiB,
      fetchParallelism: 4,
      fetchBytesInFlight: 32 * MiB,
      requestsPerRound: 4,
    }).prefault({}),
    // Ambry polls every 40 ms; we double while a peer has nothing new, up to 5 s.
    idleBackoffMinMs: millis(1).default(50).describe('Wait after a round that brought nothing'),
    idleBackoffMaxMs: millis(1)
      .default(5000)
      .describe('Longest wait between rounds of an idle peer (the wait doubles)'),
    errorBackoffMinMs: millis(1)
      .default(200)
      .describe('Wait after a failed round (peer unreachable, a partition not completed)'),
    errorBackoffMaxMs: millis(1)
      .default(30_000)
      .describe('Longest wait between attempts on a failing peer (the wait doubles)'),
    // Ambry: 10 s network timeout.
    requestTimeoutMs: count(1).default(10_000).describe('Timeout of one request to a peer'),
    // An empty replica copies a peer's log byte for byte instead of fetching blob by blob: a repair runs
    // at disk speed. Two chunks per copy are in flight (one requested while the other is written).
    logCopyChunkBytes: count(0)
      .max(32 * MiB)
      .default(16 * MiB)
      .describe(
        "Bytes per LOG_CHUNK request when an empty replica is rebuilt by copying a peer's log (0 = never copy logs: blob by blob)",
      ),
    logCopyParallelism: count(1)
      .default(4)
      .describe('Empty replicas of this node rebuilt by log copy at once'),
    // Ambry flushes every 300 s; a token re-read costs a re-scan, so we flush much more often.
    tokenFlushIntervalMs: millis(0)
      .default(1000)
      .describe('Tokens that moved are written to their disk at most this often (and at stop)'),
  })
  .strict();

export type ReplicationConfig = Readonly<z.output<typeof replicationConfigSchema>>;
export type ReplicationConfigInput = z.input<typeof replicationConfigSchema>;
export type PeerClassConfig = ReplicationConfig['intraDc'];
export type PeerClass = 'intraDc' | 'interDc';

/** Rejected replication configuration; `problems` holds one `key: message` line per bad value. */
export class ReplicationConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid replication config: ${problems.join('; ')}`);
    this.name = 'ReplicationConfigError';
  }
}

/** The input with defaults filled in, or a ReplicationConfigError naming every bad key (unknown ones too). */
export function resolveReplicationConfig(input: ReplicationConfigInput = {}): ReplicationConfig {
  const parsed = replicationConfigSchema.safeParse(input);
  if (!parsed.success) {
    throw new ReplicationConfigError(
      parsed.error.issues.map((issue) => {
        const path = issue.path.map(String).join('.');
        if (issue.code === 'unrecognized_keys') {
          return issue.keys.map((key) => `${path === '' ? '' : `${path}.`}${key}: unknown key`).join('; ');
        }
        return `${path || '(config)'}: ${issue.message}`;
      }),
    );
  }
  const config = parsed.data;
  const problems: string[] = [];
  if (config.idleBackoffMaxMs < config.idleBackoffMinMs)
    problems.push(`idleBackoffMaxMs: must be at least idleBackoffMinMs (${config.idleBackoffMinMs})`);
  if (config.errorBackoffMaxMs < config.errorBackoffMinMs)
    problems.push(`errorBackoffMaxMs: must be at least errorBackoffMinMs (${config.errorBackoffMinMs})`);
  if (problems.length > 0) throw new ReplicationConfigError(problems);
  return Object.freeze({
    ...config,
    intraDc: Object.freeze(config.intraDc),
    interDc: Object.freeze(config.interDc),
  });
}

/** Every key's default. */
export const REPLICATION_DEFAULTS: ReplicationConfig = resolveReplicationConfig();

export interface ConfigRow {
  readonly key: string;
  readonly default: number;
  readonly meaning: string;
}

/** The rows of the README's defaults table (nested keys as `intraDc.concurrency`), in schema order. */
export function describeReplicationConfig(): ConfigRow[] {
  const rows: ConfigRow[] = [];
  const shape = replicationConfigSchema.shape;
  for (const [key, field] of Object.entries(shape)) {
    if (key === 'intraDc' || key === 'interDc') {
      const inner = (field as unknown as z.ZodPrefault<z.ZodObject<z.ZodRawShape>>).unwrap().shape;
      for (const [innerKey, innerField] of Object.entries(inner)) {
        rows.push({
          key: `${key}.${innerKey}`,
          default: (REPLICATION_DEFAULTS[key] as Record<string, number>)[innerKey]!,
          meaning: (innerField as z.ZodType).description ?? '',
        });
      }
      continue;
    }
    rows.push({
      key,
      default: REPLICATION_DEFAULTS[key as keyof ReplicationConfig] as number,
      meaning: (field as z.ZodType).description ?? '',
    });
  }
  return rows;
}
