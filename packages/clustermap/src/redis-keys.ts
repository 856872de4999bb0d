/**
 * Every Redis key and the pub/sub channel of one cluster, all under the prefix `ambry:<cluster>:`
 * (docs/formats.md section 8.4). Hash fields are built from layout entities, never parsed back.
 */
import type { DiskState, NodeState, PartitionState, ReplicaState } from './states.js';

export function redisPrefix(cluster: string): string {
  return `ambry:${cluster}:`;
}

export function redisKeys(cluster: string) {
  const p = redisPrefix(cluster);
  return {
    /** String: hardware.json as JSON. */
    hardware: `${p}layout:hardware`,
    /** String: partitions.json as JSON. */
    partitions: `${p}layout:partitions`,
    /** Integer: raised on every layout change (push, add-partitions). */
    layoutVersion: `${p}layout:version`,
    /** Hash: node key -> `down` / `maintenance` (absent: up). */
    nodeStates: `${p}state:nodes`,
    /** Hash: JSON `[nodeKey, mountPath]` -> `failed` (absent: available). */
    diskStates: `${p}state:disks`,
    /** Hash: `<partitionId>@<nodeKey>` -> JSON `{"sealed":bool,"stopped":bool}` (absent: healthy). */
    replicaStates: `${p}state:replicas`,
    /** Hash: partition id -> `read-write` / `read-only` (absent: as in partitions.json). */
    partitionStates: `${p}state:partitions`,
    /** Set: node keys that have ever sent a heartbeat (only those are judged by liveness). */
    heartbeatNodes: `${p}heartbeat-nodes`,
    /** String with expiry: present while the node is alive. */
    heartbeat: (node: string) => `${p}heartbeat:${node}`,
    /** Pub/sub channel carrying RedisMessage JSON. */
    channel: `${p}events`,
  };
}

export type RedisKeys = ReturnType<typeof redisKeys>;

export function diskField(node: string, mountPath: string): string {
  return JSON.stringify([node, mountPath]);
}

export function replicaField(partitionId: number, node: string): string {
  return `${partitionId}@${node}`;
}

/** What is published on the channel after every change; `origin` identifies the sending process. */
export type RedisMessage =
  | { readonly origin: string; readonly kind: 'node'; readonly node: string; readonly state: NodeState }
  | {
      readonly origin: string;
      readonly kind: 'disk';
      readonly node: string;
      readonly mountPath: string;
      readonly state: DiskState;
    }
  | {
      readonly origin: string;
      readonly kind: 'replica';
      readonly partitionId: number;
      readonly node: string;
      readonly state: ReplicaState;
    }
  | {
      readonly origin: string;
      readonly kind: 'partition';
      readonly partitionId: number;
      readonly state: PartitionState;
    }
  | { readonly origin: string; readonly kind: 'layout'; readonly version: number };

/** Parses a channel message; anything malformed gives undefined (and is ignored by receivers). */
export function parseRedisMessage(text: string): RedisMessage | undefined {
  try {
    const value = JSON.parse(text) as RedisMessage;
    if (typeof value !== 'object' || value === null || typeof value.kind !== 'string') return undefined;
    return value;
  } catch {
    return undefined;
  }
}
