/**
 * Checks that need more than one value at a time: uniqueness, cross-file references, capacity. Run
 * after the schema accepted both files; every problem is collected so one run reports them all.
 */
import { LayoutProblemError } from './errors.js';
import { nodeKey } from './node-key.js';
import { HARDWARE_FILE, type HardwareFile, PARTITIONS_FILE, type PartitionsFile } from './schema.js';

export function checkHardware(hardware: HardwareFile): LayoutProblemError[] {
  const problems: LayoutProblemError[] = [];
  const problem = (path: string, what: string) =>
    problems.push(new LayoutProblemError(HARDWARE_FILE, path, what));
  const dcNames = new Map<string, string>();
  const dcIds = new Map<number, string>();
  // Data and admin ports share one namespace per host: two processes cannot listen on one port.
  const endpoints = new Map<string, string>();

  hardware.datacenters.forEach((dc, d) => {
    const at = `datacenters[${d}]`;
    const sameName = dcNames.get(dc.name);
    if (sameName) problem(`${at}.name`, `duplicate datacenter name "${dc.name}" (also at ${sameName})`);
    else dcNames.set(dc.name, at);
    const sameId = dcIds.get(dc.id);
    if (sameId) problem(`${at}.id`, `duplicate datacenter id ${dc.id} (also at ${sameId})`);
    else dcIds.set(dc.id, at);

    dc.nodes.forEach((node, n) => {
      const nodeAt = `${at}.nodes[${n}]`;
      for (const field of ['port', 'adminPort'] as const) {
        const key = nodeKey(node.host, node[field]);
        const taken = endpoints.get(key);
        if (taken) problem(`${nodeAt}.${field}`, `${key} is already used by ${taken}`);
        else endpoints.set(key, `${nodeAt}.${field}`);
      }
      const mounts = new Map<string, string>();
      node.disks.forEach((disk, k) => {
        const diskAt = `${nodeAt}.disks[${k}]`;
        const same = mounts.get(disk.mountPath);
        if (same)
          problem(
            `${diskAt}.mountPath`,
            `duplicate mount path "${disk.mountPath}" on this node (also at ${same})`,
          );
        else mounts.set(disk.mountPath, diskAt);
      });
    });
  });
  return problems;
}

interface DiskUse {
  readonly path: string;
  readonly capacityBytes: number;
  usedBytes: number;
  replicas: number;
}

export function checkPartitions(hardware: HardwareFile, partitions: PartitionsFile): LayoutProblemError[] {
  const problems: LayoutProblemError[] = [];
  const problem = (path: string, what: string) =>
    problems.push(new LayoutProblemError(PARTITIONS_FILE, path, what));

  if (partitions.clusterName !== hardware.clusterName) {
    problem(
      'clusterName',
      `cluster name "${partitions.clusterName}" does not match "${hardware.clusterName}" in ${HARDWARE_FILE}`,
    );
  }

  // node key -> mount path -> usage; the first node with a key wins (duplicates are reported above).
  const disks = new Map<string, Map<string, DiskUse>>();
  hardware.datacenters.forEach((dc, d) => {
    dc.nodes.forEach((node, n) => {
      const key = nodeKey(node.host, node.port);
      if (disks.has(key)) return;
      const byMount = new Map<string, DiskUse>();
      node.disks.forEach((disk, k) => {
        if (!byMount.has(disk.mountPath)) {
          byMount.set(disk.mountPath, {
            path: `datacenters[${d}].nodes[${n}].disks[${k}]`,
            capacityBytes: disk.capacityBytes,
            usedBytes: 0,
            replicas: 0,
          });
        }
      });
      disks.set(key, byMount);
    });
  });

  const ids = new Map<number, string>();
  partitions.partitions.forEach((partition, p) => {
    const at = `partitions[${p}]`;
    const sameId = ids.get(partition.id);
    if (sameId !== undefined)
      problem(`${at}.id`, `duplicate partition id ${partition.id} (also at ${sameId})`);
    else ids.set(partition.id, at);

    const nodesUsed = new Map<string, number>();
    partition.replicas.forEach((replica, r) => {
      const replicaAt = `${at}.replicas[${r}]`;
      const key = nodeKey(replica.host, replica.port);
      const node = disks.get(key);
      if (!node) {
        problem(replicaAt, `node ${key} is not in ${HARDWARE_FILE}`);
        return;
      }
      const firstOnNode = nodesUsed.get(key);
      if (firstOnNode !== undefined) {
        problem(
          replicaAt,
          `partition ${partition.id} already has a replica on node ${key} (replicas[${firstOnNode}]); replicas of one partition need distinct nodes`,
        );
      } else {
        nodesUsed.set(key, r);
      }
      const disk = node.get(replica.mountPath);
      if (!disk) {
        problem(
          `${replicaAt}.mountPath`,
          `node ${key} has no disk "${replica.mountPath}" in ${HARDWARE_FILE}`,
        );
        return;
      }
      if (firstOnNode === undefined) {
        disk.usedBytes += partition.replicaCapacityBytes;
        disk.replicas += 1;
      }
    });
  });

  // Over-committing a disk is an error, not a warning: stores are sized to their replica capacity and
  // would fail with DISK_FULL long before their partition is sealed.
  for (const [key, byMount] of disks) {
    for (const [mountPath, disk] of byMount) {
      if (disk.usedBytes > disk.capacityBytes) {
        problems.push(
          new LayoutProblemError(
            HARDWARE_FILE,
            `${disk.path}.capacityBytes`,
            `disk "${mountPath}" of node ${key} has ${disk.replicas} replicas needing ${disk.usedBytes} bytes in ${PARTITIONS_FILE}, more than its capacity of ${disk.capacityBytes} bytes`,
          ),
        );
      }
    }
  }
  return problems;
}
