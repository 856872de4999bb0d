import { text } from 'node:stream/consumers';
import { buildLayout, generateLayout, StaticClusterMap } from '@ambry/clustermap';
import { BlobId, type DataNodeClient, type Endpoint, type GetResult, NEVER_EXPIRES } from '@ambry/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import type { RouterConfigInput } from '../src/config.js';
import type { Timers } from '../src/hedge-timer.js';
import { Router } from '../src/router.js';
import { type ClusterFixture, startCluster } from './cluster-fixture.js';

/** One GET the fake client received, answered when the test says so. */
interface Call {
  readonly node: string;
  readonly signal: AbortSignal;
  readonly answer: (body: string) => void;
  readonly fail: () => void;
}

function result(body: string): GetResult {
  const blob = Buffer.from(body);
  return {
    properties: {
      blobSize: blob.length,
      serviceId: 'hedge-test',
      contentType: 'text/plain',
      creationTimeMs: 1_700_000_000_000,
      ttlSeconds: -1,
      isPrivate: false,
      accountId: 1,
      containerId: 1,
    },
    userMetadata: {},
    blobSize: blob.length,
    blobChecksum: 0n,
    state: {
      deleted: false,
      expired: false,
      ttlUpdated: false,
      lifeVersion: 0,
      expiresAtMs: NEVER_EXPIRES,
      operationTimeMs: 0,
    },
    blob,
  };
}

/** A client whose GETs stay outstanding until answered (or answer at once when `fast`). */
function fakeClient(fast: () => boolean) {
  const calls: Call[] = [];
  const client = {
    get: (endpoint: Endpoint, _request: unknown, options: { signal?: AbortSignal }) =>
      new Promise<GetResult>((resolve, reject) => {
        const signal = options.signal ?? new AbortController().signal;
        signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
        const node = `${endpoint.host}:${endpoint.port}`;
        calls.push({
          node,
          signal,
          answer: (body) => resolve(result(body)),
          fail: () => reject(new Error('boom')),
        });
        if (fast()) resolve(result(`from ${node}`));
      }),
    close: async () => {},
  };
  return { calls, client: client as unknown as DataNodeClient };
}

/** Timers fired by the test: `fire` runs every pending callback, as if its delay had passed. */
function manualTimers() {
  const pending = new Map<number, { callback: () => void; ms: number }>();
  const armed: number[] = [];
  let next = 0;
  const timers: Timers = {
    set: (callback, ms) => {
      next += 1;
      pending.set(next, { callback, ms });
      armed.push(ms);
      return next;
    },
    clear: (handle) => void pending.delete(handle as number),
  };
  const fire = () => {
    const due = [...pending.values()];
    pending.clear();
    for (const { callback } of due) callback();
  };
  return { timers, fire, armed, pending };
}

/** Lets the request loop reach its next wait (a few macrotask turns; bounded). */
async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

