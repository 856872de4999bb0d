import type { DataNode } from '@ambry/clustermap';
import {
  type DataNodeClient,
  type Endpoint,
  ErrorCode,
  type Logger,
  type MessageInfo,
} from '@ambry/protocol';
import { type ApplyContext, applyEntries, LocalStoreProblem, type ReplicaStore } from './apply-entries.js';
import { DoublingBackoff, sleep } from './backoff.js';
import type { PeerClass, PeerClassConfig, ReplicationConfig } from './config.js';
import { FetchGate, type Limiter } from './limiter.js';
import type { LogCopyClaims } from './log-copy.js';
import { LoopCopies } from './loop-copies.js';
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
  /** Which pair rebuilds each empty replica by copying its peer's log, shared by all loops. */
  readonly logCopy: LogCopyClaims;
}

export type RoundOutcome = 'progress' | 'idle' | 'error';

type MetadataResponse = Awaited<ReturnType<DataNodeClient['replicaMetadata']>>;
type MetadataPart = MetadataResponse['partitions'][number];

/** A partition in a request, with the token sent for it (the previous answer's, when pipelined). */
interface Asked {
  readonly replica: RemoteReplica;
  readonly token: Uint8Array;
}

/** A partition's part of an answer, to be applied to its local store. */
interface Answer {
  readonly replica: RemoteReplica;
  readonly part: MetadataPart;
  readonly store: ReplicaStore;
}

interface RoundState {
  progress: boolean;
  incomplete: boolean;
  /** Partitions with an answer that could not be applied: their later answers are dropped. */
  readonly failed: Set<RemoteReplica>;
  /** Bytes of entries received per partition this round, to share the peer's byte budget. */
  readonly bytes: Map<RemoteReplica, number>;
  readonly gate: FetchGate;
}

function entryBytes(entries: readonly MessageInfo[]): number {
  let bytes = 0;
  for (const entry of entries) bytes += entry.size;
  return bytes;
}

/**
 * Replication from one peer node: each round sends REPLICA_METADATA requests for a batch of the
 * partitions both nodes host (most lagging first; the next request pipelined with applying the previous
 * answer), applies the partitions of an answer in parallel, and moves each partition's token once all
 * its entries up to that answer are applied. Rounds of one loop never overlap.
 */
