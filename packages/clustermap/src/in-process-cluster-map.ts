/**
 * A ClusterMap whose dynamic states live in this process. StaticClusterMap is exactly this; a Redis
 * backend can extend it, publishing local changes and applying remote ones through the same setters,
 * so queries and notifications behave the same whatever the backend.
 */
import {
  type ClusterMapOptions,
  DEFAULT_MIN_WRITABLE_REPLICAS,
  type MutableClusterMap,
} from './cluster-map.js';
import { ClusterMapError, UnknownEntityError } from './errors.js';
import type { ClusterLayout, Datacenter, DataNode, Disk, Partition, Replica } from './layout.js';
import { ListenerSet } from './listeners.js';
import { type NodeRef, nodeRefKey } from './node-key.js';
import type {
  ClusterMapEvent,
  ClusterMapListener,
  DiskState,
  NodeState,
  PartitionState,
  ReplicaState,
} from './states.js';

const HEALTHY_REPLICA: ReplicaState = Object.freeze({ sealed: false, stopped: false });

export class InProcessClusterMap implements MutableClusterMap {
  readonly layout: ClusterLayout;
  readonly localDatacenter: Datacenter;
  readonly minWritableReplicas: number;
  readonly #listeners: ListenerSet;
  // Only departures from the default state are stored.
  readonly #nodeStates = new Map<string, NodeState>();
  readonly #diskStates = new Map<Disk, DiskState>();
  readonly #replicaStates = new Map<Replica, ReplicaState>();
  readonly #partitionStates = new Map<number, PartitionState>();
  readonly #orderedReplicas = new Map<number, readonly Replica[]>();
  #writable: readonly Partition[] | undefined;

  constructor(layout: ClusterLayout, options: ClusterMapOptions) {
    this.layout = layout;
    const local = layout.datacenterByName(options.localDatacenter);
    if (!local) throw new UnknownEntityError('datacenter', options.localDatacenter);
    this.localDatacenter = local;
    const min = options.minWritableReplicas ?? DEFAULT_MIN_WRITABLE_REPLICAS;
    if (!Number.isInteger(min) || min < 1) {
      throw new ClusterMapError(`minWritableReplicas must be a positive integer, got ${min}`);
    }
    this.minWritableReplicas = min;
    this.#listeners = new ListenerSet(options.onListenerError);
  }

  datacenterById(id: number): Datacenter | undefined {
    return this.layout.datacenterById(id);
  }

  datacenterByName(name: string): Datacenter | undefined {
    return this.layout.datacenterByName(name);
  }

  node(ref: NodeRef): DataNode | undefined {
    return this.layout.node(nodeRefKey(ref));
  }

  partition(id: number): Partition | undefined {
    return this.layout.partition(id);
  }

  partitions(): readonly Partition[] {
    return this.layout.partitions;
  }

  replicas(partitionId: number): readonly Replica[] {
    const cached = this.#orderedReplicas.get(partitionId);
    if (cached) return cached;
    const partition = this.#partition(partitionId);
    const order = new Map(this.layout.datacenters.map((dc, i) => [dc.name, i]));
    const rank = (r: Replica) =>
      r.node.datacenter === this.localDatacenter.name ? -1 : order.get(r.node.datacenter)!;
    // Array.prototype.sort is stable, so replicas keep file order within a datacenter.
    const ordered = Object.freeze([...partition.replicas].sort((a, b) => rank(a) - rank(b)));
    this.#orderedReplicas.set(partitionId, ordered);
    return ordered;
  }

