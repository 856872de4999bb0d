/**
 * Replica counts per disk, per datacenter: the figure an operator checks after generating or editing
 * a layout (a hot disk fills and seals first, and serves more than its share of reads).
 */
import type { ClusterLayout } from './layout.js';

export interface DatacenterBalance {
  readonly datacenter: string;
  readonly disks: number;
  readonly replicas: number;
  readonly minPerDisk: number;
  readonly maxPerDisk: number;
}

export function replicaBalance(layout: ClusterLayout): DatacenterBalance[] {
  return layout.datacenters.map((dc) => {
    const counts = new Map<string, number>();
    for (const node of dc.nodes) for (const disk of node.disks) counts.set(`${node.key}${disk.mountPath}`, 0);
    let replicas = 0;
    for (const node of dc.nodes) {
      for (const replica of layout.replicasOnNode(node.key)) {
        const key = `${node.key}${replica.disk.mountPath}`;
        counts.set(key, counts.get(key)! + 1);
        replicas += 1;
      }
    }
    const values = [...counts.values()];
    return {
      datacenter: dc.name,
      disks: values.length,
      replicas,
      minPerDisk: Math.min(...values),
      maxPerDisk: Math.max(...values),
    };
  });
}

/** One line: `cluster "ambry": 2 datacenters, 6 nodes, 12 disks, 64 partitions, 384 replicas`. */
export function describeLayout(layout: ClusterLayout): string {
  const disks = layout.nodes.reduce((sum, node) => sum + node.disks.length, 0);
  const replicas = layout.partitions.reduce((sum, p) => sum + p.replicas.length, 0);
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  return `cluster "${layout.clusterName}": ${plural(layout.datacenters.length, 'datacenter')}, ${plural(
    layout.nodes.length,
    'node',
  )}, ${plural(disks, 'disk')}, ${plural(layout.partitions.length, 'partition')}, ${plural(replicas, 'replica')}`;
}