function setup(config: RouterConfigInput, options: { fast?: boolean } = {}) {
  const generated = generateLayout({
    datacenters: ['dc1', 'dc2'],
    nodesPerDc: 3,
    disksPerNode: 1,
    partitions: 1,
    replicasPerDc: 3,
  });
  const clusterMap = new StaticClusterMap(buildLayout(generated.hardware, generated.partitions), {
    localDatacenter: 'dc1',
  });
  let fast = options.fast ?? false;
  const { calls, client } = fakeClient(() => fast);
  const manual = manualTimers();
  let now = 1_000;
  const router = Router.create({
    clusterMap,
    client,
    config,
    timers: manual.timers,
    clock: () => now,
    random: () => 0,
  });
  const partitionId = clusterMap.partitions()[0]?.id ?? 0;
  const id = BlobId.generate({ partitionId, datacenterId: clusterMap.localDatacenter.id });
  const dc1 = new Set(
    clusterMap
      .replicas(partitionId)
      .filter((r) => r.node.datacenter === 'dc1')
      .map((r) => r.node.key),
  );
  return {
    router,
    id,
    calls,
    dc1,
    ...manual,
    setFast: (value: boolean) => {
      fast = value;
    },
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('hedged GETs', () => {
  it('asks the next replica when the first is slow, takes its answer and cancels the first', async () => {
    const t = setup({ hedgeGets: true, hedgeDefaultDelayMs: 37 });
    const got = t.router.get(t.id);
    await turns();
    expect(t.calls).toHaveLength(1);
    expect(t.armed).toEqual([37]);
    t.fire();
    await turns();
    expect(t.calls).toHaveLength(2);
    const [slow, hedge] = t.calls as [Call, Call];
    expect(hedge.node).not.toBe(slow.node);
    // Local replicas come first, so the hedge is the local datacenter's second replica.
    expect(t.dc1.has(slow.node) && t.dc1.has(hedge.node)).toBe(true);
    hedge.answer('hedged');
    expect(await text((await got).blob)).toBe('hedged');
    expect(slow.signal.aborted).toBe(true);
    expect(hedge.signal.aborted).toBe(true); // decided: the shared request signal is released
    expect(t.pending.size).toBe(0);
    await t.router.close();
  });

  it('sends no hedge when the first replica answers in time, and records its latency', async () => {
    const t = setup({ hedgeGets: true, hedgeMinSamples: 1 });
    const got = t.router.get(t.id);
    await turns();
    t.advance(7);
    t.calls[0]?.answer('fast');
    expect(await text((await got).blob)).toBe('fast');
    t.fire(); // a stale timer, had one survived, would have sent a hedge now
    await turns();
    expect(t.calls).toHaveLength(1);
    expect(t.pending.size).toBe(0);
    expect(t.router.latencyTrackers.for('dc1').sampleCount).toBe(1);
    // With the one sample trusted, the next GET's hedge delay is that latency.
    const again = t.router.get(t.id);
    await turns();
    expect(t.armed.at(-1)).toBe(7);
    t.calls[1]?.answer('again');
    await again;
    await t.router.close();
  });

  it('never has more than hedgeMaxInFlight requests outstanding', async () => {
    const t = setup({ hedgeGets: true, getParallelism: 2, hedgeMaxInFlight: 3 });
    const got = t.router.get(t.id);
    await turns();
    for (let i = 0; i < 6; i++) {
      t.fire();
      await turns();
    }
    expect(t.calls).toHaveLength(3);
    expect(new Set(t.calls.map((c) => c.node)).size).toBe(3);
    // At the cap no timer stays armed: there is nothing it could do.
    expect(t.pending.size).toBe(0);
    // A failure frees a slot; the next deadline may then hedge once more, to a fourth replica.
    t.calls[0]?.fail();
    await turns();
    t.fire();
    await turns();
    expect(t.calls).toHaveLength(4);
    t.fire();
    await turns();
    expect(t.calls).toHaveLength(4);
    t.calls[3]?.answer('fourth');
    expect(await text((await got).blob)).toBe('fourth');
    expect(t.calls.every((c) => c.signal.aborted)).toBe(true);
    await t.router.close();
  });

  it('asks getParallelism replicas at once and arms no timer when hedgeGets is false', async () => {
    const t = setup({ hedgeGets: false, getParallelism: 2 });
    const got = t.router.get(t.id);
    await turns();
    expect(t.calls).toHaveLength(2);
    expect(t.armed).toEqual([]);
    t.calls[1]?.answer('second');
    expect(await text((await got).blob)).toBe('second');
    expect(t.calls[0]?.signal.aborted).toBe(true);
    expect(t.calls).toHaveLength(2);
    await t.router.close();
  });
});

describe('hedged GETs on a cluster', () => {
  let cluster: ClusterFixture | undefined;
  afterEach(async () => {
    await cluster?.close();
    cluster = undefined;
  });

  async function getsPerRead(config: RouterConfigInput): Promise<number> {
    cluster = await startCluster();
    const router = cluster.router({ config });
    const blob = Buffer.from('hedge me');
    const id = await router.put({
      properties: {
        blobSize: blob.length,
        serviceId: 'hedge-test',
        contentType: 'text/plain',
        creationTimeMs: 1_700_000_000_000,
        ttlSeconds: -1,
        isPrivate: false,
        accountId: 1,
        containerId: 1,
      },
      blob,
    });
    await cluster.settle();
    let gets = 0;
    cluster.intercept((operation) => {
      if (operation === 'get') gets += 1;
    });
    expect(await text((await router.get(id)).blob)).toBe('hedge me');
    await cluster.settle();
    return gets;
  }

  // A delay far beyond any answer here, so no real timer can fire during the read.
  it('a healthy read asks one replica when hedging, getParallelism when not', async () => {
    expect(await getsPerRead({ hedgeGets: true, hedgeDefaultDelayMs: 600_000 })).toBe(1);
    await cluster?.close();
    cluster = undefined;
    expect(await getsPerRead({ hedgeGets: false, getParallelism: 2 })).toBe(2);
  });
});
