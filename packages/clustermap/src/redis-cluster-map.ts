/**
 * The Redis backend. Layout and dynamic states live under `ambry:<cluster>:` (docs/formats.md 8.4);
 * queries are answered by an InProcessClusterMap snapshot, so they behave (and notify) exactly like
 * the static backend and never touch the network. Every change made through a setter is applied
 * locally, written to Redis and published; every other process applies it through the same setters.
 *
 * When Redis is unreachable the snapshot keeps serving; local changes wait in a queue (last change per
 * entity) and are written when Redis returns, then all states are read again (resync).
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { AddPartitionsOptions } from './add-partitions.js';
import type { ClusterMapOptions, MutableClusterMap } from './cluster-map.js';
import { UnknownEntityError } from './errors.js';
import { expiredHeartbeats, type Heartbeat, type HeartbeatOptions, startHeartbeat } from './heartbeat.js';
import { InProcessClusterMap } from './in-process-cluster-map.js';
import type { ClusterLayout, Datacenter, DataNode, Partition, Replica } from './layout.js';
import { ListenerSet } from './listeners.js';
import { type ClusterMapLogger, SILENT_LOGGER } from './logger.js';
import { type NodeRef, nodeRefKey } from './node-key.js';
import { closeRedis, connectRedis, redactUrl } from './redis-connection.js';
import {
  diskField,
  parseRedisMessage,
  type RedisKeys,
  type RedisMessage,
  redisKeys,
  replicaField,
} from './redis-keys.js';
import { addPartitionsInRedis, readLayout, type StoredLayout } from './redis-layout.js';
import { RedisWriteQueue } from './redis-write-queue.js';
import type {
  ClusterMapEvent,
  ClusterMapListener,
  DiskState,
  NodeState,
  PartitionState,
  ReplicaState,
} from './states.js';

export interface RedisClusterMapOptions extends ClusterMapOptions {
  /** e.g. `redis://127.0.0.1:6379/0`. */
  url: string;
  clusterName: string;
  /** pino or anything with info/warn/error(obj, msg); default silent. */
  logger?: ClusterMapLogger;
  /** How often heartbeat keys are checked for expiry; default 500 ms (0: never). */
  livenessIntervalMs?: number;
  /** Time allowed for the first connection; default 5000 ms. */
  connectTimeoutMs?: number;
}

interface Snapshot {
  readonly nodes: Record<string, string>;
  readonly disks: Record<string, string>;
  readonly replicas: Record<string, string>;
  readonly partitions: Record<string, string>;
}

export class RedisClusterMap implements MutableClusterMap {
  readonly clusterName: string;
  readonly #options: RedisClusterMapOptions;
  readonly #keys: RedisKeys;
  readonly #logger: ClusterMapLogger;
  readonly #client: Redis;
  readonly #subscriber: Redis;
  readonly #origin = randomUUID();
  readonly #listeners: ListenerSet;
  /** Node states set through setters (operator, failure detector), before liveness. */
  readonly #storedNodeStates = new Map<string, NodeState>();
  /** Nodes whose heartbeat key expired. */
  #expired = new Set<string>();
  readonly #writes: RedisWriteQueue;
  readonly #heartbeats = new Set<Heartbeat>();
  #inner: InProcessClusterMap;
  #unsubscribeInner: () => void;
  #layoutVersion: number;
  #online = true;
  #closed = false;
  #syncing: Promise<void> = Promise.resolve();
  #livenessTimer: NodeJS.Timeout | undefined;

  private constructor(
    stored: StoredLayout,
    client: Redis,
    subscriber: Redis,
    options: RedisClusterMapOptions,
  ) {
    this.clusterName = options.clusterName;
    this.#options = options;
    this.#keys = redisKeys(options.clusterName);
    this.#logger = options.logger ?? SILENT_LOGGER;
    this.#client = client;
    this.#subscriber = subscriber;
    this.#listeners = new ListenerSet(options.onListenerError);
    this.#writes = new RedisWriteQueue(client, this.#keys.channel, this.#logger, options.clusterName);
    this.#inner = new InProcessClusterMap(stored.layout, options);
    this.#unsubscribeInner = this.#inner.subscribe((event) => this.#emit(event));
    this.#layoutVersion = stored.version;
  }

