import type { Replica } from '@ambry/clustermap';

/** `count` replicas of partition 7 in datacenter `dc<id>`, one per node. */
export function replicasIn(dcId: number, count: number): Replica[] {
  return Array.from({ length: count }, (_, i) => {
    const key = `dc${dcId}-n${i}:6667`;
    const disk = { nodeKey: key, mountPath: '/d0', capacityBytes: 1 };
    const node = {
      key,
      host: `dc${dcId}-n${i}`,
      port: 6667,
      adminPort: 7667,
      rack: 'r0',
      datacenter: `dc${dcId}`,
      datacenterId: dcId,
      disks: [disk],
    };
    return { partitionId: 7, node, disk };
  });
}
