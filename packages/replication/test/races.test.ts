import { ErrorCode, SealState } from '@ambry/protocol';
import { type BlobStore, StoreError } from '@ambry/store';
import { afterEach, describe, expect, it } from 'vitest';
import {
  contentOf,
  deleteOn,
  type Fixture,
  makeBlob,
  nextOpTime,
  putOn,
  startFixture,
  stateOf,
  type Trio,
  ttlUpdateOn,
  undeleteOn,
} from './fixture.js';

let fixture: Fixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

async function sameState(from: BlobStore, to: BlobStore, id: string): Promise<void> {
  expect((await stateOf(to)).get(id)).toEqual((await stateOf(from)).get(id));
}

describe('races', () => {
  it('a blob deleted or TTL-updated at the peer while being copied arrives in its newer state', async () => {
    fixture = await startFixture({ partitions: 1 });
    const [a, b, c] = fixture.nodes as Trio;
    const p = fixture.partitionIds[0]!;
    const storeA = fixture.store(a, p);
    const doomed = makeBlob(p);
    const extended = makeBlob(p, { ttlSeconds: 10 ** 9 });
    const revived = makeBlob(p);
    await putOn([storeA], doomed);
    await putOn([storeA], extended);
    await putOn([storeA], revived);
    await deleteOn([storeA], revived.id);
    await undeleteOn([storeA], revived.id);
    // Between A's metadata answer and C's GET, A's copies change.
    fixture.intercept(async (node, type, id) => {
      if (type !== 'get' || node.key !== a.key || id === undefined) return;
      if (id.equals(doomed.id)) await storeA.delete(id, { operationTimeMs: nextOpTime() }).catch(() => {});
      if (id.equals(extended.id))
        await storeA.updateTtl(id, -1, { operationTimeMs: nextOpTime() }).catch(() => {});
      if (id.equals(revived.id)) {
        await storeA.delete(id, { operationTimeMs: nextOpTime() }).catch(() => {});
      }
    });
    const engine = await fixture.engine(c);
    expect(await engine.catchUp()).toBe(true);
    for (const blob of [doomed, extended, revived]) {
      await sameState(storeA, fixture.store(c, p), blob.id.toString());
      expect(await contentOf(fixture.store(c, p), blob.id)).toBe(await contentOf(storeA, blob.id));
    }
    expect((await stateOf(fixture.store(c, p))).get(revived.id.toString())).toMatchObject({
      deleted: true,
      lifeVersion: 1,
    });
    expect(fixture.store(b, p).stats().blobCount).toBe(0); // B was never involved
  });

  it('the same blob from two peers at once is written once, without an error', async () => {
    fixture = await startFixture({ partitions: 1 });
    const [a, b, c] = fixture.nodes as Trio;
    const p = fixture.partitionIds[0]!;
    const blobs = Array.from({ length: 5 }, () => makeBlob(p));
    for (const blob of blobs) await putOn([fixture.store(a, p), fixture.store(b, p)], blob);
    await ttlUpdateOn([fixture.store(a, p), fixture.store(b, p)], blobs[0]!.id);
    // Hold each GET until the other peer was asked for the same blob (bounded: at most a few turns).
    const asked = new Map<string, number>();
    fixture.intercept(async (_node, type, id) => {
      if (type !== 'get' || id === undefined) return;
      const key = id.toString();
      asked.set(key, (asked.get(key) ?? 0) + 1);
      for (let turn = 0; turn < 200 && asked.get(key)! < 2; turn++) {
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
    const engine = await fixture.engine(c);
    expect(await engine.catchUp()).toBe(true);
    const counters = engine.metrics().intraDc;
    expect(counters.blobErrors).toBe(0);
    expect(counters.putsWritten).toBe(blobs.length);
    expect(counters.putsWritten + counters.putsAlreadyPresent).toBe(counters.blobsFetched);
    expect([...asked.values()].every((n) => n === 2)).toBe(true); // both peers were really asked
    for (const blob of blobs) await sameState(fixture.store(a, p), fixture.store(c, p), blob.id.toString());
    expect(fixture.store(c, p).stats().blobCount).toBe(blobs.length);
  });

  it('an expired blob is not copied; one that expired here is still updated', async () => {
    fixture = await startFixture({ partitions: 1 });
    const [a, b, c] = fixture.nodes as Trio;
    const p = fixture.partitionIds[0]!;
    const all = [fixture.store(a, p), fixture.store(b, p), fixture.store(c, p)];
    const expiredEverywhere = makeBlob(p, { creationTimeMs: 1_000_000, ttlSeconds: 1 });
    await putOn(all, expiredEverywhere);
    await deleteOn(all.slice(0, 2), expiredEverywhere.id); // C missed the delete of an expired blob
    const expiredNew = makeBlob(p, { creationTimeMs: 1_000_000, ttlSeconds: 1 });
    await putOn(all.slice(0, 2), expiredNew);
    const engine = await fixture.engine(c);
    expect(await engine.catchUp()).toBe(true);
    expect(await contentOf(fixture.store(c, p), expiredNew.id)).toBe('error BLOB_NOT_FOUND');
    await sameState(all[0]!, all[2]!, expiredEverywhere.id.toString());
    expect(engine.metrics().intraDc.skippedExpired).toBe(2);
  });

  it("a sealed (read-only) local replica still takes its peers' blobs, deletes and TTL updates", async () => {
    fixture = await startFixture({ partitions: 1 });
    const [a, , c] = fixture.nodes as Trio;
    const p = fixture.partitionIds[0]!;
    const storeA = fixture.store(a, p);
    const kept = makeBlob(p, { ttlSeconds: 10 ** 9 });
    const doomed = makeBlob(p);
    await putOn([storeA], kept);
    await putOn([storeA], doomed);
    const real = fixture.store(c, p);
    // Already holds `doomed`: only its DELETE is new to it.
    await putOn([real], doomed);
    await deleteOn([storeA], doomed.id);
    await ttlUpdateOn([storeA], kept.id);
    const sealed = new Proxy(real, {
      get: (target, prop) =>
        prop === 'stats'
          ? () => ({ ...target.stats(), sealState: SealState.READ_ONLY })
          : Reflect.get(target, prop, target),
    });
    const engine = await fixture.engine(c, { stores: () => sealed });
    expect(await engine.catchUp()).toBe(true);
    await sameState(storeA, real, kept.id.toString());
    await sameState(storeA, real, doomed.id.toString());
    expect((await stateOf(real)).get(doomed.id.toString())?.deleted).toBe(true);
    expect(engine.problems()).toEqual([]);
  });

  it('a local replica whose disk is full is skipped and reported, and catches up once it has room', async () => {
    fixture = await startFixture({ partitions: 1 });
    const [a, , c] = fixture.nodes as Trio;
    const p = fixture.partitionIds[0]!;
    const blob = makeBlob(p);
    await putOn([fixture.store(a, p)], blob);
    const real = fixture.store(c, p);
    let full = true;
    const filling = new Proxy(real, {
      get: (target, prop) =>
        prop === 'put' && full
          ? () => Promise.reject(new StoreError(ErrorCode.DISK_FULL, 'no space left on device'))
          : Reflect.get(target, prop, target),
    });
    const engine = await fixture.engine(c, { stores: () => filling });
    expect(await engine.catchUp({ maxRounds: 3 })).toBe(false);
    expect(engine.problems().some((x) => /DISK_FULL|no space/.test(x.problem ?? ''))).toBe(true);
    expect(real.stats().blobCount).toBe(0);
    full = false;
    expect(await engine.catchUp()).toBe(true);
    expect(await contentOf(real, blob.id)).toBe(await contentOf(fixture.store(a, p), blob.id));
  });
});
