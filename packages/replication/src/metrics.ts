import type { PeerClass } from './config.js';

/**
 * Counters of one engine, per peer class. `ReplicationEngine.metrics()` returns a copy; the data node
 * turns it into Prometheus series (this package carries no metrics library).
 */
export interface ClassCounters {
  /**
   * REPLICA_METADATA requests sent (one per round, several when a round pipelines), and those that
   * failed as a whole.
   */
  rounds: number;
  roundErrors: number;
  /** Partitions in metadata responses, and those answered with an error by the peer. */
  partitionsPolled: number;
  partitionErrors: number;
  /** Partitions skipped because the local store could not take writes (reported in `problems()`). */
  localStoreSkips: number;
  /** Entries seen in metadata responses. */
  entries: number;
  /** Blobs fetched with GET, and their bytes (blob bytes only). */
  blobsFetched: number;
  bytesFetched: number;
  /** PUTs written, and PUTs the store already held identically (another peer was faster). */
  putsWritten: number;
  putsAlreadyPresent: number;
  /** DELETE / TTL_UPDATE / UNDELETE records appended, and those the store found already applied. */
  updatesApplied: number;
  updatesIgnored: number;
  /** Keys not fetched: missing here and deleted / expired at the peer, or gone at the peer when fetched. */
  skippedDeleted: number;
  skippedExpired: number;
  skippedGone: number;
  /** Blobs that could not be written (a different blob under the same id, a corrupt copy at the peer). */
  blobErrors: number;
  /** Tokens that came back from another store incarnation: the peer's replica was recreated. */
  tokenResets: number;
  /** Tokens dropped because the local replica was recreated (wiped, disk replaced) while running. */
  localResets: number;
  /** Empty replicas rebuilt by copying a peer's log, and copies that stopped early (the rest went blob by blob). */
  logCopies: number;
  logCopyFailures: number;
  /** LOG_CHUNK answers written here, and their bytes of log records. */
  logChunks: number;
  logCopyBytes: number;
}

export interface ReplicationMetrics {
  readonly intraDc: Readonly<ClassCounters>;
  readonly interDc: Readonly<ClassCounters>;
  /** Token files written (one per disk per flush) and failed writes. */
  readonly tokenFlushes: number;
  readonly tokenFlushErrors: number;
}

export function emptyCounters(): ClassCounters {
  return {
    rounds: 0,
    roundErrors: 0,
    partitionsPolled: 0,
    partitionErrors: 0,
    localStoreSkips: 0,
    entries: 0,
    blobsFetched: 0,
    bytesFetched: 0,
    putsWritten: 0,
    putsAlreadyPresent: 0,
    updatesApplied: 0,
    updatesIgnored: 0,
    skippedDeleted: 0,
    skippedExpired: 0,
    skippedGone: 0,
    blobErrors: 0,
    tokenResets: 0,
    localResets: 0,
    logCopies: 0,
    logCopyFailures: 0,
    logChunks: 0,
    logCopyBytes: 0,
  };
}

export type CounterSet = Record<PeerClass, ClassCounters>;
