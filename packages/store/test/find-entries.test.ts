import fs from 'node:fs/promises';
import { type BlobId, ErrorCode, type MessageInfo } from '@ambry/protocol';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultyIo } from '../src/index.js';
import { decodeToken, encodeToken, ID_BYTES } from '../src/token.js';
import {
  drain,
  expectEachOnce,
  openStore,
  pageUntil,
  putBlobs,
  putUntilSegmentsGrow,
  START,
  T0,
} from './find-entries-fixture.js';
import { blobBytes, newId, propertiesFor, TempDirs } from './helpers.js';

const temp = new TempDirs();
afterEach(() => temp.cleanup());

describe('findEntriesSince', () => {
  it('returns every key once across persisted segments and the journal, for any page size', async () => {
    const store = await openStore(await temp.make());
    const ids = await putBlobs(store, 60);
    for (let i = 0; i < 50 && store.stats().memoryRecords === 0; i++) ids.push(...(await putBlobs(store, 1)));
    expect(store.stats().persistedIndexSegments).toBeGreaterThanOrEqual(4);
    expect(store.stats().memoryRecords).toBeGreaterThan(0);
    for (const maxBytes of [1, 150, 500, 2000, 1_000_000]) {
      const page = await drain(store, START, maxBytes);
      expectEachOnce(page.entries, ids);
      if (maxBytes === 1) expect(page.calls).toBeGreaterThanOrEqual(ids.length);
      // Caught up: nothing more, and the token stays put.
      const again = await store.findEntriesSince(page.token, maxBytes);
      expect(again.entries).toEqual([]);
      expect(again.lagBytes).toBe(0);
      expect(again.token.equals(page.token)).toBe(true);
    }
    await store.close();
  });

  it('skips nothing and repeats nothing when the journal under a held token is persisted', async () => {
    const store = await openStore(await temp.make());
    const ids = await putBlobs(store, 20);
    const first = await pageUntil(store, START, 'journal');
    // Hold a position a few records into the journal, so the segment it lands in starts before it.
    for (let i = 0; i < 3; i++) {
      const page = await store.findEntriesSince(first.token, 1);
      first.entries.push(...page.entries);
      first.token = page.token;
    }
    expect(decodeToken(first.token).kind).toBe('journal');
    // More of the current journal is written, then persisted: the held position now lies in a segment.
    await putUntilSegmentsGrow(store, ids);
    await putUntilSegmentsGrow(store, ids);
    const next = await store.findEntriesSince(first.token, 1);
    expect(decodeToken(next.token).kind).toBe('index');
    const rest = await drain(store, next.token, 1);
    expectEachOnce([...first.entries, ...next.entries, ...rest.entries], ids);

    // The same from a token inside a segment while later segments appear.
    const mid = await pageUntil(store, START, 'index');
    const midMore = await pageUntil(store, mid.token, 'index');
    await putUntilSegmentsGrow(store, ids);
    const tail = await drain(store, midMore.token, 300);
    expectEachOnce([...mid.entries, ...midMore.entries, ...tail.entries], ids);
    await store.close();
  });

  it('never skips or repeats a put-only key, whatever persists, reopens and crashes come between pages', async () => {
    const op = fc.oneof(
      fc.record({ t: fc.constant('put' as const), n: fc.integer({ min: 1, max: 12 }) }),
      fc.record({ t: fc.constant('page' as const), maxBytes: fc.integer({ min: 1, max: 1500 }) }),
      fc.record({ t: fc.constant('reopen' as const), crash: fc.boolean() }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 14 }), async (ops) => {
        const dir = await temp.make();
        let io = new FaultyIo();
        let store = await openStore(dir, { io });
        const ids: BlobId[] = [];
        const seen: MessageInfo[] = [];
        let token: Buffer = Buffer.alloc(0);
        try {
          for (const o of ops) {
            if (o.t === 'put') ids.push(...(await putBlobs(store, o.n, 60)));
            else if (o.t === 'page') {
              const page = await store.findEntriesSince(token, o.maxBytes);
              seen.push(...page.entries);
              token = page.token;
            } else {
              if (o.crash) await io.crashNow();
              await store.close().catch(() => {});
              io = new FaultyIo();
              store = await openStore(dir, { io });
            }
          }
          const rest = await drain(store, token, 700);
          expectEachOnce([...seen, ...rest.entries], ids);
        } finally {
          await store.close().catch(() => {});
        }
      }),
      { numRuns: 40 },
    );
  });

  it('reports the current state of a key, reached from a segment or from the journal', async () => {
    const store = await openStore(await temp.make());
    const [a, b, c] = await putBlobs(store, 3);
    const before = (await drain(store, START, 1_000_000)).token;
    await putBlobs(store, 20); // pushes the three PUTs into persisted segments
    await store.updateTtl(a!, -1, { operationTimeMs: T0 + 1 });
    await store.delete(b!, { operationTimeMs: T0 + 2 });
    await store.delete(c!, { operationTimeMs: T0 + 3 });
    await store.undelete(c!, { operationTimeMs: T0 + 4 });
    const expected = {
      [a!.toString()]: {
        deleted: false,
        ttlUpdated: true,
        undeleted: false,
        lifeVersion: 0,
        expiresAtMs: -1,
      },
      [b!.toString()]: { deleted: true, ttlUpdated: false, undeleted: false, lifeVersion: 0 },
      [c!.toString()]: { deleted: false, ttlUpdated: false, undeleted: true, lifeVersion: 1 },
    };
    const times = { [a!.toString()]: T0 + 1, [b!.toString()]: T0 + 2, [c!.toString()]: T0 + 4 };
    for (const from of [START, before]) {
      const found = (await drain(store, from, 1)).entries.filter((e) => e.blobId.toString() in expected);
      expect(found.length).toBeGreaterThanOrEqual(3);
      for (const e of found) {
        expect(e).toMatchObject(expected[e.blobId.toString()]!);
        expect(e.operationTimeMs).toBe(times[e.blobId.toString()]);
      }
    }
    await store.close();
  });

  it('leaves a consumer that applies every entry with exactly the store state', async () => {
    type Op =
      | { t: 'put'; n: number }
      | { t: 'delete' | 'ttl' | 'undelete'; k: number }
      | { t: 'page'; maxBytes: number }
      | { t: 'reopen'; crash: boolean };
    const op: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 3,
        arbitrary: fc.record({ t: fc.constant('put' as const), n: fc.integer({ min: 1, max: 9 }) }),
      },
      {
        weight: 4,
        arbitrary: fc.record({
          t: fc.constantFrom('delete' as const, 'ttl' as const, 'undelete' as const),
          k: fc.nat(),
        }),
      },
      {
        weight: 3,
        arbitrary: fc.record({
          t: fc.constant('page' as const),
          maxBytes: fc.integer({ min: 1, max: 2000 }),
        }),
      },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('reopen' as const), crash: fc.boolean() }) },
    );
    const newState = (time: number) => ({
      deleted: false,
      ttlUpdated: false,
      undeleted: false,
      lifeVersion: 0,
      expiresAtMs: T0 + 3_600_000,
      operationTimeMs: time,
    });
    type State = ReturnType<typeof newState>;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), async (ops) => {
        const dir = await temp.make();
        let io = new FaultyIo();
        let store = await openStore(dir, { io });
        const model = new Map<string, { id: BlobId; state: State }>();
        const consumer = new Map<string, MessageInfo>();
        let token: Buffer = Buffer.alloc(0);
        let time = T0;
        const apply = (entries: readonly MessageInfo[]) => {
          for (const e of entries) consumer.set(e.blobId.toString(), e);
        };
        try {
          for (const o of ops) {
            time += 1;
            if (o.t === 'put') {
              for (let i = 0; i < o.n; i++) {
                const id = newId();
                const properties = propertiesFor(40, { creationTimeMs: T0, ttlSeconds: 3600 });
                await store.put({ id, properties, blob: blobBytes(i, 40), operationTimeMs: time });
                model.set(id.toString(), { id, state: newState(time) });
              }
            } else if (o.t === 'page') {
              const page = await store.findEntriesSince(token, o.maxBytes);
              apply(page.entries);
              token = page.token;
            } else if (o.t === 'reopen') {
              if (o.crash) await io.crashNow();
              await store.close().catch(() => {});
              io = new FaultyIo();
              store = await openStore(dir, { io });
            } else {
              const eligible = [...model.values()].filter(({ state: s }) =>
                o.t === 'delete' ? !s.deleted : o.t === 'undelete' ? s.deleted : !s.deleted && !s.ttlUpdated,
              );
              const target = eligible[o.k % Math.max(1, eligible.length)];
              if (target === undefined) continue;
              const s = target.state;
              const opts = { operationTimeMs: time };
              if (o.t === 'delete') {
                await store.delete(target.id, opts);
                Object.assign(s, { deleted: true, undeleted: false });
              } else if (o.t === 'undelete') {
                await store.undelete(target.id, opts);
                Object.assign(s, { deleted: false, undeleted: true, lifeVersion: s.lifeVersion + 1 });
              } else {
                await store.updateTtl(target.id, -1, opts);
                Object.assign(s, { ttlUpdated: true, expiresAtMs: -1 });
              }
              s.operationTimeMs = time;
            }
          }
          apply((await drain(store, token, 900)).entries);
          expect(new Set(consumer.keys())).toEqual(new Set(model.keys()));
          for (const [key, { id, state }] of model) {
            expect(consumer.get(key), key).toMatchObject(state);
            const info = await store.getInfo(id, { includeDeleted: true, includeExpired: true });
            expect(info.state).toMatchObject({
              deleted: state.deleted,
              ttlUpdated: state.ttlUpdated,
              lifeVersion: state.lifeVersion,
              expiresAtMs: state.expiresAtMs,
              operationTimeMs: state.operationTimeMs,
            });
          }
        } finally {
          await store.close().catch(() => {});
        }
      }),
      { numRuns: 40 },
    );
  });

  it('restarts a token of another incarnation from the beginning', async () => {
    const dir = await temp.make();
    const old = await openStore(dir);
    await putBlobs(old, 40);
    const oldToken = (await drain(old, START, 1_000_000)).token;
    await old.close();
    await fs.rm(dir, { recursive: true, force: true });
    const fresh = await openStore(dir);
    const ids = await putBlobs(fresh, 3);
    const page = await fresh.findEntriesSince(oldToken, 1_000_000);
    expectEachOnce(page.entries, ids);
    expect(page.lagBytes).toBe(0);
    // Also for an index-kind token naming the old incarnation.
    const decoded = decodeToken(page.token);
    if (decoded.kind === 'start') throw new Error('expected a positioned token');
    const foreign = encodeToken({
      kind: 'index',
      incarnation: Buffer.alloc(ID_BYTES, 0xab),
      session: decoded.session,
      segmentStart: 1 << 20,
      segmentEnd: 1 << 21,
      sincePosition: 1 << 20,
      lastKey: Buffer.from('zz'),
    });
    expectEachOnce((await fresh.findEntriesSince(foreign, 1_000_000)).entries, ids);
    await fresh.close();
  });

  it('rejects malformed tokens and non-positive maxBytes with BAD_REQUEST', async () => {
    const store = await openStore(await temp.make());
    await putBlobs(store, 2);
    const good = (await store.findEntriesSince(START, 1)).token;
    const bad = [
      Buffer.from([9]),
      Buffer.from([99, 0]),
      Buffer.from([1, 7]),
      good.subarray(0, good.length - 1),
      Buffer.concat([good, Buffer.from([0])]),
    ];
    for (const token of bad) {
      await expect(store.findEntriesSince(token, 1000)).rejects.toMatchObject({
        code: ErrorCode.BAD_REQUEST,
      });
    }
    for (const maxBytes of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(store.findEntriesSince(good, maxBytes)).rejects.toMatchObject({
        code: ErrorCode.BAD_REQUEST,
      });
    }
    await store.close();
  });

  it('reports lag: zero when caught up, the unread log bytes when behind', async () => {
    const store = await openStore(await temp.make());
    const empty = await store.findEntriesSince(START, 1000);
    expect(empty).toMatchObject({ entries: [], lagBytes: 0 });
    await putBlobs(store, 30);
    const first = await store.findEntriesSince(START, 1);
    expect(first.lagBytes).toBeGreaterThan(0);
    const caughtUp = await drain(store, first.token, 1);
    const used = store.stats().bytesUsed;
    await putBlobs(store, 1);
    const grown = store.stats().bytesUsed - used;
    const behind = await store.findEntriesSince(caughtUp.token, 1);
    expect(behind.entries).toHaveLength(1);
    expect(behind.lagBytes).toBe(0);
    const stale = await store.findEntriesSince(first.token, 1);
    expect(stale.lagBytes).toBeGreaterThan(grown);
    await store.close();
  });

  it('fills in every MessageInfo field', async () => {
    const store = await openStore(await temp.make());
    const id = newId();
    const before = store.stats().bytesUsed;
    const properties = propertiesFor(777, {
      accountId: 42,
      containerId: 9,
      creationTimeMs: T0,
      ttlSeconds: 60,
    });
    await store.put({ id, properties, blob: blobBytes(1, 777), operationTimeMs: T0 - 5 });
    const recordBytes = store.stats().bytesUsed - before;
    const { entries } = await store.findEntriesSince(START, 1);
    expect(entries).toHaveLength(1);
    const [info] = entries;
    expect(info!.blobId.equals(id)).toBe(true);
    expect(info).toMatchObject({
      size: recordBytes,
      accountId: 42,
      containerId: 9,
      expiresAtMs: T0 + 60_000,
      operationTimeMs: T0 - 5,
      deleted: false,
      ttlUpdated: false,
      undeleted: false,
      lifeVersion: 0,
    });
    expect(recordBytes).toBeGreaterThan(777);
    await store.close();
  });
});
