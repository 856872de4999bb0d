import type { DataNode } from '@ambry/clustermap';
import type { Endpoint } from '@ambry/protocol';
import type { ReplicaStore } from './apply-entries.js';
import type { PeerClass } from './config.js';
import { copyLog, isEmptyReplica } from './log-copy.js';
import type { PeerLoopDeps } from './peer-loop.js';
import type { RemoteReplica } from './remote-replica.js';

/**
 * The log copies of one peer loop (log-copy.ts): started at the beginning of its rounds for each empty
 * local replica no other pair is rebuilding, and run detached from them, since a rebuild may take far
 * longer than a round. Each pair tries at most once (again only once its local replica is recreated).
 */
export class LoopCopies {
  private readonly running = new Map<RemoteReplica, Promise<void>>();
  private readonly tried = new Set<RemoteReplica>();
  private ended = false;

  constructor(
    private readonly peer: DataNode,
    private readonly peerClass: PeerClass,
    private readonly endpoint: Endpoint,
    private readonly deps: PeerLoopDeps,
  ) {}

  /**
   * Starts a copy for each of `replicas` whose local store is empty and that this pair may claim.
   * `checkIncarnation` first lets the loop reset a pair whose local replica was recreated.
   */
  start(
    replicas: readonly RemoteReplica[],
    checkIncarnation: (replica: RemoteReplica, store: ReplicaStore) => void,
    signal: AbortSignal,
  ): void {
    const { deps } = this;
    if (deps.config.logCopyChunkBytes === 0) return;
    for (const replica of replicas) {
      if (this.running.has(replica) || this.tried.has(replica)) continue;
      const store = deps.store(replica.partitionId);
      if (store === undefined) continue;
      // Only an empty log can become a prefix of the peer's. The pair's tokens do not matter: what they
      // cover went into this store or was skipped (deleted at the peer), and copying adds only records.
      let empty: boolean;
      try {
        checkIncarnation(replica, store);
        empty = isEmptyReplica(store);
      } catch {
        continue; // the store closed meanwhile: the loop's batch reports it
      }
      if (this.peerClass === 'intraDc') deps.logCopy.lookedLocally(replica.partitionId);
      if (!empty || !deps.logCopy.claim(replica.partitionId, this.peer.key, this.peerClass)) continue;
      this.tried.add(replica);
      const task = this.run(replica, store, signal).finally(() => {
        this.running.delete(replica);
        this.ended = true;
        deps.logCopy.release(replica.partitionId, this.peer.key);
      });
      this.running.set(replica, task);
    }
  }

  /** The pair's local replica was recreated: a copy may rebuild it again. */
  forget(replica: RemoteReplica): void {
    this.tried.delete(replica);
  }

  /** Whether a copy ended since the last call. */
  takeEnded(): boolean {
    const ended = this.ended;
    this.ended = false;
    return ended;
  }

  /** Resolves when the next running copy ends (never, with none running). */
  nextEnd(): Promise<void> {
    return this.running.size > 0 ? Promise.race(this.running.values()) : new Promise(() => {});
  }

  /** Resolves once no copy is running. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running.values());
  }

  private async run(replica: RemoteReplica, store: ReplicaStore, signal: AbortSignal): Promise<void> {
    const { deps } = this;
    replica.problem = `rebuilding from ${this.peer.key}'s log`;
    replica.caughtUp = false;
    const release = await deps.logCopy.slots.acquire();
    try {
      if (signal.aborted) return;
      // While it waited for a slot a client's write may have landed: then it is no longer a copy's to make.
      if (!isEmptyReplica(store)) {
        replica.problem = undefined;
        return;
      }
      const outcome = await copyLog(
        {
          client: deps.client,
          peer: this.endpoint,
          peerKey: this.peer.key,
          store,
          chunkBytes: deps.config.logCopyChunkBytes,
          counters: deps.counters,
          throttle: deps.throttle,
          requestTimeoutMs: deps.config.requestTimeoutMs,
          signal,
          logger: deps.logger,
          tokenMoved: () => deps.tokenMoved(replica),
          copying: () => deps.logCopy.copying(replica.partitionId, this.peer.key),
        },
        replica,
      );
      replica.problem = outcome.complete ? undefined : outcome.problem;
    } catch (error) {
      // copyLog never rejects; this keeps a bug from leaving the claim held.
      deps.logger.error({ err: error, peer: this.peer.key }, 'log copy failed');
      replica.problem = `log copy failed: ${String(error)}`;
    } finally {
      release();
    }
  }
}
