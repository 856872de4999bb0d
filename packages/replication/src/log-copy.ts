import {
  type DataNodeClient,
  type Endpoint,
  ErrorCode,
  type LogChunkResult,
  type Logger,
  ServerError,
} from '@ambry/protocol';
import type { ReplicaStore } from './apply-entries.js';
import { sleep } from './backoff.js';
import type { PeerClass } from './config.js';
import type { Limiter } from './limiter.js';
import type { ClassCounters } from './metrics.js';
import type { RemoteReplica } from './remote-replica.js';
import type { Throttle } from './throttle.js';

/**
 * Rebuilding an empty replica by copying its peer's log byte for byte (LOG_CHUNK), instead of listing
 * and fetching blob by blob: a new node or a replaced disk catches up at disk speed. The local log stays
 * a prefix of the peer's, so after each chunk the peer's token at the chunk's end is an exact statement
 * of what is here: the pair's token moves to it, and once the copy reaches the peer's indexed end the
 * usual REPLICA_METADATA rounds go on from there. Anything unexpected (the peer's store recreated,
 * another segment size, a refused or corrupt chunk, a peer that does not know LOG_CHUNK) ends the copy
 * early; the pair then replicates the rest blob by blob from the token it reached.
 */

/** SERVER_BUSY answers waited out (100 ms doubling) before a copy gives up. */
const MAX_BUSY_RETRIES = 6;
const BUSY_BACKOFF_MS = 100;

function isBusy(error: unknown): boolean {
  return error instanceof ServerError && error.code === ErrorCode.SERVER_BUSY;
}

/** Room for the frame prefix and the answer's header around a chunk's records. */
const FRAME_SLACK_BYTES = 64 * 1024;

export interface LogCopyContext {
  readonly client: DataNodeClient;
  readonly peer: Endpoint;
  readonly peerKey: string;
  readonly store: ReplicaStore;
  readonly chunkBytes: number;
  readonly counters: ClassCounters;
  readonly throttle: Throttle;
  readonly requestTimeoutMs: number;
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** The pair's token moved (and is durable here). */
  readonly tokenMoved: () => void;
  /** The first records are written: there is something to rebuild (a new cluster's peers have none). */
  readonly copying: () => void;
}

export interface LogCopyOutcome {
  readonly complete: boolean;
  readonly bytes: number;
  /** Why the copy stopped early. */
  readonly problem?: string;
}

/** True when the local replica holds nothing at all (no record, not even an update), so a copy may start. */
export function isEmptyReplica(store: ReplicaStore): boolean {
  const stats = store.stats();
  return (
    stats.available &&
    stats.blobCount === 0 &&
    stats.memoryRecords === 0 &&
    stats.persistedIndexSegments === 0
  );
}

/**
 * Copies the peer's log into the (empty) local store of `replica`, two chunks in flight: the next one is
 * requested while the previous one is being written. Never rejects.
 */
