import { describe, expect, it, vi } from 'vitest';
import {
  buildLayout,
  type ClusterMapEvent,
  generateLayout,
  StaticClusterMap,
  UnknownEntityError,
  writeLayoutFiles,
} from '../src/index.js';
import { SMALL, tempDir } from './helpers.js';

function map(options: { localDatacenter?: string; minWritableReplicas?: number } = {}) {
  const files = generateLayout(SMALL);
  return new StaticClusterMap(buildLayout(files.hardware, files.partitions), {
    localDatacenter: options.localDatacenter ?? 'dc2',
    minWritableReplicas: options.minWritableReplicas,
  });
}

describe('queries', () => {
  it('finds partitions, datacenters and nodes', () => {
    const m = map();
    expect(m.localDatacenter.name).toBe('dc2');
    expect(m.partitions().map((p) => p.id)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(m.partition(5)?.replicas).toHaveLength(6);
    expect(m.partition(99)).toBeUndefined();
    expect(m.datacenterById(1)?.name).toBe('dc2');
    expect(m.datacenterByName('dc1')?.id).toBe(0);
    expect(m.datacenterById(7)).toBeUndefined();
    expect(m.node({ host: '127.0.0.1', port: 6670 })?.datacenter).toBe('dc2');
    expect(m.node('127.0.0.1:6670')?.adminPort).toBe(7670);
  });

  it('orders replicas local datacenter first, then the rest in layout order', () => {
    for (const local of ['dc1', 'dc2']) {
      const m = map({ localDatacenter: local });
      for (const p of m.partitions()) {
        const dcs = m.replicas(p.id).map((r) => r.node.datacenter);
        const other = local === 'dc1' ? 'dc2' : 'dc1';
        expect(dcs).toEqual([local, local, local, other, other, other]);
        // Stable: within a datacenter, file order.
        const localInFile = p.replicas.filter((r) => r.node.datacenter === local);
        expect(m.replicas(p.id).slice(0, 3)).toEqual(localInFile);
      }
    }
    expect(() => map().replicas(99)).toThrow(UnknownEntityError);
  });

  it('lists the replicas a node hosts', () => {
    const m = map();
    const onNode = m.replicasOnNode('127.0.0.1:6667');
    // 8 partitions x 3 replicas over 3 nodes: every node of dc1 hosts all 8.
    expect(onNode.map((r) => r.partitionId)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(onNode.every((r) => r.node.key === '127.0.0.1:6667')).toBe(true);
    expect(() => m.replicasOnNode('127.0.0.1:1')).toThrow(UnknownEntityError);
  });

  it('rejects an unknown local datacenter and a bad minimum', () => {
    expect(() => map({ localDatacenter: 'mars' })).toThrow(/unknown datacenter mars/);
    expect(() => map({ minWritableReplicas: 0 })).toThrow(/positive integer/);
  });
});

describe('states and writable partitions', () => {
  it('start healthy, with partition states from the file', () => {
    const m = map();
    expect(m.nodeState('127.0.0.1:6667')).toBe('up');
    expect(m.diskState('127.0.0.1:6667', '/var/lib/ambry/6667/disk1')).toBe('available');
    expect(m.replicaState(0, '127.0.0.1:6670')).toEqual({ sealed: false, stopped: false });
    expect(m.partitionState(0)).toBe('read-write');
    expect(m.writablePartitions()).toHaveLength(8);
    expect(m.minWritableReplicas).toBe(3);
  });

  it('react to a local node going down and coming back', () => {
    const m = map();
    const node = m.replicas(0)[0]!.node;
    expect(m.setNodeState(node, 'down')).toBe(true);
    expect(m.nodeState(node)).toBe('down');
    // Every partition has a replica on each of the 3 local nodes.
    expect(m.writablePartitions()).toEqual([]);
    expect(m.isWritable(0)).toBe(false);
    expect(m.isReplicaReadable(m.replicas(0)[0]!)).toBe(false);
    m.setNodeState(node, 'maintenance');
    expect(m.writablePartitions()).toEqual([]);
    m.setNodeState(node, 'up');
    expect(m.writablePartitions()).toHaveLength(8);
  });

  it('ignore a remote node going down', () => {
    const m = map();
    m.setNodeState('127.0.0.1:6667', 'down');
    expect(m.writablePartitions()).toHaveLength(8);
  });

  it('react to a failed disk only for the partitions on it', () => {
    const m = map();
    const replica = m.replicas(0)[0]!;
    const onDisk = m.replicasOnNode(replica.node).filter((r) => r.disk === replica.disk);
    m.setDiskState(replica.node, replica.disk.mountPath, 'failed');
    expect(m.diskState(replica.node, replica.disk.mountPath)).toBe('failed');
    const writable = m.writablePartitions().map((p) => p.id);
    expect(writable).toEqual(
      m
        .partitions()
        .map((p) => p.id)
        .filter((id) => !onDisk.some((r) => r.partitionId === id)),
    );
    expect(writable.length).toBe(8 - onDisk.length);
  });

  it('react to sealed and stopped replicas, and to the partition state', () => {
    const m = map();
    const node = m.replicas(3)[1]!.node;
    m.setReplicaSealed(3, node, true);
    expect(m.replicaState(3, node)).toEqual({ sealed: true, stopped: false });
    expect(m.isWritable(3)).toBe(false);
    // Sealed replicas still serve reads.
    expect(m.isReplicaReadable(m.replicas(3)[1]!)).toBe(true);
    m.setReplicaSealed(3, node, false);
    expect(m.isWritable(3)).toBe(true);
    m.setReplicaStopped(4, node, true);
    expect(m.isWritable(4)).toBe(false);
    expect(m.isReplicaReadable(m.replicas(4)[1]!)).toBe(false);
    m.setPartitionState(5, 'read-only');
    expect(m.partitionState(5)).toBe('read-only');
    expect(m.writablePartitions().map((p) => p.id)).toEqual([0, 1, 2, 3, 6, 7]);
  });

  it('need only minWritableReplicas healthy local replicas', () => {
    const m = map({ minWritableReplicas: 2 });
    const node = m.replicas(0)[0]!.node;
    m.setNodeState(node, 'down');
    expect(m.writablePartitions()).toHaveLength(8);
    m.setNodeState(m.replicas(0)[1]!.node, 'down');
    expect(m.writablePartitions()).toHaveLength(0);
  });

  it('cap the minimum at the local replica count', () => {
    const files = generateLayout({ ...SMALL, nodesPerDc: 2, racksPerDc: 2, replicasPerDc: 2 });
    const m = new StaticClusterMap(buildLayout(files.hardware, files.partitions), { localDatacenter: 'dc1' });
    expect(m.writablePartitions()).toHaveLength(8);
  });

  it('throw UnknownEntityError for unknown things', () => {
    const m = map();
    expect(() => m.setNodeState('10.0.0.1:1', 'down')).toThrow(UnknownEntityError);
    expect(() => m.setDiskState('127.0.0.1:6667', '/nope', 'failed')).toThrow(/unknown disk/);
    expect(() => m.setReplicaSealed(99, '127.0.0.1:6667', true)).toThrow(/unknown partition 99/);
    expect(() => m.partitionState(99)).toThrow(UnknownEntityError);
  });
});

describe('subscribers', () => {
  it('hear every change, once, with what changed', () => {
    const m = map();
    const events: ClusterMapEvent[] = [];
    const unsubscribe = m.subscribe((e) => events.push(e));
    m.setNodeState('127.0.0.1:6670', 'down');
    m.setNodeState('127.0.0.1:6670', 'down');
    m.setDiskState('127.0.0.1:6670', '/var/lib/ambry/6670/disk0', 'failed');
    m.setReplicaSealed(1, '127.0.0.1:6670', true);
    m.setReplicaSealed(1, '127.0.0.1:6670', true);
    m.setReplicaStopped(1, '127.0.0.1:6670', true);
    m.setPartitionState(2, 'read-only');
    expect(m.setPartitionState(2, 'read-only')).toBe(false);
    expect(events).toEqual([
      { type: 'node-state', node: '127.0.0.1:6670', previous: 'up', state: 'down' },
      {
        type: 'disk-state',
        node: '127.0.0.1:6670',
        mountPath: '/var/lib/ambry/6670/disk0',
        previous: 'available',
        state: 'failed',
      },
      {
        type: 'replica-state',
        partitionId: 1,
        node: '127.0.0.1:6670',
        previous: { sealed: false, stopped: false },
        state: { sealed: true, stopped: false },
      },
      {
        type: 'replica-state',
        partitionId: 1,
        node: '127.0.0.1:6670',
        previous: { sealed: true, stopped: false },
        state: { sealed: true, stopped: true },
      },
      { type: 'partition-state', partitionId: 2, previous: 'read-write', state: 'read-only' },
    ]);
    unsubscribe();
    m.setNodeState('127.0.0.1:6670', 'up');
    expect(events).toHaveLength(5);
  });

  it('see the new state when notified, and survive a throwing listener', () => {
    const onListenerError = vi.fn();
    const files = generateLayout(SMALL);
    const m = new StaticClusterMap(buildLayout(files.hardware, files.partitions), {
      localDatacenter: 'dc1',
      onListenerError,
    });
    const seen: boolean[] = [];
    m.subscribe(() => {
      throw new Error('boom');
    });
    m.subscribe(() => seen.push(m.isWritable(0)));
    expect(m.setNodeState('127.0.0.1:6667', 'down')).toBe(true);
    expect(seen).toEqual([false]);
    expect(onListenerError).toHaveBeenCalledTimes(1);
  });
});

describe('StaticClusterMap.load', () => {
  it('loads a generated directory', async () => {
    const dir = tempDir();
    await writeLayoutFiles(dir, generateLayout(SMALL));
    const m = await StaticClusterMap.load(dir, { localDatacenter: 'dc1' });
    expect(m.layout.clusterName).toBe('ambry');
    expect(m.writablePartitions()).toHaveLength(8);
  });
});
