/**
 * New partitions for an existing layout, placed rack-aware like the generator's fallback pass: in each
 * datacenter every replica goes to the least-loaded disk (fewest replicas, then most free capacity)
 * whose node, and whenever possible whose rack, the partition does not use yet.
 */
import { ImpossibleShapeError } from './errors.js';
import { nodeKey } from './node-key.js';
import type { HardwareFile, PartitionSpec, PartitionsFile, ReplicaSpec } from './schema.js';

export interface AddPartitionsOptions {
  count: number;
  /** Default: the most common per-datacenter replica count of the existing partitions, else 3 capped by nodes. */
  replicasPerDc?: number;
  /** Default: that of the last existing partition, else 16 GiB. */
  replicaCapacityBytes?: number;
}

interface DiskLoad {
  readonly host: string;
  readonly port: number;
  readonly node: string;
  readonly rack: string;
  readonly mountPath: string;
  replicas: number;
  free: number;
}

export function addPartitionsToFiles(
  hardware: HardwareFile,
  partitions: PartitionsFile,
  options: AddPartitionsOptions,
): PartitionsFile {
  const { count } = options;
  if (!Number.isInteger(count) || count < 1)
    throw new ImpossibleShapeError(`count must be >= 1, got ${count}`);
  const capacity =
    options.replicaCapacityBytes ?? partitions.partitions.at(-1)?.replicaCapacityBytes ?? 16 * 2 ** 30;
  const loads = new Map<string, DiskLoad[]>();
  const byDisk = new Map<string, DiskLoad>();
  const dcOfNode = new Map<string, string>();
  for (const dc of hardware.datacenters) {
    const disks: DiskLoad[] = [];
    for (const node of dc.nodes) {
      const key = nodeKey(node.host, node.port);
      dcOfNode.set(key, dc.name);
      for (const disk of node.disks) {
        const load: DiskLoad = {
          host: node.host,
          port: node.port,
          node: key,
          rack: node.rack,
          mountPath: disk.mountPath,
          replicas: 0,
          free: disk.capacityBytes,
        };
        disks.push(load);
        byDisk.set(`${key}|${disk.mountPath}`, load);
      }
    }
    loads.set(dc.name, disks);
  }
  const perDcCounts = new Map<number, number>();
  for (const p of partitions.partitions) {
    const counts = new Map<string, number>();
    for (const r of p.replicas) {
      const load = byDisk.get(`${nodeKey(r.host, r.port)}|${r.mountPath}`);
      if (load) {
        load.replicas += 1;
        load.free -= p.replicaCapacityBytes;
      }
      const dc = dcOfNode.get(nodeKey(r.host, r.port)) ?? '';
      counts.set(dc, (counts.get(dc) ?? 0) + 1);
    }
    for (const n of counts.values()) perDcCounts.set(n, (perDcCounts.get(n) ?? 0) + 1);
  }
  const minNodes = Math.min(...hardware.datacenters.map((dc) => dc.nodes.length));
  const common = [...perDcCounts.entries()].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0]?.[0];
  const replicasPerDc = options.replicasPerDc ?? common ?? Math.min(3, minNodes);
  if (replicasPerDc > minNodes) {
    throw new ImpossibleShapeError(
      `replicas per datacenter (${replicasPerDc}) cannot exceed the nodes of the smallest datacenter (${minNodes})`,
    );
  }
  let nextId = Math.max(-1, ...partitions.partitions.map((p) => p.id)) + 1;
  const added: PartitionSpec[] = [];
  for (let i = 0; i < count; i++) {
    const replicas: ReplicaSpec[] = [];
    for (const dc of hardware.datacenters) {
      const usedNodes = new Set<string>();
      const usedRacks = new Set<string>();
      for (let r = 0; r < replicasPerDc; r++) {
        const candidates = (loads.get(dc.name) ?? []).filter(
          (d) => !usedNodes.has(d.node) && d.free >= capacity,
        );
        const spread = candidates.filter((d) => !usedRacks.has(d.rack));
        const pool = spread.length > 0 ? spread : candidates;
        pool.sort((a, b) => a.replicas - b.replicas || b.free - a.free);
        const chosen = pool[0];
        if (!chosen) {
          throw new ImpossibleShapeError(
            `datacenter ${dc.name} has no disk left with ${capacity} free bytes on a node partition ${nextId} does not use`,
          );
        }
        chosen.replicas += 1;
        chosen.free -= capacity;
        usedNodes.add(chosen.node);
        usedRacks.add(chosen.rack);
        replicas.push({ host: chosen.host, port: chosen.port, mountPath: chosen.mountPath });
      }
    }
    added.push({ id: nextId, state: 'read-write', replicaCapacityBytes: capacity, replicas });
    nextId += 1;
  }
  return {
    clusterName: partitions.clusterName,
    version: partitions.version + 1,
    partitions: [...partitions.partitions, ...added],
  };
}
