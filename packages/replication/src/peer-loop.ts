import type { DataNode } from '@ambry/clustermap';
import { type DataNodeClient, type Endpoint, ErrorCode, type Logger, SealState } from '@ambry/protocol';
import { type ApplyContext, applyEntries, LocalStoreProblem, type ReplicaStore } from './apply-entries.js';
import { DoublingBackoff, sleep } from './backoff.js';
import type { PeerClass, PeerClassConfig, ReplicationConfig } from './config.js';
import type { Limiter } from './limiter.js';
import type { ClassCounters } from './metrics.js';
import { tokenIncarnation } from './peer-token.js';
import { byPriority, type RemoteReplica } from './remote-replica.js';
import type { Throttle } from './throttle.js';

/** What a peer loop needs from its engine. */
export interface PeerLoopDeps {
  readonly client: DataNodeClient;
  readonly config: ReplicationConfig;
  /** This node, as `host:port`: the requester named in REPLICA_METADATA. */
  readonly localKey: string;
  readonly store: (partitionId: number) => ReplicaStore | undefined;
  readonly limiter: Limiter;
  readonly throttle: Throttle;
  readonly counters: ClassCounters;
  readonly clock: () => number;
  readonly logger: Logger;
  /** A replica's token moved: its disk's token file is due for a flush. */
  readonly tokenMoved: (replica: RemoteReplica) => void;
  /** A sequence shared by all loops, for least-recently-polled ordering. */
  readonly nextRound: () => number;
}

export type RoundOutcome = 'progress' | 'idle' | 'error';

/**
 * Replication from one peer node: each round sends one REPLICA_METADATA request for a batch of the
 * partitions both nodes host (most lagging first), applies what comes back partition by partition, and
 * moves each partition's token once all its entries are applied. Rounds of one loop never overlap.
 */
export class PeerLoop {
  readonly endpoint: Endpoint;
  readonly settings: PeerClassConfig;
  private readonly idle: DoublingBackoff;
  private readonly failing: DoublingBackoff;
  private current: Promise<RoundOutcome> | undefined;

  constructor(
    readonly peer: DataNode,
    readonly peerClass: PeerClass,
    readonly replicas: readonly RemoteReplica[],
    private readonly deps: PeerLoopDeps,
  ) {
    this.endpoint = { host: peer.host, port: peer.port };
    this.settings = deps.config[peerClass];
    this.idle = new DoublingBackoff(deps.config.idleBackoffMinMs, deps.config.idleBackoffMaxMs);
    this.failing = new DoublingBackoff(deps.config.errorBackoffMinMs, deps.config.errorBackoffMaxMs);
  }

  /** Rounds until `signal` aborts, waiting between them by outcome. Never rejects. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const outcome = await this.round(signal);
      let waitMs = 0;
      if (outcome === 'error') waitMs = this.failing.grow();
      else {
        this.failing.reset();
        if (outcome === 'idle') waitMs = this.idle.grow();
        else this.idle.reset();
      }
      await sleep(waitMs, signal);
    }
  }

  /** One round, holding a slot of its peer class; waits for a round already running instead of overlapping. */
  round(signal: AbortSignal): Promise<RoundOutcome> {
    const previous = this.current ?? Promise.resolve('idle' as RoundOutcome);
    const next = previous.then(async () => {
      const release = await this.deps.limiter.acquire();
      try {
        return await this.roundOnce(signal);
      } catch (error) {
        // Nothing below should throw; if it does, the loop backs off instead of dying.
        this.deps.logger.error({ err: error, peer: this.peer.key }, 'replication round failed');
        return 'error' as const;
      } finally {
        release();
      }
    });
    this.current = next;
    return next;
  }

