/**
 * The shared real-process cluster helper (test-support/datanode-cluster.ts) itself: ports from the map,
 * start, kill by pid, restart. The router's e2e tests rely on each of these.
 */
import { AdminKind, DataNodeClient } from '@ambry/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatanodeCluster } from '../../../test-support/datanode-cluster.js';

describe('DatanodeCluster', () => {
  let cluster: DatanodeCluster;
  const client = new DataNodeClient({ clientId: 'cluster-test', requestTimeoutMs: 5000 });

  beforeAll(async () => {
    cluster = await DatanodeCluster.create({ partitions: 2 });
    await cluster.start();
  }, 60_000);

  afterAll(async () => {
    await client.close();
    await cluster?.destroy();
  });

  it('writes a map whose nodes are the started processes, each on its own port', async () => {
    expect(cluster.nodes).toHaveLength(3);
    const ports = cluster.nodes.flatMap((n) => [n.port, n.adminPort]);
    expect(new Set(ports).size).toBe(6);
    const map = await cluster.loadClusterMap();
    const partitions = map.partitions();
    expect(partitions).toHaveLength(2);
    for (const partition of partitions) {
      const keys = map.replicas(partition.id).map((r) => r.node.key);
      expect(keys.sort()).toEqual(cluster.nodes.map((n) => n.key).sort());
    }
    for (let i = 0; i < 3; i++) {
      expect(cluster.isRunning(i)).toBe(true);
      expect(cluster.pid(i)).toBeTypeOf('number');
    }
  });

  it('a killed node is not running and refuses connections; a restart serves again', async () => {
    const node = cluster.nodes[1]!;
    const endpoint = { host: node.host, port: node.port };
    const admin = await client.admin(endpoint, { kind: AdminKind.HEALTH });
    expect(admin).toBeDefined();

    expect(await cluster.stopNode(1, 'SIGKILL')).toBeNull();
    expect(cluster.isRunning(1)).toBe(false);
    expect(cluster.pid(1)).toBeUndefined();
    await expect(client.admin(endpoint, { kind: AdminKind.HEALTH })).rejects.toThrow();
    // The other nodes are unaffected.
    expect(cluster.isRunning(0)).toBe(true);
    expect(cluster.isRunning(2)).toBe(true);

    await cluster.startNode(1);
    expect(cluster.isRunning(1)).toBe(true);
    await expect(client.admin(endpoint, { kind: AdminKind.HEALTH })).resolves.toBeDefined();
  });

  it('SIGTERM stops a node gracefully (exit 0)', async () => {
    expect(await cluster.stopNode(2)).toBe(0);
    expect(cluster.isRunning(2)).toBe(false);
    await cluster.startNode(2);
    expect(cluster.isRunning(2)).toBe(true);
  });

  it('a node that exits during start fails startNode with its stderr', async () => {
    const broken = await DatanodeCluster.create({
      nodesPerDc: 1,
      replicasPerDc: 1,
      partitions: 1,
      datanodeConfig: { maxConnections: -5 },
    });
    try {
      const failure = await broken.startNode(0).then(
        () => undefined,
        (error: unknown) => error as Error,
      );
      expect(failure?.message).toMatch(/exited during start/);
      expect(failure?.message).toMatch(/maxConnections/);
      expect(broken.isRunning(0)).toBe(false);
    } finally {
      await broken.destroy();
    }
  });
});