export async function copyLog(ctx: LogCopyContext, replica: RemoteReplica): Promise<LogCopyOutcome> {
  const { counters, signal } = ctx;
  let copied = 0;
  let incarnation: string | undefined;
  // Two receive buffers, taken in turn: an answer lands in the one whose chunk is written already
  // (the next request goes out only after the previous chunk's write), so no chunk costs a fresh
  // allocation. A single record larger than a buffer arrives in a buffer of its own.
  const buffers = [0, 1].map(() => Buffer.allocUnsafe(ctx.chunkBytes + FRAME_SLACK_BYTES));
  let turn = 0;
  const request = (token: Uint8Array) => {
    const pending = ctx.client.logChunk(
      ctx.peer,
      { partitionId: replica.partitionId, token, maxBytes: ctx.chunkBytes },
      { timeoutMs: ctx.requestTimeoutMs, signal, receiveInto: buffers[turn++ % 2] },
    );
    pending.catch(() => {}); // awaited below, or abandoned when the copy stops first
    return pending;
  };
  const stop = (problem: string): LogCopyOutcome => {
    counters.logCopyFailures += 1;
    ctx.logger.warn(
      { partitionId: replica.partitionId, peer: ctx.peerKey, copiedBytes: copied, problem },
      'log copy stopped early; replicating the rest blob by blob',
    );
    return { complete: false, bytes: copied, problem };
  };
  // The engine is stopping: not a failure of the copy, and not counted as one.
  const stopped = (): LogCopyOutcome => ({ complete: false, bytes: copied, problem: 'stopped' });

  let busyRetries = 0;
  /** Where this copy left the local log (undefined: empty, as it starts). */
  let localEnd: number | undefined;
  // From the start of the peer's log, whatever the pair's token says: the local log is empty.
  let copiedTo: Uint8Array = new Uint8Array(0);
  let next: Promise<LogChunkResult> | undefined = request(copiedTo);
  while (next !== undefined) {
    if (signal.aborted) return stopped();
    let chunk: LogChunkResult;
    try {
      chunk = await next;
      busyRetries = 0;
    } catch (error) {
      if (signal.aborted) return stopped();
      // A peer short of memory for answers asks to come back later: not a reason to give up the copy.
      if (isBusy(error) && busyRetries < MAX_BUSY_RETRIES) {
        await sleep(BUSY_BACKOFF_MS * 2 ** busyRetries++, signal);
        next = request(copiedTo);
        continue;
      }
      return stop(`LOG_CHUNK failed: ${String(error)}`);
    }
    const answered = Buffer.from(chunk.incarnation).toString('hex');
    if (incarnation !== undefined && answered !== incarnation)
      return stop("the peer's replica was recreated");
    incarnation = answered;
    if (chunk.records.byteLength === 0 && chunk.lagBytes > 0)
      return stop('the peer sent no records but has more');
    next = chunk.lagBytes > 0 ? request(chunk.token) : undefined;
    await ctx.throttle.take(chunk.records.byteLength, signal);
    try {
      localEnd = await ctx.store.appendLogChunk(chunk, localEnd);
    } catch (error) {
      if (signal.aborted) return stopped();
      return stop(`local store refused the chunk: ${String(error)}`);
    }
    // The first records are in and the local log is the peer's prefix: clients' writes now wait.
    if (copied === 0 && chunk.records.byteLength > 0) ctx.copying();
    copied += chunk.records.byteLength;
    counters.logChunks += 1;
    counters.logCopyBytes += chunk.records.byteLength;
    // Durable here (appendLogChunk resolves after the fsync): the token may move and be persisted.
    copiedTo = chunk.token;
    replica.token = chunk.token;
    replica.lagBytes = chunk.lagBytes;
    replica.problem = undefined;
    ctx.tokenMoved();
  }
  // A peer as empty as this replica (a new cluster) had nothing to copy: no rebuild to count.
  if (copied === 0) return { complete: true, bytes: 0 };
  counters.logCopies += 1;
  ctx.logger.info(
    { partitionId: replica.partitionId, peer: ctx.peerKey, copiedBytes: copied },
    "empty replica rebuilt from its peer's log",
  );
  return { complete: true, bytes: copied };
}

/**
 * Which peer rebuilds each empty replica: the first pair to claim it, a peer of this datacenter when
 * the partition has one (a copy across datacenters goes over the expensive link). While it copies, the
 * partition's other pairs leave it alone (a record written by them would end the log's prefix
 * property). `slots` bounds the copies running at once on this node (each holds two chunks in memory).
 */
export class LogCopyClaims {
  private readonly holders = new Map<number, string>();
  /** Claimed partitions whose peer has sent records: being rebuilt. */
  private readonly active = new Set<number>();
  /** Partitions with a peer in this datacenter whose pairs have not yet looked at the local replica. */
  private readonly awaitingLocal: Set<number>;

  /** `withLocalPeers`: partitions with a replica on another node of this datacenter. */
  constructor(
    readonly slots: Limiter,
    withLocalPeers: Iterable<number>,
  ) {
    this.awaitingLocal = new Set(withLocalPeers);
  }

  claim(partitionId: number, peerKey: string, peerClass: PeerClass): boolean {
    if (this.holders.has(partitionId) || this.deferred(partitionId, peerClass)) return false;
    this.holders.set(partitionId, peerKey);
    return true;
  }

  /** A same-datacenter pair looked at the local replica (and copied it, or found it needs no copy). */
  lookedLocally(partitionId: number): void {
    this.awaitingLocal.delete(partitionId);
  }

  /**
   * True for another datacenter's pair while a same-datacenter pair has not looked at the partition
   * yet: an empty replica then waits for the local copy instead of filling up blob by blob over the
   * expensive link (which would also rule the copy out).
   */
  deferred(partitionId: number, peerClass: PeerClass): boolean {
    return peerClass === 'interDc' && this.awaitingLocal.has(partitionId);
  }

  release(partitionId: number, peerKey: string): void {
    if (this.holders.get(partitionId) !== peerKey) return;
    this.holders.delete(partitionId);
    this.active.delete(partitionId);
  }

  /** The claimed copy received records from its peer: the replica is being rebuilt. */
  copying(partitionId: number, peerKey: string): void {
    if (this.holders.get(partitionId) === peerKey) this.active.add(partitionId);
  }

  /** A copy with records to bring is under way for the partition (clients' writes would end it). */
  rebuilding(partitionId: number): boolean {
    return this.active.has(partitionId);
  }

  /** The peer copying into this partition's replica, if any. */
  holder(partitionId: number): string | undefined {
    return this.holders.get(partitionId);
  }
}
