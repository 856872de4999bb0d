/**
 * Cluster map propagation through Redis: how long a state change made by one process's map takes to
 * reach another map's subscribers (target: well under a second), and how long a stopped heartbeat
 * takes to mark a node down (bounded by heartbeat TTL + liveness interval). Starts its own
 * redis-server on an ephemeral port and stops it by pid.
 *
 *   pnpm --filter @ambry/clustermap bench [--json] [--changes N]
 */
import { parseArgs } from 'node:util';
import { REDIS_SERVER, RedisServer } from '../../../test-support/redis-server.js';
import { generateLayout } from '../src/generator.js';
import { RedisClusterMap } from '../src/redis-cluster-map.js';
import { pushLayout } from '../src/redis-layout.js';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((arg) => arg !== '--'),
    options: { json: { type: 'boolean', default: false }, changes: { type: 'string', default: '200' } },
  });
  const changes = Number(values.changes);
  if (!(Number.isInteger(changes) && changes > 0 && changes <= 10_000))
    throw new Error('--changes in 1..10000');
  if (!REDIS_SERVER) throw new Error('redis-server is not installed (apt-get install redis-server)');

  const redis = await RedisServer.start();
  const maps: RedisClusterMap[] = [];
  try {
    const layout = generateLayout({
      clusterName: 'bench',
      datacenters: ['dc1', 'dc2'],
      nodesPerDc: 3,
      disksPerNode: 2,
      partitions: 64,
      replicasPerDc: 3,
    });
    await pushLayout(redis.url, 'bench', layout);
    const options = { url: redis.url, clusterName: 'bench', localDatacenter: 'dc1' };
    const writer = await RedisClusterMap.connect(options);
    const reader = await RedisClusterMap.connect({ ...options, livenessIntervalMs: 100 });
    maps.push(writer, reader);
    const partitionIds = writer.partitions().map((p) => p.id);

    // State changes: time from the setter call to the other map's listener.
    const latencies: number[] = [];
    for (let i = 0; i < changes; i++) {
      const id = partitionIds[i % partitionIds.length]!;
      const state = writer.partitionState(id) === 'read-write' ? 'read-only' : 'read-write';
      const seen = new Promise<void>((resolve) => {
        const off = reader.subscribe((event) => {
          if (event.type === 'partition-state' && event.partitionId === id && event.state === state) {
            off();
            resolve();
          }
        });
      });
      const started = performance.now();
      writer.setPartitionState(id, state);
      await seen;
      latencies.push(performance.now() - started);
    }
    latencies.sort((a, b) => a - b);

    // Heartbeat expiry: stop a node's heartbeat and time until the reader sees it down.
    const node = writer.layout.nodes[0]!.key;
    const heartbeat = writer.startHeartbeat(node, { intervalMs: 100, ttlMs: 300 });
    await new Promise((resolve) => setTimeout(resolve, 400));
    const down = new Promise<void>((resolve) => {
      const off = reader.subscribe((event) => {
        if (event.type === 'node-state' && event.node === node && event.state === 'down') {
          off();
          resolve();
        }
      });
    });
    const stopped = performance.now();
    await heartbeat.stop();
    await down;
    const downMs = performance.now() - stopped;

    const report = {
      benchmark: '@ambry/clustermap propagation',
      changes,
      state_change_p50_ms: percentile(latencies, 50),
      state_change_p99_ms: percentile(latencies, 99),
      state_change_max_ms: latencies[latencies.length - 1]!,
      heartbeat_ttl_ms: 300,
      liveness_interval_ms: 100,
      node_down_after_heartbeat_stop_ms: downMs,
    };
    if (values.json) console.log(JSON.stringify(report, null, 2));
    else
      for (const [key, value] of Object.entries(report))
        console.log(`${key.padEnd(34)} ${typeof value === 'number' ? value.toFixed(2) : value}`);
  } finally {
    for (const map of maps) await map.close();
    await redis.dispose();
  }
}

await main();
