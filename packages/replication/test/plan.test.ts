import { describe, expect, it } from 'vitest';
import { isFreshPut } from '../src/apply-entries.js';
import { DoublingBackoff } from '../src/backoff.js';
import { planUpdates, putLifeVersion, resolveReplicationConfig } from '../src/index.js';
import { ByteBudget, FetchGate, Limiter } from '../src/limiter.js';
import { pickBatch } from '../src/peer-loop.js';
import { byPriority, type RemoteReplica } from '../src/remote-replica.js';
import { Throttle } from '../src/throttle.js';

const live = { deleted: false, ttlUpdated: false };
const remote = (lifeVersion: number, more: Partial<{ deleted: boolean; ttlUpdated: boolean }> = {}) => ({
  ...live,
  ...more,
  lifeVersion,
  expiresAtMs: -1,
  operationTimeMs: 5,
});

describe('planUpdates (ambry.md 3.2)', () => {
  it('does nothing for an older or equal remote state', () => {
    expect(planUpdates({ ...live, lifeVersion: 2 }, remote(1, { deleted: true }))).toEqual([]);
    expect(planUpdates({ ...live, lifeVersion: 1 }, remote(1))).toEqual([]);
    expect(
      planUpdates({ deleted: true, ttlUpdated: true, lifeVersion: 0 }, remote(0, { deleted: true })),
    ).toEqual([]);
  });

  it('adds a missing TTL update, then a missing DELETE, at the same life version', () => {
    expect(planUpdates({ ...live, lifeVersion: 0 }, remote(0, { ttlUpdated: true, deleted: true }))).toEqual([
      { kind: 'ttlUpdate', lifeVersion: 0, expiresAtMs: -1 },
      { kind: 'delete', lifeVersion: 0 },
    ]);
  });

  it('reaches a newer life with an UNDELETE or a DELETE carrying its life version', () => {
    expect(planUpdates({ deleted: true, ttlUpdated: false, lifeVersion: 0 }, remote(1))).toEqual([
      { kind: 'undelete', lifeVersion: 1 },
    ]);
    expect(planUpdates({ ...live, lifeVersion: 0 }, remote(2, { ttlUpdated: true }))).toEqual([
      { kind: 'undelete', lifeVersion: 2 },
      { kind: 'ttlUpdate', lifeVersion: 2, expiresAtMs: -1 },
    ]);
    expect(planUpdates({ ...live, lifeVersion: 0 }, remote(1, { deleted: true }))).toEqual([
      { kind: 'delete', lifeVersion: 1 },
    ]);
    // The TTL update has to land while the blob is live.
    expect(
      planUpdates(
        { deleted: true, ttlUpdated: false, lifeVersion: 0 },
        remote(1, { deleted: true, ttlUpdated: true }),
      ),
    ).toEqual([
      { kind: 'undelete', lifeVersion: 1 },
      { kind: 'ttlUpdate', lifeVersion: 1, expiresAtMs: -1 },
      { kind: 'delete', lifeVersion: 1 },
    ]);
  });

  it('has nothing to bring a present blob to when the peer holds it as freshly put', () => {
    // Why a present blob whose remote state is a fresh PUT is not read back from the local store.
    const fresh = remote(0);
    expect(isFreshPut(fresh)).toBe(true);
    for (const lifeVersion of [0, 1, 2])
      for (const deleted of [false, true])
        for (const ttlUpdated of [false, true])
          expect(planUpdates({ lifeVersion, deleted, ttlUpdated }, fresh)).toEqual([]);
    expect(isFreshPut(remote(1))).toBe(false);
    expect(isFreshPut(remote(0, { deleted: true }))).toBe(false);
    expect(isFreshPut(remote(0, { ttlUpdated: true }))).toBe(false);
  });

  it('writes a fetched PUT one life early when the peer undeleted it', () => {
    expect(putLifeVersion(remote(0))).toBe(0);
    expect(putLifeVersion(remote(3))).toBe(2);
    expect(putLifeVersion(remote(3, { deleted: true }))).toBe(3);
  });
});

