/**
 * Generates hardware.json and partitions.json for a regular cluster shape: every datacenter has the
 * same nodes, disks and racks, and every partition has the same number of replicas in each
 * datacenter. Deterministic: the same options always give the same files (no randomness involved).
 */
import { ImpossibleShapeError } from './errors.js';
import { placeReplicas, rackOfNode } from './placement.js';
import {
  type HardwareFile,
  MAX_DATACENTER_ID,
  MAX_PARTITION_ID,
  type PartitionSpec,
  type PartitionsFile,
  type ReplicaSpec,
} from './schema.js';

export interface GenerateOptions {
  /** Datacenter names; datacenter i gets id i. */
  datacenters: readonly string[];
  nodesPerDc: number;
  disksPerNode: number;
  /** Default: one rack per node. */
  racksPerDc?: number;
  partitions: number;
  replicasPerDc: number;
  /** Default `ambry`. */
  clusterName?: string;
  /** Every node gets this host; default 127.0.0.1. */
  host?: string;
  /** Nodes get ports basePort, basePort + 1, ... across the whole cluster; default 6667. */
  basePort?: number;
  /** adminPort = port + adminPortOffset; default 1000. */
  adminPortOffset?: number;
  /** Default 1 TiB. */
  diskCapacityBytes?: number;
  /** Default 16 GiB. */
  replicaCapacityBytes?: number;
  /** Disk k of the node on port P is mounted at `${prefix}/${P}/disk${k}`; default /var/lib/ambry. */
  mountPathPrefix?: string;
  /** Default 0. */
  firstPartitionId?: number;
}

export interface GeneratedLayout {
  readonly hardware: HardwareFile;
  readonly partitions: PartitionsFile;
}

export const GENERATOR_DEFAULTS = {
  clusterName: 'ambry',
  host: '127.0.0.1',
  basePort: 6667,
  adminPortOffset: 1000,
  diskCapacityBytes: 2 ** 40,
  replicaCapacityBytes: 16 * 2 ** 30,
  mountPathPrefix: '/var/lib/ambry',
  firstPartitionId: 0,
} as const;

function requireInt(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ImpossibleShapeError(`${name} must be an integer in ${min}..${max}, got ${value}`);
  }
}

export function generateLayout(options: GenerateOptions): GeneratedLayout {
  const o = { ...GENERATOR_DEFAULTS, racksPerDc: options.nodesPerDc, ...withoutUndefined(options) };
  const dcCount = o.datacenters.length;
  if (dcCount === 0) throw new ImpossibleShapeError('at least one datacenter is needed');
  if (dcCount > MAX_DATACENTER_ID + 1) {
    throw new ImpossibleShapeError(
      `at most ${MAX_DATACENTER_ID + 1} datacenters fit in a blob id, got ${dcCount}`,
    );
  }
  if (new Set(o.datacenters).size !== dcCount)
    throw new ImpossibleShapeError('datacenter names must be unique');
  if (o.datacenters.some((name) => name === ''))
    throw new ImpossibleShapeError('datacenter names must not be empty');
  if (o.clusterName === '') throw new ImpossibleShapeError('the cluster name must not be empty');
  requireInt('nodes per datacenter', o.nodesPerDc, 1);
  requireInt('disks per node', o.disksPerNode, 1);
  requireInt('racks per datacenter', o.racksPerDc, 1);
  requireInt('replicas per datacenter', o.replicasPerDc, 1);
  requireInt('partitions', o.partitions, 0);
  requireInt('first partition id', o.firstPartitionId, 0);
  requireInt('disk capacity', o.diskCapacityBytes, 1);
  requireInt('replica capacity', o.replicaCapacityBytes, 1);
  if (o.replicasPerDc > o.nodesPerDc) {
    throw new ImpossibleShapeError(
      `replicas per datacenter (${o.replicasPerDc}) cannot exceed nodes per datacenter (${o.nodesPerDc}): two replicas of a partition would share a node`,
    );
  }
  if (o.racksPerDc > o.nodesPerDc) {
    throw new ImpossibleShapeError(
      `racks per datacenter (${o.racksPerDc}) cannot exceed nodes per datacenter (${o.nodesPerDc}): a rack would be empty`,
    );
  }
  if (o.firstPartitionId + o.partitions - 1 > MAX_PARTITION_ID) {
    throw new ImpossibleShapeError(`partition ids must stay within ${MAX_PARTITION_ID}`);
  }
  const totalNodes = dcCount * o.nodesPerDc;
  requireInt('base port', o.basePort, 1, 65_536 - totalNodes);
  requireInt('admin port offset', o.adminPortOffset, -o.basePort + 1, 65_535 - (o.basePort + totalNodes - 1));
  if (Math.abs(o.adminPortOffset) < totalNodes) {
    throw new ImpossibleShapeError(
      `admin port offset ${o.adminPortOffset} makes admin ports collide with the ${totalNodes} data ports; use at least ${totalNodes}`,
    );
  }
  const shape = {
    nodes: o.nodesPerDc,
    disksPerNode: o.disksPerNode,
    racks: o.racksPerDc,
    replicas: o.replicasPerDc,
    partitions: o.partitions,
  };
  const port = (dc: number, node: number) => o.basePort + dc * o.nodesPerDc + node;
  const mountPath = (dc: number, node: number, disk: number) =>
    `${o.mountPathPrefix}/${port(dc, node)}/disk${disk}`;

  const hardware: HardwareFile = {
    clusterName: o.clusterName,
    version: 1,
    datacenters: o.datacenters.map((name, d) => ({
      name,
      id: d,
      nodes: Array.from({ length: o.nodesPerDc }, (_, n) => ({
        host: o.host,
        port: port(d, n),
        adminPort: port(d, n) + o.adminPortOffset,
        rack: `rack${rackOfNode(n, o.racksPerDc)}`,
        disks: Array.from({ length: o.disksPerNode }, (_, k) => ({
          mountPath: mountPath(d, n, k),
          capacityBytes: o.diskCapacityBytes,
        })),
      })),
    })),
  };

  // Every datacenter has the same shape, so one placement serves all of them.
  const placement = placeReplicas(shape);
  const perDisk = new Map<string, number>();
  for (const slot of placement.flat()) {
    const key = `${slot.node}/${slot.disk}`;
    perDisk.set(key, (perDisk.get(key) ?? 0) + 1);
  }
  const maxPerDisk = Math.max(0, ...perDisk.values());
  if (maxPerDisk * o.replicaCapacityBytes > o.diskCapacityBytes) {
    throw new ImpossibleShapeError(
      `up to ${maxPerDisk} replicas of ${o.replicaCapacityBytes} bytes per disk do not fit a disk of ${o.diskCapacityBytes} bytes`,
    );
  }
  const partitions: PartitionSpec[] = placement.map((slotsOfPartition, p) => ({
    id: o.firstPartitionId + p,
    state: 'read-write',
    replicaCapacityBytes: o.replicaCapacityBytes,
    replicas: o.datacenters.flatMap((_, d) =>
      slotsOfPartition.map(
        (slot): ReplicaSpec => ({
          host: o.host,
          port: port(d, slot.node),
          mountPath: mountPath(d, slot.node, slot.disk),
        }),
      ),
    ),
  }));
  return { hardware, partitions: { clusterName: o.clusterName, version: 1, partitions } };
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