  /** Loads the layout and every state from Redis and subscribes to changes. */
  static async connect(options: RedisClusterMapOptions): Promise<RedisClusterMap> {
    const connectOptions = { connectTimeoutMs: options.connectTimeoutMs ?? 5000 };
    const client = await connectRedis(options.url, connectOptions);
    let subscriber: Redis | undefined;
    try {
      const stored = await readLayout(client, options.clusterName);
      subscriber = await connectRedis(options.url, connectOptions);
      const map = new RedisClusterMap(stored, client, subscriber, options);
      await map.#start();
      return map;
    } catch (error) {
      client.disconnect();
      subscriber?.disconnect();
      throw error;
    }
  }

  async #start(): Promise<void> {
    this.#subscriber.on('message', (_channel: string, text: string) => this.#onMessage(text));
    await this.#subscriber.subscribe(this.#keys.channel);
    // Subscribed first, so no change falls between the read and the subscription.
    await this.#applySnapshot(await this.#readSnapshot());
    await this.#checkLiveness();
    for (const client of [this.#client, this.#subscriber]) {
      client.on('close', () => this.#wentOffline());
      client.on('ready', () => this.#cameBack());
    }
    const interval = this.#options.livenessIntervalMs ?? 500;
    if (interval > 0) {
      this.#livenessTimer = setInterval(() => void this.#checkLiveness().catch(() => {}), interval);
      this.#livenessTimer.unref();
    }
  }

  // ---- queries: the snapshot answers ----

  get layout(): ClusterLayout {
    return this.#inner.layout;
  }
  get localDatacenter(): Datacenter {
    return this.#inner.localDatacenter;
  }
  get minWritableReplicas(): number {
    return this.#inner.minWritableReplicas;
  }
  /** Value of `layout:version` for the layout being served. */
  get layoutVersion(): number {
    return this.#layoutVersion;
  }
  /** False while Redis is unreachable (the last known map is served meanwhile). */
  get online(): boolean {
    return this.#online;
  }
  datacenterById(id: number): Datacenter | undefined {
    return this.#inner.datacenterById(id);
  }
  datacenterByName(name: string): Datacenter | undefined {
    return this.#inner.datacenterByName(name);
  }
  node(ref: NodeRef): DataNode | undefined {
    return this.#inner.node(ref);
  }
  partition(id: number): Partition | undefined {
    return this.#inner.partition(id);
  }
  partitions(): readonly Partition[] {
    return this.#inner.partitions();
  }
  replicas(partitionId: number): readonly Replica[] {
    return this.#inner.replicas(partitionId);
  }
  replicasOnNode(ref: NodeRef): readonly Replica[] {
    return this.#inner.replicasOnNode(ref);
  }
  writablePartitions(): readonly Partition[] {
    return this.#inner.writablePartitions();
  }
  isWritable(partitionId: number): boolean {
    return this.#inner.isWritable(partitionId);
  }
  isReplicaWritable(replica: Replica): boolean {
    return this.#inner.isReplicaWritable(replica);
  }
  isReplicaReadable(replica: Replica): boolean {
    return this.#inner.isReplicaReadable(replica);
  }
  nodeState(ref: NodeRef): NodeState {
    return this.#inner.nodeState(ref);
  }
  diskState(ref: NodeRef, mountPath: string): DiskState {
    return this.#inner.diskState(ref, mountPath);
  }
  replicaState(partitionId: number, ref: NodeRef): ReplicaState {
    return this.#inner.replicaState(partitionId, ref);
  }
  partitionState(partitionId: number): PartitionState {
    return this.#inner.partitionState(partitionId);
  }

  subscribe(listener: ClusterMapListener): () => void {
    return this.#listeners.subscribe(listener);
  }

  // ---- setters: local snapshot, then Redis + publish ----

  /**
   * Sets the operator / failure-detector state of a node. `maintenance` and `down` win over liveness;
   * `up` leaves the node to its heartbeat (down while its heartbeat key is expired).
   */
  setNodeState(ref: NodeRef, state: NodeState): boolean {
    const node = this.#requireNode(ref);
    const previous = this.#storedNodeStates.get(node.key) ?? 'up';
    if (previous === state) return false;
    this.#storeNodeState(node.key, state);
    this.#writes.enqueue(`node ${node.key}`, (m) => {
      if (state === 'up') m.hdel(this.#keys.nodeStates, node.key);
      else m.hset(this.#keys.nodeStates, node.key, state);
      return { origin: this.#origin, kind: 'node', node: node.key, state };
    });
    return true;
  }

  setDiskState(ref: NodeRef, mountPath: string, state: DiskState): boolean {
    if (!this.#inner.setDiskState(ref, mountPath, state)) return false;
    const node = nodeRefKey(ref);
    const field = diskField(node, mountPath);
    this.#writes.enqueue(`disk ${field}`, (m) => {
      if (state === 'available') m.hdel(this.#keys.diskStates, field);
      else m.hset(this.#keys.diskStates, field, state);
      return { origin: this.#origin, kind: 'disk', node, mountPath, state };
    });
    return true;
  }

  setReplicaSealed(partitionId: number, ref: NodeRef, sealed: boolean): boolean {
    if (!this.#inner.setReplicaSealed(partitionId, ref, sealed)) return false;
    this.#persistReplica(partitionId, nodeRefKey(ref));
    return true;
  }

  setReplicaStopped(partitionId: number, ref: NodeRef, stopped: boolean): boolean {
    if (!this.#inner.setReplicaStopped(partitionId, ref, stopped)) return false;
    this.#persistReplica(partitionId, nodeRefKey(ref));
    return true;
  }

  setPartitionState(partitionId: number, state: PartitionState): boolean {
    if (!this.#inner.setPartitionState(partitionId, state)) return false;
    const initial = this.#inner.partition(partitionId)?.state;
    this.#writes.enqueue(`partition ${partitionId}`, (m) => {
      if (state === initial) m.hdel(this.#keys.partitionStates, String(partitionId));
      else m.hset(this.#keys.partitionStates, String(partitionId), state);
      return { origin: this.#origin, kind: 'partition', partitionId, state };
    });
    return true;
  }

  /**
   * Starts refreshing this node's heartbeat key (a data node calls it for itself). Stopped by the
   * returned handle or by close().
   */
  startHeartbeat(ref: NodeRef, options: HeartbeatOptions = {}): Heartbeat {
    const node = this.#requireNode(ref);
    const heartbeat = startHeartbeat(this.#client, this.clusterName, node.key, options);
    this.#heartbeats.add(heartbeat);
    return {
      stop: async (stopOptions) => {
        this.#heartbeats.delete(heartbeat);
        await heartbeat.stop(stopOptions);
      },
    };
  }

  /**
   * Adds partitions (placed rack-aware on the current hardware), stores the new layout with a version
   * bump and publishes it; this map serves it when the promise resolves, others shortly after.
   */
  async addPartitions(options: AddPartitionsOptions): Promise<readonly Partition[]> {
    const stored = await addPartitionsInRedis(this.#options.url, this.clusterName, options, this.#origin);
    await this.#replaceLayout(stored);
    const ids = new Set(stored.partitions.partitions.slice(-options.count).map((p) => p.id));
    return this.partitions().filter((p) => ids.has(p.id));
  }

  /** Resolves when every local change made so far is in Redis (waits while Redis is unreachable). */
  async settled(): Promise<void> {
    while (this.#writes.size > 0 && !this.#closed) {
      await this.#writes.flush();
      if (this.#writes.size > 0) await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Reads every state (and the layout, if its version moved) from Redis again. */
  resync(): Promise<void> {
    this.#syncing = this.#syncing.then(async () => {
      const stored = await this.#client.get(this.#keys.layoutVersion);
      if (stored === null) {
        // Redis came back empty (no persistence): keep serving what we know rather than nothing.
        this.#logger.warn(
          { cluster: this.clusterName },
          'redis holds no layout for this cluster: keeping the last known map',
        );
        return;
      }
      if (Number(stored) !== this.#layoutVersion) {
        await this.#replaceLayout(await readLayout(this.#client, this.clusterName));
      }
      await this.#applySnapshot(await this.#readSnapshot());
      await this.#checkLiveness();
    });
    const result = this.#syncing;
    this.#syncing = result.catch(() => {});
    return result;
  }

  /** Stops heartbeats and timers, writes pending changes if Redis is reachable, and disconnects. */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#livenessTimer) clearInterval(this.#livenessTimer);
    await Promise.all([...this.#heartbeats].map((h) => h.stop()));
    if (this.#client.status === 'ready') await this.#writes.flush();
    this.#closed = true;
    this.#unsubscribeInner();
    await Promise.all([closeRedis(this.#subscriber), closeRedis(this.#client)]);
  }

  // ---- internals ----

  #requireNode(ref: NodeRef): DataNode {
    const node = this.#inner.node(ref);
    if (!node) throw new UnknownEntityError('node', nodeRefKey(ref));
    return node;
  }

  #effectiveNodeState(node: string): NodeState {
    const stored = this.#storedNodeStates.get(node) ?? 'up';
    if (stored !== 'up') return stored;
    return this.#expired.has(node) ? 'down' : 'up';
  }

  #storeNodeState(node: string, state: NodeState): void {
    if (state === 'up') this.#storedNodeStates.delete(node);
    else this.#storedNodeStates.set(node, state);
    this.#inner.setNodeState(node, this.#effectiveNodeState(node));
  }

  #persistReplica(partitionId: number, node: string): void {
    const field = replicaField(partitionId, node);
    this.#writes.enqueue(`replica ${field}`, (m) => {
      const state = this.#inner.replicaState(partitionId, node);
      if (!state.sealed && !state.stopped) m.hdel(this.#keys.replicaStates, field);
      else m.hset(this.#keys.replicaStates, field, JSON.stringify(state));
      return { origin: this.#origin, kind: 'replica', partitionId, node, state };
    });
  }

  #wentOffline(): void {
    if (this.#closed || !this.#online) return;
    this.#online = false;
    this.#logger.warn(
      { cluster: this.clusterName, url: redactUrl(this.#options.url) },
      'redis unreachable: serving the last known cluster map until it returns',
    );
  }

  #cameBack(): void {
    if (this.#closed || this.#online) return;
    if (this.#client.status !== 'ready' || this.#subscriber.status !== 'ready') return;
    this.#online = true;
    this.#logger.info({ cluster: this.clusterName }, 'redis reachable again: resyncing the cluster map');
    void (async () => {
      try {
        await this.#writes.flush();
        await this.resync();
      } catch (error) {
        this.#logger.warn({ err: error, cluster: this.clusterName }, 'cluster map resync failed');
      }
    })();
  }

  async #readSnapshot(): Promise<Snapshot> {
    const k = this.#keys;
    const results = await this.#client
      .multi()
      .hgetall(k.nodeStates)
      .hgetall(k.diskStates)
      .hgetall(k.replicaStates)
      .hgetall(k.partitionStates)
      .exec();
    const get = (i: number) => (results?.[i]?.[1] ?? {}) as Record<string, string>;
    return { nodes: get(0), disks: get(1), replicas: get(2), partitions: get(3) };
  }

  /** Brings every state to the snapshot through the setters (so only real changes notify). */
  async #applySnapshot(snapshot: Snapshot): Promise<void> {
    const inner = this.#inner;
    for (const node of inner.layout.nodes) {
      // A local change not yet written wins over what Redis still holds.
      if (!this.#writes.has(`node ${node.key}`)) {
        this.#storeNodeState(node.key, (snapshot.nodes[node.key] as NodeState | undefined) ?? 'up');
      }
      for (const disk of node.disks) {
        const field = diskField(node.key, disk.mountPath);
        if (this.#writes.has(`disk ${field}`)) continue;
        inner.setDiskState(
          node.key,
          disk.mountPath,
          (snapshot.disks[field] as DiskState | undefined) ?? 'available',
        );
      }
    }
    for (const partition of inner.layout.partitions) {
      if (!this.#writes.has(`partition ${partition.id}`)) {
        inner.setPartitionState(
          partition.id,
          (snapshot.partitions[String(partition.id)] as PartitionState | undefined) ?? partition.state,
        );
      }
      for (const replica of partition.replicas) {
        const field = replicaField(partition.id, replica.node.key);
        if (this.#writes.has(`replica ${field}`)) continue;
        const text = snapshot.replicas[field];
        const state = text ? (JSON.parse(text) as ReplicaState) : { sealed: false, stopped: false };
        inner.setReplicaSealed(partition.id, replica.node.key, state.sealed === true);
        inner.setReplicaStopped(partition.id, replica.node.key, state.stopped === true);
      }
    }
  }

  async #checkLiveness(): Promise<void> {
    if (this.#closed || this.#client.status !== 'ready') return;
    const expired = await expiredHeartbeats(this.#client, this.clusterName);
    const changed = new Set(
      [...expired, ...this.#expired].filter((n) => expired.has(n) !== this.#expired.has(n)),
    );
    this.#expired = expired;
    for (const node of changed) {
      if (this.#inner.node(node)) this.#inner.setNodeState(node, this.#effectiveNodeState(node));
    }
  }

  #onMessage(text: string): void {
    const message = parseRedisMessage(text);
    if (!message || this.#closed) return;
    if (message.kind === 'layout') {
      if (message.version !== this.#layoutVersion)
        void this.resync().catch((error) => this.#warnApply(error));
      return;
    }
    if (message.origin === this.#origin) return;
    try {
      this.#apply(message);
    } catch (error) {
      this.#warnApply(error);
    }
  }

  #apply(message: Exclude<RedisMessage, { kind: 'layout' }>): void {
    switch (message.kind) {
      case 'node':
        this.#requireNode(message.node);
        this.#storeNodeState(message.node, message.state);
        break;
      case 'disk':
        this.#inner.setDiskState(message.node, message.mountPath, message.state);
        break;
      case 'replica':
        this.#inner.setReplicaSealed(message.partitionId, message.node, message.state.sealed);
        this.#inner.setReplicaStopped(message.partitionId, message.node, message.state.stopped);
        break;
      case 'partition':
        this.#inner.setPartitionState(message.partitionId, message.state);
        break;
    }
  }

  #warnApply(error: unknown): void {
    this.#logger.warn(
      { err: error, cluster: this.clusterName },
      'cannot apply a cluster map change from redis',
    );
  }

  /** Swaps in a new layout, carrying over the states of everything that still exists. */
  async #replaceLayout(stored: StoredLayout): Promise<void> {
    if (stored.version === this.#layoutVersion) return;
    const old = this.#inner;
    const next = new InProcessClusterMap(stored.layout, this.#options);
    for (const node of next.layout.nodes) {
      if (!old.node(node.key)) continue;
      next.setNodeState(node.key, old.nodeState(node.key));
      for (const disk of node.disks) {
        if (old.node(node.key)?.disks.some((d) => d.mountPath === disk.mountPath)) {
          next.setDiskState(node.key, disk.mountPath, old.diskState(node.key, disk.mountPath));
        }
      }
    }
    for (const partition of next.layout.partitions) {
      const before = old.partition(partition.id);
      if (!before) continue;
      next.setPartitionState(partition.id, old.partitionState(partition.id));
      for (const replica of partition.replicas) {
        if (!before.replicas.some((r) => r.node.key === replica.node.key)) continue;
        const state = old.replicaState(partition.id, replica.node.key);
        next.setReplicaSealed(partition.id, replica.node.key, state.sealed);
        next.setReplicaStopped(partition.id, replica.node.key, state.stopped);
      }
    }
    this.#unsubscribeInner();
    this.#inner = next;
    this.#unsubscribeInner = next.subscribe((event) => this.#emit(event));
    const previousVersion = this.#layoutVersion;
    this.#layoutVersion = stored.version;
    this.#emit({ type: 'layout-replaced', previousVersion, version: stored.version });
  }

  #emit(event: ClusterMapEvent): void {
    this.#listeners.emit(event);
  }
}
