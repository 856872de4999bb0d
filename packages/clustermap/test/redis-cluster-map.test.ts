/**
 * RedisClusterMap against a real redis-server on an ephemeral port (started and stopped by pid).
 * No timing thresholds: every wait is a bounded poll for a condition.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_SERVER, RedisServer, waitFor } from '../../../test-support/redis-server.js';
import {
  type ClusterMapEvent,
  generateLayout,
  pullLayout,
  pushLayout,
  RedisClusterMap,
  redisKeys,
} from '../src/index.js';
import { connectRedis } from '../src/redis-connection.js';
import { SMALL } from './helpers.js';

let counter = 0;
function clusterName(): string {
  counter += 1;
  return `test${process.pid}-${counter}`;
}

async function pushed(url: string, options = {}) {
  const cluster = clusterName();
  const files = generateLayout({ ...SMALL, ...options, clusterName: cluster });
  await pushLayout(url, cluster, files);
  return { cluster, files };
}

describe.skipIf(!REDIS_SERVER)('RedisClusterMap', () => {
  let server: RedisServer;
  const maps: RedisClusterMap[] = [];
  async function open(url: string, cluster: string, localDatacenter = 'dc1', extra = {}) {
    const map = await RedisClusterMap.connect({ url, clusterName: cluster, localDatacenter, ...extra });
    maps.push(map);
    return map;
  }

  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(async () => {
    await Promise.all(maps.map((m) => m.close()));
    await server?.dispose();
  });

  it('pushes a layout, pulls it back and loads a map from it', async () => {
    const { cluster, files } = await pushed(server.url);
    const pulled = await pullLayout(server.url, cluster);
    expect(pulled.hardware).toEqual(files.hardware);
    expect(pulled.partitions).toEqual(files.partitions);
    expect(pulled.version).toBe(1);
    const map = await open(server.url, cluster, 'dc2');
    expect(map.partitions()).toHaveLength(8);
    expect(map.replicas(3)[0]?.node.datacenter).toBe('dc2');
    expect(map.writablePartitions()).toHaveLength(8);
  });

  it('refuses a cluster with no layout and a layout of another cluster', async () => {
    await expect(
      RedisClusterMap.connect({ url: server.url, clusterName: 'nothing-here', localDatacenter: 'dc1' }),
    ).rejects.toThrow(/no layout stored for cluster "nothing-here"/);
    await expect(pushLayout(server.url, 'other', generateLayout(SMALL))).rejects.toThrow(/not "other"/);
  });

  it('applies a change made in one map to another, through the same events', async () => {
    const { cluster } = await pushed(server.url);
    const a = await open(server.url, cluster);
    const b = await open(server.url, cluster);
    const seen: ClusterMapEvent[] = [];
    b.subscribe((e) => seen.push(e));
    const node = a.replicas(1)[0]!.node;
    expect(a.setNodeState(node, 'maintenance')).toBe(true);
    a.setDiskState(node, node.disks[0]!.mountPath, 'failed');
    a.setReplicaSealed(1, node, true);
    a.setPartitionState(2, 'read-only');
    await waitFor(() => seen.length === 4, 'four events in the second map');
    expect(seen.map((e) => e.type)).toEqual(['node-state', 'disk-state', 'replica-state', 'partition-state']);
    expect(b.nodeState(node)).toBe('maintenance');
    expect(b.diskState(node, node.disks[0]!.mountPath)).toBe('failed');
    expect(b.replicaState(1, node)).toEqual({ sealed: true, stopped: false });
    expect(b.partitionState(2)).toBe('read-only');
    // A third map started later loads the stored states.
    const c = await open(server.url, cluster);
    expect(c.nodeState(node)).toBe('maintenance');
    expect(c.replicaState(1, node).sealed).toBe(true);
    expect(c.partitionState(2)).toBe('read-only');
    // Back to normal: the stored entries go away.
    a.setNodeState(node, 'up');
    a.setPartitionState(2, 'read-write');
    await a.settled();
    await waitFor(
      () => b.nodeState(node) === 'up' && b.partitionState(2) === 'read-write',
      'the return to normal',
    );
    const client = await connectRedis(server.url, { reconnect: false });
    expect(await client.hgetall(redisKeys(cluster).nodeStates)).toEqual({});
    client.disconnect();
  });

  it('marks a node down when its heartbeat expires and up when it returns; maintenance wins', async () => {
    const { cluster } = await pushed(server.url);
    const dataNode = await open(server.url, cluster);
    const router = await open(server.url, cluster, 'dc1', { livenessIntervalMs: 50 });
    const node = router.layout.nodes[0]!;
    const events: string[] = [];
    router.subscribe((e) => {
      if (e.type === 'node-state') events.push(e.state);
    });
    let beat = dataNode.startHeartbeat(node, { intervalMs: 50, ttlMs: 300 });
    await waitFor(async () => {
      const c = await connectRedis(server.url, { reconnect: false });
      const live = (await c.exists(redisKeys(cluster).heartbeat(node.key))) === 1;
      c.disconnect();
      return live;
    }, 'the first heartbeat');
    expect(router.nodeState(node)).toBe('up');
    await beat.stop();
    await waitFor(() => router.nodeState(node) === 'down', 'the node seen down after its heartbeat expired');
    beat = dataNode.startHeartbeat(node, { intervalMs: 50, ttlMs: 300 });
    await waitFor(() => router.nodeState(node) === 'up', 'the node seen up again');
    expect(events).toEqual(['down', 'up']);
    // Maintenance overrides liveness, both ways.
    router.setNodeState(node, 'maintenance');
    await beat.stop({ expireNow: true });
    await waitFor(() => dataNode.nodeState(node) === 'maintenance', 'maintenance seen by the data node');
    const c = await connectRedis(server.url, { reconnect: false });
    await waitFor(
      async () => (await c.exists(redisKeys(cluster).heartbeat(node.key))) === 0,
      'the expired key',
    );
    c.disconnect();
    expect(router.nodeState(node)).toBe('maintenance');
    router.setNodeState(node, 'up');
    await waitFor(() => router.nodeState(node) === 'down', 'no heartbeat: down once out of maintenance');
  });

  it('adds partitions at run time, bumping the version and telling every map', async () => {
    const { cluster } = await pushed(server.url);
    const a = await open(server.url, cluster);
    const b = await open(server.url, cluster);
    b.setReplicaSealed(0, b.replicas(0)[0]!.node, true);
    await b.settled();
    await waitFor(() => a.replicaState(0, b.replicas(0)[0]!.node).sealed, 'the seal in a');
    const seen: ClusterMapEvent[] = [];
    b.subscribe((e) => seen.push(e));
    const added = await a.addPartitions({ count: 4 });
    expect(added.map((p) => p.id)).toEqual([8, 9, 10, 11]);
    expect(a.partitions()).toHaveLength(12);
    expect(a.layoutVersion).toBe(2);
    await waitFor(() => b.partitions().length === 12, 'the new layout in b');
    expect(seen).toEqual([{ type: 'layout-replaced', previousVersion: 1, version: 2 }]);
    expect(b.replicaState(0, b.replicas(0)[0]!.node).sealed).toBe(true);
    for (const p of added) {
      const replicas = b.replicas(p.id);
      expect(replicas).toHaveLength(6);
      expect(new Set(replicas.map((r) => r.node.key)).size).toBe(6);
      const dc1 = replicas.filter((r) => r.node.datacenter === 'dc1');
      expect(new Set(dc1.map((r) => r.node.rack)).size).toBe(3);
    }
    expect(b.isWritable(11)).toBe(true);
    const pulled = await pullLayout(server.url, cluster);
    expect(pulled.partitions.version).toBe(2);
  });
});

describe.skipIf(!REDIS_SERVER)('RedisClusterMap when Redis goes away', () => {
  it('keeps serving the last known map, logs once, and resyncs when Redis returns', async () => {
    const server = await RedisServer.start();
    const logs: { level: string; msg?: string }[] = [];
    const logger = {
      info: (_o: object, msg?: string) => logs.push({ level: 'info', msg }),
      warn: (_o: object, msg?: string) => logs.push({ level: 'warn', msg }),
      error: (_o: object, msg?: string) => logs.push({ level: 'error', msg }),
    };
    const { cluster } = await pushed(server.url);
    const map = await RedisClusterMap.connect({
      url: server.url,
      clusterName: cluster,
      localDatacenter: 'dc1',
      logger,
    });
    try {
      const node = map.replicas(5)[0]!.node;
      map.setReplicaStopped(5, node, true);
      await map.settled();

      // A change written by someone else while this map does not listen: only a resync can find it.
      const field = JSON.stringify([node.key, node.disks[1]!.mountPath]);
      const writer = await connectRedis(server.url, { reconnect: false });
      await writer.hset(redisKeys(cluster).diskStates, field, 'failed');
      await writer.hdel(redisKeys(cluster).replicaStates, `5@${node.key}`);
      await writer.save(); // the restarted server loads this snapshot
      writer.disconnect();

      await server.stop();
      await waitFor(() => !map.online, 'the map noticing the outage');
      // Still served, and still changeable locally.
      expect(map.partitions()).toHaveLength(8);
      expect(map.replicas(5)).toHaveLength(6);
      expect(map.replicaState(5, node).stopped).toBe(true);
      expect(map.isWritable(5)).toBe(false);
      expect(map.diskState(node, node.disks[1]!.mountPath)).toBe('available');
      expect(map.setPartitionState(6, 'read-only')).toBe(true);
      expect(map.partitionState(6)).toBe('read-only');
      // Let several reconnect attempts fail: still one warning.
      const attempts = logs.length;
      await new Promise((r) => setTimeout(r, 300));
      expect(logs.length).toBe(attempts);
      expect(logs.filter((l) => l.level === 'warn' && /unreachable/.test(l.msg ?? ''))).toHaveLength(1);

      await server.start();
      await waitFor(() => map.online, 'the map reconnecting');
      await waitFor(() => map.diskState(node, node.disks[1]!.mountPath) === 'failed', 'the resync');
      await waitFor(() => !map.replicaState(5, node).stopped, 'the resync of the replica');
      // The change made offline was written back, not lost.
      expect(map.partitionState(6)).toBe('read-only');
      await map.settled();
      const check = await connectRedis(server.url, { reconnect: false });
      expect(await check.hget(redisKeys(cluster).partitionStates, '6')).toBe('read-only');
      check.disconnect();
      expect(logs.some((l) => l.level === 'info' && /resync/.test(l.msg ?? ''))).toBe(true);
    } finally {
      await map.close();
      await server.dispose();
    }
  });
});

describe.skipIf(!REDIS_SERVER)('README Redis example', () => {
  it('runs and prints what it says', async () => {
    const server = await RedisServer.start();
    const dir = mkdtempSync(join(tmpdir(), 'ambry-readme-redis-'));
    try {
      const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
      const section = readme.slice(readme.indexOf('\n## Redis\n'));
      const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
      const printed = /prints\n\n```\n([\s\S]*?)```/.exec(section)?.[1];
      expect(block).toBeDefined();
      const source = fileURLToPath(new URL('../src/index.ts', import.meta.url));
      const file = join(dir, 'example.mts');
      writeFileSync(file, block!.replaceAll("from '@ambry/clustermap'", `from ${JSON.stringify(source)}`));
      const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', file], {
        timeout: 20_000,
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        env: { ...process.env, REDIS_URL: server.url },
      });
      expect(stdout).toBe(printed);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await server.dispose();
    }
  });
});
