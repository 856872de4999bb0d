import { setMaxListeners } from 'node:events';
import { type ClusterMap, type DataNode, type Disk, type NodeRef, nodeKey } from '@ambry/clustermap';
import { type DataNodeClient, type Logger, silentLogger } from '@ambry/protocol';
import type { ReplicaStore } from './apply-entries.js';
import {
  type PeerClass,
  type ReplicationConfig,
  type ReplicationConfigInput,
  resolveReplicationConfig,
} from './config.js';
import { Limiter } from './limiter.js';
import { LogCopyClaims } from './log-copy.js';
import { type CounterSet, emptyCounters, type ReplicationMetrics } from './metrics.js';
import { PeerLoop, type RoundOutcome } from './peer-loop.js';
import type { RemoteReplica } from './remote-replica.js';
import { Throttle } from './throttle.js';
import { TokenStore } from './token-store.js';

const MAX_SIGNAL_LISTENERS = 10_000;

export interface ReplicationEngineOptions {
  readonly clusterMap: ClusterMap;
  /** This data node, as in the cluster map. */
  readonly localNode: NodeRef;
  /**
   * The local store of a partition; undefined (or a throw) when this node has none open right now.
   * A data node passes its replica set's lookup.
   */
  readonly stores: (partitionId: number) => ReplicaStore | undefined;
  /** Client for the peers; the engine does not close it. */
  readonly client: DataNodeClient;
  /** Directory of a local disk's token file; default: the disk's mount path. */
  readonly tokenDir?: (disk: Disk) => string;
  readonly config?: ReplicationConfigInput;
  readonly logger?: Logger;
  readonly clock?: () => number;
}

export interface ReplicaLag {
  readonly partitionId: number;
  /** The peer, `host:port`. */
  readonly peer: string;
  readonly datacenter: string;
  readonly peerClass: PeerClass;
  /** Bytes of the peer's log not yet replicated here; undefined until the peer first answered. */
  readonly lagBytes: number | undefined;
  readonly caughtUp: boolean;
  /** Why the last attempt for this pair did not complete (local store skipped, peer unreachable, ...). */
  readonly problem: string | undefined;
}

/**
 * Pull-based replication for one data node (ARCHITECTURE.md "Replication", ambry.md 3): a loop per peer
 * node sharing partitions with this one, each round REPLICA_METADATA requests for a batch of those
 * partitions (pipelined: the next one is answered while the previous answer is applied); missing blobs
 * fetched and written with the peer's life version and operation time; deletes / TTL updates /
 * undeletes applied by life version; tokens advanced once applied and persisted per disk. See the
 * package README.
 */
