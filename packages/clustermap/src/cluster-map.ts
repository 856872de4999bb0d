/**
 * The contract every backend (static files today, Redis later) fulfils. Queries are synchronous and
 * answered from an in-process snapshot, because the router asks them on every request; a backend
 * that learns changes from elsewhere applies them to that snapshot and notifies subscribers.
 */
import type { ClusterLayout, Datacenter, DataNode, Partition, Replica } from './layout.js';
import type { NodeRef } from './node-key.js';
import type { ClusterMapListener, DiskState, NodeState, PartitionState, ReplicaState } from './states.js';

export interface ClusterMap {
  readonly layout: ClusterLayout;
  /** The datacenter this process runs in, chosen at construction. */
  readonly localDatacenter: Datacenter;
  /** Healthy local replicas a partition needs to be writable (see `writablePartitions`). */
  readonly minWritableReplicas: number;

  datacenterById(id: number): Datacenter | undefined;
  datacenterByName(name: string): Datacenter | undefined;
  node(ref: NodeRef): DataNode | undefined;
  partition(id: number): Partition | undefined;
  /** Every partition, by id. */
  partitions(): readonly Partition[];
  /** Replicas of a partition: local datacenter first, then the others in layout order. */
  replicas(partitionId: number): readonly Replica[];
  /** Replicas hosted by a node (data-node start-up, replication peers). */
  replicasOnNode(ref: NodeRef): readonly Replica[];
  /**
   * Partitions a PUT may choose: state read-write and at least `min(minWritableReplicas, local
   * replicas)` healthy local replicas (node up, disk available, replica neither sealed nor stopped).
   * A partition with no local replica is never writable here.
   */
  writablePartitions(): readonly Partition[];
  isWritable(partitionId: number): boolean;
  /** Node up, disk available, replica neither sealed nor stopped. */
  isReplicaWritable(replica: Replica): boolean;
  /** Node up and disk available, replica not stopped (sealed replicas still serve reads). */
  isReplicaReadable(replica: Replica): boolean;

  nodeState(ref: NodeRef): NodeState;
  diskState(ref: NodeRef, mountPath: string): DiskState;
  replicaState(partitionId: number, ref: NodeRef): ReplicaState;
  partitionState(partitionId: number): PartitionState;

  /** Calls `listener` after every change; returns the function that unsubscribes. */
  subscribe(listener: ClusterMapListener): () => void;
}

/**
 * State changes, called by data nodes (seal states, disk failures), the router's failure detector
 * (node down/up) and operators. Each returns whether anything changed; a call that changes nothing
 * notifies nobody. Unknown nodes, disks, partitions or replicas throw UnknownEntityError.
 */
export interface ClusterStateUpdater {
  setNodeState(ref: NodeRef, state: NodeState): boolean;
  setDiskState(ref: NodeRef, mountPath: string, state: DiskState): boolean;
  setReplicaSealed(partitionId: number, ref: NodeRef, sealed: boolean): boolean;
  setReplicaStopped(partitionId: number, ref: NodeRef, stopped: boolean): boolean;
  setPartitionState(partitionId: number, state: PartitionState): boolean;
}

export interface MutableClusterMap extends ClusterMap, ClusterStateUpdater {}

export interface ClusterMapOptions {
  /** Name of the local datacenter; must exist in the layout. */
  localDatacenter: string;
  /** Default 3 (Ambry's), always capped by the partition's local replica count. */
  minWritableReplicas?: number;
  /** A throwing listener must not break the others or the caller; default: `process.emitWarning`. */
  onListenerError?: (error: unknown) => void;
}

export const DEFAULT_MIN_WRITABLE_REPLICAS = 3;
