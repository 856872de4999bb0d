import { BlobId, type BlobProperties } from '@ambry/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RouterErrorCode } from '../src/errors.js';
import { NotFoundCache } from '../src/not-found-cache.js';
import { type ClusterFixture, PARTITIONS, startCluster } from './cluster-fixture.js';
import { rejection } from './rejection.js';

let cluster: ClusterFixture;
beforeEach(async () => {
  cluster = await startCluster();
});
afterEach(async () => {
  await cluster.close();
});

function props(blobSize: number): BlobProperties {
  return {
    blobSize,
    serviceId: 'health-test',
    contentType: 'text/plain',
    creationTimeMs: Date.now(),
    ttlSeconds: -1,
    isPrivate: false,
    accountId: 1,
    containerId: 1,
  };
}

async function codeOf(promise: Promise<unknown>): Promise<RouterErrorCode> {
  return (await rejection(promise)).code;
}

describe('not-found cache', () => {
  it('answers a repeated get of a missing id from memory until the entry expires', async () => {
    let now = 1_000_000;
    const router = cluster.router({ clock: () => now, config: { notFoundCacheMs: 15_000 } });
    const gets: string[] = [];
    cluster.intercept((operation, id) => {
      if (operation === 'get') gets.push(id.toString());
    });
    const missing = BlobId.generate({ partitionId: 1, datacenterId: 0 });
    expect(await codeOf(router.get(missing))).toBe(RouterErrorCode.BLOB_NOT_FOUND);
    await cluster.settle();
    // Every replica of the originating datacenter must have said so.
    const asked = gets.length;
    expect(asked).toBeGreaterThanOrEqual(3);
    now += 14_999;
    expect(await codeOf(router.get(missing.toString()))).toBe(RouterErrorCode.BLOB_NOT_FOUND);
    expect(gets.length).toBe(asked);
    now += 1;
    expect(await codeOf(router.get(missing))).toBe(RouterErrorCode.BLOB_NOT_FOUND);
    await cluster.settle();
    expect(gets.length).toBeGreaterThan(asked);
  });

  it('asks the replicas every time with notFoundCacheMs 0', async () => {
    const router = cluster.router({ config: { notFoundCacheMs: 0 } });
    let gets = 0;
    cluster.intercept((operation) => {
      if (operation === 'get') gets += 1;
    });
    const missing = BlobId.generate({ partitionId: 0, datacenterId: 0 });
    await codeOf(router.get(missing));
    await cluster.settle();
    const first = gets;
    await codeOf(router.get(missing));
    await cluster.settle();
    expect(gets).toBe(2 * first);
  });

  it('keeps at most maxEntries ids, evicting the oldest', () => {
    let now = 0;
    const cache = new NotFoundCache(1000, () => now, 3);
    for (const id of ['a', 'b', 'c']) cache.add(id);
    cache.add('a'); // refreshed: now the newest
    cache.add('d');
    expect(['a', 'b', 'c', 'd'].filter((id) => cache.has(id))).toEqual(['a', 'c', 'd']);
    expect(cache.size).toBe(3);
    now = 1000;
    expect(cache.has('a')).toBe(false);
    expect(() => new NotFoundCache(-1, () => 0)).toThrow(RangeError);
  });
});

describe('router health', () => {
  it('is ok while a put quorum is reachable, and says why not when it is not', async () => {
    const router = cluster.router();
    const healthy = await router.health();
    expect(healthy).toMatchObject({
      ok: true,
      localNodes: 3,
      reachableLocalNodes: 3,
      writablePartitions: PARTITIONS,
    });
    const [a, b] = cluster.nodesIn('dc1');
    const reconnectA = cluster.disconnect(a!);
    expect(await router.health()).toMatchObject({ ok: true, reachableLocalNodes: 2 });
    const reconnectB = cluster.disconnect(b!);
    const sick = await router.health();
    expect(sick).toMatchObject({ ok: false, reachableLocalNodes: 1, writablePartitions: 0 });
    expect(sick.message).toMatch(/no partition can reach its put quorum/);
    reconnectA();
    reconnectB();
    expect((await router.health()).ok).toBe(true);
  });

  it('shares one round of probes between concurrent calls', async () => {
    const router = cluster.router();
    const before = cluster.adminRequests();
    const results = await Promise.all([router.health(), router.health(), router.health()]);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(cluster.adminRequests() - before).toBe(3); // one per local node, not one per call
  });

  it('marks a node that fails its probes down, and a later healthy probe revives it', async () => {
    const router = cluster.router({ config: { nodeFailureThreshold: 2 } });
    const [a] = cluster.nodesIn('dc1');
    const reconnect = cluster.disconnect(a!);
    await router.health();
    await router.health();
    expect(router.failureDetector.state(a!.key)).toBe('down');
    // While it is down, puts still find partitions with a healthy quorum elsewhere.
    const blob = Buffer.from('still writable');
    const id = await router.put({ properties: props(blob.length), blob });
    expect(id.partitionId).toBeLessThan(PARTITIONS);
    reconnect();
    await router.health();
    expect(router.failureDetector.state(a!.key)).toBe('up');
  });
});
