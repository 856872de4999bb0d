import { type Logger, silentLogger } from '@ambry/protocol';
import { z } from 'zod';
import { InvalidStoreArgumentError } from './errors.js';
import type { StoreIo } from './io.js';
import { nodeIo } from './node-io.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/**
 * Tunables of one store, with defaults for production. Sizes are bytes, times milliseconds. The table in
 * the package README lists them; keep the two in step.
 */
const configSchema = z
  .object({
    /** Total log capacity of this replica (Ambry's default replica: 384 GiB). */
    capacityBytes: z
      .number()
      .int()
      .positive()
      .default(384 * GiB),
    /** Size of one log segment file; the capacity must be a whole number of segments. */
    segmentBytes: z
      .number()
      .int()
      .min(4 * KiB)
      .optional(),
    /**
     * `group-commit` (default): each write is acknowledged after its bytes are fsynced; concurrent writes
     * share one write and one fsync. `interval`: acknowledged from the page cache, fsynced every
     * `syncIntervalMs`, so a power loss can lose that window.
     */
    durability: z.enum(['group-commit', 'interval']).default('group-commit'),
    syncIntervalMs: z.number().int().positive().default(1000),
    /** Largest blob one PUT may carry. */
    maxBlobBytes: z
      .number()
      .int()
      .positive()
      .default(64 * MiB),
    /** Bytes of records written (and fsynced) together at most. */
    maxBatchBytes: z
      .number()
      .int()
      .positive()
      .default(16 * MiB),
    /** Bytes of writes waiting for the log at most; more get a busy error instead of growing memory. */
    maxQueuedBytes: z
      .number()
      .int()
      .positive()
      .default(256 * MiB),
    /** Records kept in memory (index + journal) before they are persisted as an index segment (Ambry: 10,000). */
    maxMemoryRecords: z.number().int().min(1).default(10_000),
    /** Log bytes covered by the memory part before it is persisted: bounds the scan after a crash. */
    maxMemoryLogBytes: z
      .number()
      .int()
      .positive()
      .default(128 * MiB),
    /** Index entries per block of a persisted segment: one lookup reads one block. */
    entriesPerBlock: z.number().int().min(1).max(65_535).default(64),
    /** Target false-positive rate of each segment's bloom filter. */
    bloomFalsePositiveRate: z.number().gt(0).lt(1).default(0.0001),
    /** Fraction of capacity past which PUTs are refused (Ambry: 95%). */
    readOnlyThreshold: z.number().gt(0).max(1).default(0.95),
    /** Fraction of capacity past which the replica reports partially sealed (Ambry: 50%). */
    partialSealThreshold: z.number().gt(0).max(1).default(0.5),
    /** A seal is lifted only below threshold − hysteresis (Ambry: 5%). */
    sealHysteresis: z.number().min(0).lt(1).default(0.05),
    /** A local TTL update is refused for a blob expiring sooner than this (Ambry: 1 day). */
    ttlUpdateBufferMs: z.number().int().min(0).default(0),
  })
  .strict();

export type StoreConfig = z.output<typeof configSchema> & { readonly segmentBytes: number };
export type StoreConfigInput = z.input<typeof configSchema>;

export interface StoreOptions extends StoreConfigInput {
  /** Directory of this replica; created when missing. */
  readonly dir: string;
  /** File I/O seam (default: node:fs). Tests pass a FaultyIo. */
  readonly io?: StoreIo;
  /** Wall clock for expiry checks and default operation times. */
  readonly clock?: () => number;
  readonly logger?: Logger;
}

export interface ResolvedOptions {
  readonly dir: string;
  readonly io: StoreIo;
  readonly clock: () => number;
  readonly logger: Logger;
  readonly config: StoreConfig;
}

/** The defaults of every tunable, as `open` would fill them in (segmentBytes follows capacityBytes). */
export function defaultStoreConfig(): StoreConfig {
  return resolveOptions({ dir: '(defaults)' }).config;
}

export function resolveOptions(options: StoreOptions): ResolvedOptions {
  const { dir, io, clock, logger, ...rest } = options;
  if (typeof dir !== 'string' || dir.length === 0)
    throw new InvalidStoreArgumentError('store option dir is required');
  const parsed = configSchema.safeParse(rest);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`);
    throw new InvalidStoreArgumentError(`invalid store options: ${issues.join('; ')}`);
  }
  const config = parsed.data;
  const segmentBytes = config.segmentBytes ?? Math.min(config.capacityBytes, GiB);
  if (config.capacityBytes < segmentBytes || config.capacityBytes % segmentBytes !== 0) {
    throw new InvalidStoreArgumentError(
      `invalid store options: capacityBytes ${config.capacityBytes} must be a whole number of segments of ${segmentBytes} bytes`,
    );
  }
  if (config.partialSealThreshold > config.readOnlyThreshold) {
    throw new InvalidStoreArgumentError(
      'invalid store options: partialSealThreshold must not exceed readOnlyThreshold',
    );
  }
  return {
    dir,
    io: io ?? nodeIo,
    clock: clock ?? Date.now,
    logger: logger ?? silentLogger,
    config: { ...config, segmentBytes },
  };
}