export class ReplicationEngine {
  readonly config: ReplicationConfig;
  readonly localNode: DataNode;
  private readonly replicas: RemoteReplica[];
  private readonly loops: PeerLoop[];
  private readonly counters: CounterSet = { intraDc: emptyCounters(), interDc: emptyCounters() };
  private readonly tokens: TokenStore;
  private readonly logCopy: LogCopyClaims;
  private readonly logger: Logger;
  private abort: AbortController | undefined;
  private running: Promise<void>[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private roundSequence = 0;

  private constructor(options: ReplicationEngineOptions) {
    this.config = resolveReplicationConfig(options.config);
    this.logger = options.logger ?? silentLogger;
    const { clusterMap } = options;
    const local = clusterMap.node(options.localNode);
    if (local === undefined) {
      const ref = options.localNode;
      throw new Error(
        `node ${typeof ref === 'string' ? ref : nodeKey(ref.host, ref.port)} is not in the cluster map`,
      );
    }
    this.localNode = local;
    this.replicas = remoteReplicas(clusterMap, local);
    const clock = options.clock ?? Date.now;
    const classDeps = (peerClass: PeerClass) => ({
      limiter: new Limiter(this.config[peerClass].concurrency),
      throttle: new Throttle(this.config[peerClass].throttleMBps * 1_000_000, clock),
      counters: this.counters[peerClass],
    });
    const perClass = { intraDc: classDeps('intraDc'), interDc: classDeps('interDc') };
    const lookup = options.stores;
    const store = (partitionId: number): ReplicaStore | undefined => {
      try {
        return lookup(partitionId);
      } catch {
        return undefined;
      }
    };

    const tokenDir = options.tokenDir ?? ((disk: Disk) => disk.mountPath);
    this.tokens = new TokenStore(
      new Map(local.disks.map((disk) => [disk.mountPath, tokenDir(disk)])),
      this.replicas,
      this.logger,
      (partitionId) => {
        try {
          return store(partitionId)?.incarnationId;
        } catch {
          return undefined;
        }
      },
    );

    const logCopy = (this.logCopy = new LogCopyClaims(
      new Limiter(this.config.logCopyParallelism),
      // With copies off nobody looks: no partition waits for a same-datacenter copy.
      this.config.logCopyChunkBytes === 0
        ? []
        : this.replicas.filter((r) => r.peerClass === 'intraDc').map((r) => r.partitionId),
    ));
    const byPeer = new Map<string, RemoteReplica[]>();
    for (const replica of this.replicas) {
      const list = byPeer.get(replica.peerKey) ?? [];
      list.push(replica);
      byPeer.set(replica.peerKey, list);
    }
    this.loops = [...byPeer.values()].map((list) => {
      const { peer, peerClass } = list[0]!;
      return new PeerLoop(peer, peerClass, list, {
        client: options.client,
        config: this.config,
        localKey: local.key,
        store,
        ...perClass[peerClass],
        clock,
        logger: this.logger,
        tokenMoved: (replica) => this.tokenMoved(replica),
        nextRound: () => ++this.roundSequence,
        logCopy,
      });
    });
  }

  /** Builds the engine and restores the persisted tokens of every local disk. */
  static async create(options: ReplicationEngineOptions): Promise<ReplicationEngine> {
    const engine = new ReplicationEngine(options);
    const { restored, damaged, stale } = await engine.tokens.load();
    engine.logger.info(
      { replicas: engine.replicas.length, peers: engine.loops.length, restored, damaged, stale },
      'replication engine ready',
    );
    return engine;
  }

  /** Peers this node pulls from, as `host:port`, with their class. */
  peers(): { peer: string; peerClass: PeerClass; partitions: number[] }[] {
    return this.loops.map((loop) => ({
      peer: loop.peer.key,
      peerClass: loop.peerClass,
      partitions: loop.replicas.map((r) => r.partitionId),
    }));
  }

  get started(): boolean {
    return this.abort !== undefined;
  }

  /** Starts a loop per peer (idempotent). Rounds of each class share that class's concurrency limit. */
  start(): void {
    if (this.abort !== undefined) return;
    const abort = new AbortController();
    setMaxListeners(MAX_SIGNAL_LISTENERS, abort.signal); // one per request in flight
    this.abort = abort;
    this.running = this.loops.map((loop) => loop.run(abort.signal));
    if (this.config.tokenFlushIntervalMs > 0) {
      this.flushTimer = setInterval(() => {
        if (this.tokens.pending) void this.tokens.flush();
      }, this.config.tokenFlushIntervalMs);
      this.flushTimer.unref();
    }
  }

  /** Stops every loop (a request in flight is aborted, its partition's token stays), then flushes tokens. */
  async stop(): Promise<void> {
    const abort = this.abort;
    if (abort !== undefined) {
      abort.abort();
      clearInterval(this.flushTimer);
      await Promise.all(this.running);
      this.running = [];
      this.abort = undefined;
    }
    await this.tokens.flush();
  }

  /**
   * One round for every peer (each class within its concurrency limit), outside of `start`: for tests,
   * tools and a bootstrap that wants to wait. Returns each peer's outcome.
   */
  async runRound(signal?: AbortSignal): Promise<Map<string, RoundOutcome>> {
    if (signal === undefined) {
      signal = new AbortController().signal;
      setMaxListeners(MAX_SIGNAL_LISTENERS, signal);
    }
    const outcomes = await Promise.all(this.loops.map((loop) => loop.round(signal)));
    return new Map(this.loops.map((loop, i) => [loop.peer.key, outcomes[i]!]));
  }

  /**
   * Rounds until every (partition, peer) pair is caught up or `maxRounds` ran; flushes tokens. Resolves
   * with whether everything caught up (a dead peer keeps its pairs behind; the others still catch up).
   */
  async catchUp(options: { maxRounds?: number; signal?: AbortSignal } = {}): Promise<boolean> {
    const maxRounds = options.maxRounds ?? 1000;
    let done = this.caughtUp();
    for (let round = 0; round < maxRounds && !done && options.signal?.aborted !== true; round++) {
      await this.runRound(options.signal);
      // Log copies run beside the rounds: wait for them, or the rounds would spin past them.
      await Promise.all(this.loops.map((loop) => loop.copiesIdle()));
      done = this.caughtUp();
    }
    await this.tokens.flush();
    return done;
  }

  /**
   * The local replica of the partition is being rebuilt from a peer's log (the copy has received
   * records and not ended): a write from a client would end the copy, so the data node refuses them
   * meanwhile. False while a copy waits for its slot or its first answer, and for a new cluster's
   * empty replicas, whose peers have nothing to copy.
   */
  rebuilding(partitionId: number): boolean {
    return this.logCopy.rebuilding(partitionId);
  }

  /** Every (partition, peer) pair reached its peer's log end with everything applied. */
  caughtUp(): boolean {
    return this.replicas.every((r) => r.caughtUp);
  }

  /** Lag per (partition, peer), most lagging first. */
  lag(): ReplicaLag[] {
    return this.replicas
      .map((r) => ({
        partitionId: r.partitionId,
        peer: r.peerKey,
        datacenter: r.peer.datacenter,
        peerClass: r.peerClass,
        lagBytes: r.lagBytes,
        caughtUp: r.caughtUp,
        problem: r.problem,
      }))
      .sort(
        (a, b) => (b.lagBytes ?? Number.POSITIVE_INFINITY) - (a.lagBytes ?? Number.POSITIVE_INFINITY) || 0,
      );
  }

  /** Pairs whose last attempt did not complete, with the reason. */
  problems(): ReplicaLag[] {
    return this.lag().filter((r) => r.problem !== undefined);
  }

  /** A copy of the counters. */
  metrics(): ReplicationMetrics {
    return {
      intraDc: { ...this.counters.intraDc },
      interDc: { ...this.counters.interDc },
      tokenFlushes: this.tokens.flushes,
      tokenFlushErrors: this.tokens.flushErrors,
    };
  }

  /** Writes the token files whose tokens moved (also done on a timer while started, and by stop). */
  flushTokens(): Promise<void> {
    return this.tokens.flush();
  }

  private tokenMoved(replica: RemoteReplica): void {
    this.tokens.markDirty(replica);
    if (this.config.tokenFlushIntervalMs === 0) void this.tokens.flush();
  }
}

/** Every (local replica, peer replica) pair of this node, from the cluster map. */
function remoteReplicas(clusterMap: ClusterMap, local: DataNode): RemoteReplica[] {
  const pairs: RemoteReplica[] = [];
  for (const mine of clusterMap.replicasOnNode(local.key)) {
    for (const theirs of clusterMap.replicas(mine.partitionId)) {
      if (theirs.node.key === local.key) continue;
      pairs.push({
        partitionId: mine.partitionId,
        peer: theirs.node,
        peerKey: theirs.node.key,
        peerClass: theirs.node.datacenter === local.datacenter ? 'intraDc' : 'interDc',
        localDisk: mine.disk,
        token: new Uint8Array(0),
        localIncarnation: '',
        lagBytes: undefined,
        caughtUp: false,
        lastPolled: 0,
        problem: undefined,
      });
    }
  }
  return pairs;
}
