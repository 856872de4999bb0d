/**
 * Dynamic states, layered on the static layout. They start healthy (nodes up, disks available,
 * replicas neither sealed nor stopped, partitions as written in partitions.json) and change as data
 * nodes report and failure detectors decide.
 */
import type { PartitionState } from './schema.js';

export type { PartitionState };

/** `maintenance`: taken out on purpose by an operator; treated like `down` for routing. */
export type NodeState = 'up' | 'down' | 'maintenance';

export type DiskState = 'available' | 'failed';

export interface ReplicaState {
  /** Read-only: the store passed its fullness threshold; reads and deletes still go there. */
  readonly sealed: boolean;
  /** Stopped by an operator or the data node: no requests at all. */
  readonly stopped: boolean;
}

export const NODE_STATES: readonly NodeState[] = ['up', 'down', 'maintenance'];
export const DISK_STATES: readonly DiskState[] = ['available', 'failed'];
export const PARTITION_STATES: readonly PartitionState[] = ['read-write', 'read-only'];

/** What a subscriber is told; `previous` and `state` always differ. */
export type ClusterMapEvent =
  | {
      readonly type: 'node-state';
      readonly node: string;
      readonly previous: NodeState;
      readonly state: NodeState;
    }
  | {
      readonly type: 'disk-state';
      readonly node: string;
      readonly mountPath: string;
      readonly previous: DiskState;
      readonly state: DiskState;
    }
  | {
      readonly type: 'replica-state';
      readonly partitionId: number;
      readonly node: string;
      readonly previous: ReplicaState;
      readonly state: ReplicaState;
    }
  | {
      readonly type: 'partition-state';
      readonly partitionId: number;
      readonly previous: PartitionState;
      readonly state: PartitionState;
    }
  | {
      /**
       * The layout itself changed (a backend that can change it at run time, e.g. RedisClusterMap after
       * add-partitions): query again. States carried over are not reported again.
       */
      readonly type: 'layout-replaced';
      readonly previousVersion: number;
      readonly version: number;
    };

export type ClusterMapListener = (event: ClusterMapEvent) => void;