  replicasOnNode(ref: NodeRef): readonly Replica[] {
    return this.layout.replicasOnNode(this.#node(ref).key);
  }

  writablePartitions(): readonly Partition[] {
    this.#writable ??= Object.freeze(this.layout.partitions.filter((p) => this.#computeWritable(p)));
    return this.#writable;
  }

  isWritable(partitionId: number): boolean {
    return this.#computeWritable(this.#partition(partitionId));
  }

  isReplicaWritable(replica: Replica): boolean {
    const state = this.#replicaStates.get(replica) ?? HEALTHY_REPLICA;
    return this.isReplicaReadable(replica) && !state.sealed;
  }

  isReplicaReadable(replica: Replica): boolean {
    return (
      (this.#nodeStates.get(replica.node.key) ?? 'up') === 'up' &&
      (this.#diskStates.get(replica.disk) ?? 'available') === 'available' &&
      !(this.#replicaStates.get(replica) ?? HEALTHY_REPLICA).stopped
    );
  }

  nodeState(ref: NodeRef): NodeState {
    return this.#nodeStates.get(this.#node(ref).key) ?? 'up';
  }

  diskState(ref: NodeRef, mountPath: string): DiskState {
    return this.#diskStates.get(this.#disk(ref, mountPath)) ?? 'available';
  }

  replicaState(partitionId: number, ref: NodeRef): ReplicaState {
    return this.#replicaStates.get(this.#replica(partitionId, ref)) ?? HEALTHY_REPLICA;
  }

  partitionState(partitionId: number): PartitionState {
    return this.#partitionStates.get(partitionId) ?? this.#partition(partitionId).state;
  }

  subscribe(listener: ClusterMapListener): () => void {
    return this.#listeners.subscribe(listener);
  }

  setNodeState(ref: NodeRef, state: NodeState): boolean {
    const node = this.#node(ref);
    const previous = this.#nodeStates.get(node.key) ?? 'up';
    if (previous === state) return false;
    if (state === 'up') this.#nodeStates.delete(node.key);
    else this.#nodeStates.set(node.key, state);
    this.#emit({ type: 'node-state', node: node.key, previous, state });
    return true;
  }

  setDiskState(ref: NodeRef, mountPath: string, state: DiskState): boolean {
    const disk = this.#disk(ref, mountPath);
    const previous = this.#diskStates.get(disk) ?? 'available';
    if (previous === state) return false;
    if (state === 'available') this.#diskStates.delete(disk);
    else this.#diskStates.set(disk, state);
    this.#emit({ type: 'disk-state', node: disk.nodeKey, mountPath, previous, state });
    return true;
  }

  setReplicaSealed(partitionId: number, ref: NodeRef, sealed: boolean): boolean {
    return this.#updateReplica(partitionId, ref, (s) => ({ sealed, stopped: s.stopped }));
  }

  setReplicaStopped(partitionId: number, ref: NodeRef, stopped: boolean): boolean {
    return this.#updateReplica(partitionId, ref, (s) => ({ sealed: s.sealed, stopped }));
  }

  setPartitionState(partitionId: number, state: PartitionState): boolean {
    const partition = this.#partition(partitionId);
    const previous = this.#partitionStates.get(partitionId) ?? partition.state;
    if (previous === state) return false;
    if (state === partition.state) this.#partitionStates.delete(partitionId);
    else this.#partitionStates.set(partitionId, state);
    this.#emit({ type: 'partition-state', partitionId, previous, state });
    return true;
  }

  #updateReplica(partitionId: number, ref: NodeRef, change: (s: ReplicaState) => ReplicaState): boolean {
    const replica = this.#replica(partitionId, ref);
    const previous = this.#replicaStates.get(replica) ?? HEALTHY_REPLICA;
    const state = Object.freeze(change(previous));
    if (state.sealed === previous.sealed && state.stopped === previous.stopped) return false;
    if (!state.sealed && !state.stopped) this.#replicaStates.delete(replica);
    else this.#replicaStates.set(replica, state);
    this.#emit({ type: 'replica-state', partitionId, node: replica.node.key, previous, state });
    return true;
  }

  #emit(event: ClusterMapEvent): void {
    this.#writable = undefined;
    this.#listeners.emit(event);
  }

  #computeWritable(partition: Partition): boolean {
    if (this.partitionState(partition.id) !== 'read-write') return false;
    let local = 0;
    let healthy = 0;
    for (const replica of partition.replicas) {
      if (replica.node.datacenter !== this.localDatacenter.name) continue;
      local += 1;
      if (this.isReplicaWritable(replica)) healthy += 1;
    }
    return local > 0 && healthy >= Math.min(this.minWritableReplicas, local);
  }

  #partition(id: number): Partition {
    const partition = this.layout.partition(id);
    if (!partition) throw new UnknownEntityError('partition', String(id));
    return partition;
  }

  #node(ref: NodeRef): DataNode {
    const key = nodeRefKey(ref);
    const node = this.layout.node(key);
    if (!node) throw new UnknownEntityError('node', key);
    return node;
  }

  #disk(ref: NodeRef, mountPath: string): Disk {
    const node = this.#node(ref);
    const disk = node.disks.find((d) => d.mountPath === mountPath);
    if (!disk) throw new UnknownEntityError('disk', `${node.key}${mountPath}`);
    return disk;
  }

  #replica(partitionId: number, ref: NodeRef): Replica {
    const partition = this.#partition(partitionId);
    const key = nodeRefKey(ref);
    const replica = partition.replicas.find((r) => r.node.key === key);
    if (!replica) throw new UnknownEntityError('replica', `of partition ${partitionId} on ${key}`);
    return replica;
  }
}