describe('scheduling pieces', () => {
  const replica = (lagBytes: number | undefined, lastPolled: number) =>
    ({ lagBytes, lastPolled, partitionId: lastPolled }) as RemoteReplica;

  it('orders the most lagging first, never-polled before all, then the least recently polled', () => {
    const order = [replica(0, 1), replica(500, 2), replica(undefined, 3), replica(500, 1), replica(10, 0)]
      .sort(byPriority)
      .map((r) => `${r.lagBytes}/${r.lastPolled}`);
    expect(order).toEqual(['undefined/3', '500/1', '500/2', '10/0', '0/1']);
  });

  it('serves lagging replicas first without starving caught-up ones', () => {
    // 10 replicas that never stop lagging and 10 that look caught up; batches of 4.
    const replicas = Array.from({ length: 20 }, (_, i) => replica(i < 10 ? 1000 + i : 0, 0));
    const polled = new Set<number>();
    for (let round = 1; round <= 10; round++) {
      const batch = pickBatch(replicas, 4);
      expect(batch.length).toBe(4);
      expect(batch[0]!.lagBytes).toBeGreaterThanOrEqual(1000); // the most lagging lead
      for (const r of batch) {
        r.lastPolled = round;
        polled.add(replicas.indexOf(r));
      }
    }
    expect(polled.size).toBe(20);
  });

  it('backs off by doubling up to the ceiling and resets', () => {
    const backoff = new DoublingBackoff(50, 5000);
    const waits = Array.from({ length: 9 }, () => backoff.grow());
    expect(waits).toEqual([50, 100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    backoff.reset();
    expect(backoff.grow()).toBe(50);
  });

  it('limits holders and hands slots over in order', async () => {
    const limiter = new Limiter(2);
    const first = await limiter.acquire();
    await limiter.acquire();
    const order: number[] = [];
    const third = limiter.acquire().then((release) => {
      order.push(3);
      return release;
    });
    await Promise.resolve();
    expect(order).toEqual([]);
    first();
    (await third)();
    expect(order).toEqual([3]);
    expect(limiter.inUse).toBe(1);
  });

  it('bounds bytes in flight, in arrival order; a request over the limit goes alone', async () => {
    const budget = new ByteBudget(100);
    const first = await budget.acquire(60);
    const order: string[] = [];
    const big = budget.acquire(500).then((release) => {
      order.push('big');
      return release;
    });
    const small = budget.acquire(10).then((release) => {
      order.push('small');
      return release;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual([]); // the small one would fit, but does not overtake the big one
    first();
    const releaseBig = await big;
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(['big']);
    expect(budget.inUse).toBe(500);
    releaseBig();
    (await small)();
    expect(order).toEqual(['big', 'small']);
    expect(budget.inUse).toBe(0);
  });

  it('gates fetches by slots and bytes together', async () => {
    const gate = new FetchGate(2, 1000);
    const a = await gate.acquire(400);
    const b = await gate.acquire(400);
    let third = false;
    const c = gate.acquire(0).then((release) => {
      third = true;
      return release;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(third).toBe(false); // both slots taken
    a();
    (await c)();
    b();
    expect(gate.inUse).toEqual({ slots: 0, bytes: 0 });
  });

  it('throttles with a token bucket on an injected clock', async () => {
    let now = 0;
    const throttle = new Throttle(1000, () => now);
    const signal = new AbortController().signal;
    await throttle.take(1000, signal); // the first second's burst
    let done = false;
    const next = throttle.take(10, signal).then(() => {
      done = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(done).toBe(false);
    now += 1000;
    await next;
    expect(done).toBe(true);
    expect(new Throttle(0).unlimited).toBe(true);
  });

  it('validates its config, naming bad and unknown keys', () => {
    expect(() => resolveReplicationConfig({ intraDc: { concurrency: 0 } })).toThrow(/intraDc\.concurrency/);
    expect(() => resolveReplicationConfig({ nope: 1 } as never)).toThrow(/nope: unknown key/);
    expect(() => resolveReplicationConfig({ intraDc: { requestsPerRound: 0 } })).toThrow(
      /intraDc\.requestsPerRound/,
    );
    expect(() => resolveReplicationConfig({ interDc: { fetchBytesInFlight: 1.5 } })).toThrow(
      /interDc\.fetchBytesInFlight/,
    );
    expect(() => resolveReplicationConfig({ idleBackoffMinMs: 10, idleBackoffMaxMs: 5 })).toThrow(
      /idleBackoffMaxMs/,
    );
  });
});