export class PeerLoop {
  readonly endpoint: Endpoint;
  readonly settings: PeerClassConfig;
  private readonly idle: DoublingBackoff;
  private readonly failing: DoublingBackoff;
  private current: Promise<RoundOutcome> | undefined;
  private readonly copies: LoopCopies;

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
    this.copies = new LoopCopies(peer, peerClass, this.endpoint, deps);
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
      // A copy that ends is worth a round at once (the pair goes on from where the copy stopped), and
      // the idle backoff that grew while it ran starts over. Chunks landing do not count as progress of
      // the loop's rounds: its other partitions keep their own backoff.
      let copyEnded = this.copies.takeEnded();
      if (!copyEnded) {
        await Promise.race([sleep(waitMs, signal), this.copies.nextEnd()]);
        copyEnded = this.copies.takeEnded();
      }
      if (copyEnded) this.idle.reset();
    }
    await this.copies.idle();
  }

  /** Resolves once no log copy of this loop is running. */
  copiesIdle(): Promise<void> {
    return this.copies.idle();
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

  /**
   * One round: REPLICA_METADATA for a batch of partitions, then, for the partitions still behind, up to
   * `requestsPerRound - 1` more, each sent (with the tokens of the previous answer) while that answer is
   * being applied. Partitions are applied in parallel, each one's answers strictly in order; a token
   * moves only once its answer and every earlier one are applied (durable here). Once a partition's
   * answer fails, its later answers in the round are dropped: its token stays behind them.
   */
  private async roundOnce(signal: AbortSignal): Promise<RoundOutcome> {
    if (signal.aborted) return 'idle';
    const { deps } = this;
    this.copies.start(this.replicas, (replica, store) => this.checkLocalIncarnation(replica, store), signal);
    const batch = this.pickBatch();
    if (batch.length === 0) return 'idle';
    const sequence = deps.nextRound();
    for (const replica of batch) replica.lastPolled = sequence;

    const round: RoundState = {
      progress: false,
      incomplete: false,
      failed: new Set(),
      bytes: new Map(),
      gate: new FetchGate(this.settings.fetchParallelism, this.settings.fetchBytesInFlight),
    };
    // Per partition, the chain of its answers' applications: resolves false once one of them failed.
    const chains = new Map<RemoteReplica, Promise<boolean>>();
    let asking: Asked[] = batch.map((replica) => ({ replica, token: replica.token }));
    // At most two answers are being applied: the current one and the one before it.
    let previous: Promise<unknown> = Promise.resolve();
    for (let sent = 1; ; sent++) {
      const response = await this.requestMetadata(asking, signal);
      if (response === undefined) {
        if (sent === 1) return 'error';
        round.incomplete = true;
        break;
      }
      const answers = this.acceptAnswers(asking, response);
      for (const { replica, part } of answers)
        round.bytes.set(replica, (round.bytes.get(replica) ?? 0) + entryBytes(part.entries));
      const applied = answers.map((answer) => {
        const before = chains.get(answer.replica) ?? Promise.resolve(true);
        const chain = before
          .then((ok) => ok && this.applyAnswer(answer, round, signal))
          .catch((error: unknown) => {
            // Nothing in applyAnswer should throw; if it does, this partition stops for the round.
            deps.logger.error({ err: error, peer: this.peer.key }, 'replication apply failed');
            round.failed.add(answer.replica);
            round.incomplete = true;
            answer.replica.problem = `apply failed: ${String(error)}`;
            answer.replica.caughtUp = false;
            return false;
          });
        chains.set(answer.replica, chain);
        return chain;
      });
      await previous;
      previous = Promise.all(applied);
      if (sent >= this.settings.requestsPerRound || signal.aborted) break;
      // Those with more to fetch and nothing failed yet; whoever got least of the shared byte budget so
      // far goes first, since the peer hands the budget out in request order.
      asking = answers
        .filter((a) => a.part.lagBytes > 0 && !round.failed.has(a.replica))
        .sort((a, b) => (round.bytes.get(a.replica) ?? 0) - (round.bytes.get(b.replica) ?? 0))
        .map((a) => ({ replica: a.replica, token: a.part.token }));
      if (asking.length === 0) break;
    }
    await Promise.all(chains.values());
    // A partition that keeps failing (a blob its peer cannot serve yet) must not spin the loop.
    if (round.progress) return 'progress';
    return round.incomplete ? 'error' : 'idle';
  }

  /** One REPLICA_METADATA request; undefined (with the pairs' problem set) when the peer failed. */
  private async requestMetadata(
    asking: readonly Asked[],
    signal: AbortSignal,
  ): Promise<MetadataResponse | undefined> {
    const { deps } = this;
    // Counted per request, as the data node's metric says, so one pipelined round counts several.
    deps.counters.rounds += 1;
    try {
      return await deps.client.replicaMetadata(
        this.endpoint,
        {
          partitions: asking.map((a) => ({ partitionId: a.replica.partitionId, token: a.token })),
          maxTotalBytes: this.settings.batchBytes,
          requester: deps.localKey,
        },
        { timeoutMs: deps.config.requestTimeoutMs, signal },
      );
    } catch (error) {
      deps.counters.roundErrors += 1;
      const problem = `peer ${this.peer.key} unreachable: ${String(error)}`;
      for (const { replica } of asking) {
        replica.problem = problem;
        replica.caughtUp = false;
      }
      if (this.failing.delayMs === 0)
        deps.logger.warn({ err: error, peer: this.peer.key }, 'replication peer failed');
      return undefined;
    }
  }

  /** The partitions of an answer that can be applied; the others get their problem recorded. */
  private acceptAnswers(asking: readonly Asked[], response: MetadataResponse): Answer[] {
    const { deps } = this;
    const answers: Answer[] = [];
    const byId = new Map(asking.map((a) => [a.replica.partitionId, a]));
    for (const part of response.partitions) {
      const asked = byId.get(part.partitionId);
      if (asked === undefined) continue; // not asked for: ignore
      byId.delete(part.partitionId);
      const { replica } = asked;
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
      const before = tokenIncarnation(asked.token);
      const after = tokenIncarnation(part.token);
      if (before !== undefined && after !== undefined && before !== after) {
        // The peer's replica was recreated: its store answered from its beginning.
        deps.counters.tokenResets += 1;
        deps.logger.info(
          { partitionId: part.partitionId, peer: this.peer.key, from: before, to: after },
          'peer replica has a new incarnation; replicating it from the start',
        );
      }
      answers.push({ replica, part, store });
    }
    for (const { replica } of byId.values()) {
      replica.problem = 'peer left the partition out of its answer';
      replica.caughtUp = false;
    }
    return answers;
  }

  /** Applies one partition's answer and, once it is all applied, moves its token. False if not. */
  private async applyAnswer(answer: Answer, round: RoundState, signal: AbortSignal): Promise<boolean> {
    const { replica, part, store } = answer;
    let outcome: Awaited<ReturnType<typeof applyEntries>>;
    try {
      outcome = await applyEntries(this.applyContext(store, round.gate, signal), part.entries);
    } catch (error) {
      if (!(error instanceof LocalStoreProblem)) throw error;
      round.failed.add(replica);
      this.skipLocal(replica, error.message);
      return false;
    }
    if (!outcome.complete) {
      round.failed.add(replica);
      replica.problem = outcome.problem;
      replica.caughtUp = false;
      round.incomplete = true;
      return false;
    }
    if (part.entries.length > 0 || part.lagBytes > 0) round.progress = true;
    // Every write of this answer (and of the earlier ones: the chain) has resolved, so it is durable:
    // the token may move and be persisted.
    replica.token = part.token;
    replica.lagBytes = part.lagBytes;
    replica.caughtUp = part.lagBytes === 0;
    replica.problem = undefined;
    this.deps.tokenMoved(replica);
    return true;
  }

  /**
   * Up to `batchPartitions` replicas (see `pickBatch`). A replica whose local store cannot take
   * writes (missing, closed, failed) is left out and reported instead.
   */
  private pickBatch(): RemoteReplica[] {
    const ready: RemoteReplica[] = [];
    for (const replica of this.replicas) {
      // Being rebuilt from a peer's log (by this loop or another): nothing else may write to it now.
      const copier = this.deps.logCopy.holder(replica.partitionId);
      if (copier !== undefined) {
        if (copier !== this.peer.key) replica.problem = `waiting: rebuilding from ${copier}'s log`;
        replica.caughtUp = false;
        continue;
      }
      const store = this.deps.store(replica.partitionId);
      if (store === undefined) {
        this.skipLocal(replica, 'no local store');
        continue;
      }
      if (this.deps.logCopy.deferred(replica.partitionId, this.peerClass)) {
        replica.problem = 'waiting: a peer of this datacenter may rebuild it from its log';
        replica.caughtUp = false;
        continue;
      }
      let stats: ReturnType<ReplicaStore['stats']>;
      try {
        stats = store.stats();
      } catch (error) {
        this.skipLocal(replica, `local store: ${String(error)}`);
        continue;
      }
      // A sealed (read-only) replica still takes its peers' writes: it refuses only new blobs from
      // clients, and must stay whole to serve reads. A full file system refuses the writes themselves,
      // and the replica is skipped then (LocalStoreProblem).
      if (!stats.available) this.skipLocal(replica, 'local store unavailable');
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
    if (replica.localIncarnation !== '') this.copies.forget(replica); // a new replica: a copy may rebuild it
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

  private applyContext(store: ReplicaStore, gate: FetchGate, signal: AbortSignal): ApplyContext {
    return {
      client: this.deps.client,
      peer: this.endpoint,
      store,
      counters: this.deps.counters,
      throttle: this.deps.throttle,
      fetchParallelism: this.settings.fetchParallelism,
      gate,
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