  private async roundOnce(signal: AbortSignal): Promise<RoundOutcome> {
    if (signal.aborted) return 'idle';
    const { deps } = this;
    const batch = this.pickBatch();
    if (batch.length === 0) return 'idle';
    const sequence = deps.nextRound();
    for (const replica of batch) replica.lastPolled = sequence;
    deps.counters.rounds += 1;

    let response: Awaited<ReturnType<DataNodeClient['replicaMetadata']>>;
    try {
      response = await deps.client.replicaMetadata(
        this.endpoint,
        {
          partitions: batch.map((r) => ({ partitionId: r.partitionId, token: r.token })),
          maxTotalBytes: this.settings.batchBytes,
          requester: deps.localKey,
        },
        { timeoutMs: deps.config.requestTimeoutMs, signal },
      );
    } catch (error) {
      deps.counters.roundErrors += 1;
      const problem = `peer ${this.peer.key} unreachable: ${String(error)}`;
      for (const replica of batch) {
        replica.problem = problem;
        replica.caughtUp = false;
      }
      if (this.failing.delayMs === 0)
        deps.logger.warn({ err: error, peer: this.peer.key }, 'replication peer failed');
      return 'error';
    }

    let progress = false;
    let incomplete = false;
    const byId = new Map(batch.map((r) => [r.partitionId, r]));
    for (const part of response.partitions) {
      const replica = byId.get(part.partitionId);
      if (replica === undefined) continue; // not asked for: ignore
      byId.delete(part.partitionId);
      deps.counters.partitionsPolled += 1;
      if (part.error !== ErrorCode.OK) {
        deps.counters.partitionErrors += 1;
        replica.problem = `peer answered ${ErrorCode[part.error] ?? part.error}`;
        replica.caughtUp = false;
        continue;
      }
      const store = deps.store(part.partitionId);
      if (store === undefined) {
        this.skipLocal(replica, 'no local store');
        continue;
      }
      const before = tokenIncarnation(replica.token);
      const after = tokenIncarnation(part.token);
      if (before !== undefined && after !== undefined && before !== after) {
        // The peer's replica was recreated: its store answered from its beginning.
        deps.counters.tokenResets += 1;
        deps.logger.info(
          { partitionId: part.partitionId, peer: this.peer.key, from: before, to: after },
          'peer replica has a new incarnation; replicating it from the start',
        );
      }
      let outcome: Awaited<ReturnType<typeof applyEntries>>;
      try {
        outcome = await applyEntries(this.applyContext(store, signal), part.entries);
      } catch (error) {
        if (!(error instanceof LocalStoreProblem)) throw error;
        this.skipLocal(replica, error.message);
        continue;
      }
      if (!outcome.complete) {
        replica.problem = outcome.problem;
        replica.caughtUp = false;
        incomplete = true;
        continue;
      }
      if (part.entries.length > 0 || part.lagBytes > 0) progress = true;
      // Every write of the batch has resolved, so it is durable: the token may move and be persisted.
      replica.token = part.token;
      replica.lagBytes = part.lagBytes;
      replica.caughtUp = part.lagBytes === 0;
      replica.problem = undefined;
      deps.tokenMoved(replica);
    }
    for (const replica of byId.values()) {
      replica.problem = 'peer left the partition out of its answer';
      replica.caughtUp = false;
    }
    // A partition that keeps failing (a blob its peer cannot serve yet) must not spin the loop.
    if (progress) return 'progress';
    return incomplete ? 'error' : 'idle';
  }

  /**
   * Up to `batchPartitions` replicas (see `pickBatch`). A replica whose local store cannot take
   * writes (closed, failed, sealed read-only) is left out and reported instead.
   */
  private pickBatch(): RemoteReplica[] {
    const ready: RemoteReplica[] = [];
    for (const replica of this.replicas) {
      const store = this.deps.store(replica.partitionId);
      if (store === undefined) {
        this.skipLocal(replica, 'no local store');
        continue;
      }
      let stats: ReturnType<ReplicaStore['stats']>;
      try {
        stats = store.stats();
      } catch (error) {
        this.skipLocal(replica, `local store: ${String(error)}`);
        continue;
      }
      if (!stats.available) this.skipLocal(replica, 'local store unavailable');
      else if (stats.sealState === SealState.READ_ONLY) this.skipLocal(replica, 'local store is read-only');
      else {
        this.checkLocalIncarnation(replica, store);
        ready.push(replica);
      }
    }
    return pickBatch(ready, this.settings.batchPartitions);
  }

  /**
   * A token describes what went into one local store; when that store was recreated (wiped, disk
   * replaced: a new incarnation), the pair starts again from the peer's beginning.
   */
  private checkLocalIncarnation(replica: RemoteReplica, store: ReplicaStore): void {
    const current = store.incarnationId;
    if (replica.localIncarnation === current) return;
    if (replica.token.length > 0) {
      this.deps.counters.localResets += 1;
      this.deps.logger.info(
        {
          partitionId: replica.partitionId,
          peer: this.peer.key,
          was: replica.localIncarnation,
          now: current,
        },
        'local replica was recreated; replicating it from the start',
      );
      replica.token = new Uint8Array(0);
      replica.lagBytes = undefined;
      replica.caughtUp = false;
    }
    replica.localIncarnation = current;
  }

  private skipLocal(replica: RemoteReplica, why: string): void {
    if (replica.problem !== why) {
      this.deps.logger.warn(
        { partitionId: replica.partitionId, peer: this.peer.key, why },
        'partition skipped',
      );
    }
    this.deps.counters.localStoreSkips += 1;
    replica.problem = why;
    replica.caughtUp = false;
  }

  private applyContext(store: ReplicaStore, signal: AbortSignal): ApplyContext {
    return {
      client: this.deps.client,
      peer: this.endpoint,
      store,
      counters: this.deps.counters,
      throttle: this.deps.throttle,
      fetchParallelism: this.settings.fetchParallelism,
      requestTimeoutMs: this.deps.config.requestTimeoutMs,
      clock: this.deps.clock,
      signal,
      logger: this.deps.logger,
    };
  }
}

/**
 * Half the batch (rounded up) goes to the most lagging replicas, the rest to the least recently polled:
 * lagging replicas are served first, and one that looked caught up is still polled within a bounded
 * number of rounds even while others never stop lagging under a steady write load.
 */
export function pickBatch(ready: readonly RemoteReplica[], size: number): RemoteReplica[] {
  if (ready.length <= size) return [...ready].sort(byPriority);
  const byLag = [...ready].sort(byPriority);
  const chosen = byLag.slice(0, Math.ceil(size / 2));
  const rest = byLag.slice(chosen.length).sort((a, b) => a.lastPolled - b.lastPolled);
  return [...chosen, ...rest.slice(0, size - chosen.length)];
}
