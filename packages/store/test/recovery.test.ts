import fs from 'node:fs/promises';
import path from 'node:path';
import { type BlobId, ErrorCode } from '@ambry/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { BlobStore, FaultyIo, StoreError, type StoreOptions } from '../src/index.js';
import { blobBytes, newId, propertiesFor, TempDirs } from './helpers.js';

/** Opening a store directory after clean and unclean shutdowns, torn tails and damaged files. */

const temp = new TempDirs();
afterEach(() => temp.cleanup());

const KiB = 1024;
const BASE = { capacityBytes: 16 * 64 * KiB, segmentBytes: 64 * KiB, maxMemoryRecords: 10 };
const FIRST_LOG = '00000000.log';

interface Open {
  store: BlobStore;
  faulty: FaultyIo;
  dir: string;
}

async function open(extra: Partial<StoreOptions> = {}, faulty = new FaultyIo()): Promise<Open> {
  const dir = extra.dir ?? (await temp.make('ambry-recovery-'));
  const store = await BlobStore.open({ ...BASE, ...extra, dir, io: faulty });
  return { store, faulty, dir };
}

/** Stops the store as kill -9 would: no sync, no index persist, no marker. */
async function crash(o: Open): Promise<void> {
  await o.faulty.crashNow();
  await o.store.close().catch(() => {});
}

async function putMany(store: BlobStore, count: number, size = 500, from = 0): Promise<BlobId[]> {
  const ids: BlobId[] = [];
  for (let i = from; i < from + count; i++) {
    const id = newId();
    await store.put({
      id,
      properties: propertiesFor(size),
      userMetadata: { i: String(i) },
      blob: blobBytes(i, size),
    });
    ids.push(id);
  }
  return ids;
}

async function expectAll(store: BlobStore, ids: readonly BlobId[], size = 500, from = 0): Promise<void> {
  for (const [k, id] of ids.entries()) {
    const got = await store.get(id);
    expect(got.blob.equals(blobBytes(from + k, size)), `blob ${from + k}`).toBe(true);
    expect(got.userMetadata).toEqual({ i: String(from + k) });
  }
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StoreError);
  expect((error as StoreError).code).toBe(code);
}

/** Waits (bounded) for the background index persist to finish. */
async function persisted(store: BlobStore, segments: number): Promise<void> {
  for (let i = 0; i < 200 && store.stats().persistedIndexSegments < segments; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  expect(store.stats().persistedIndexSegments).toBe(segments);
}

async function flipByte(file: string, at: number): Promise<void> {
  const bytes = await fs.readFile(file);
  bytes[at] = bytes[at]! ^ 0xff;
  await fs.writeFile(file, bytes);
}

async function indexFiles(dir: string): Promise<string[]> {
  return (await fs.readdir(dir)).filter((n) => n.endsWith('.idx')).sort();
}

describe('restart', () => {
  it('after a crash re-indexes only the log after the last persisted index segment', async () => {
    let o = await open();
    const ids = await putMany(o.store, 25);
    for (const id of ids.slice(0, 3)) await o.store.delete(id);
    // 28 records, one per batch: the memory part was persisted at 10 and at 20.
    await persisted(o.store, 2);
    expect(o.store.stats().memoryRecords).toBe(8);
    await crash(o);

    o = await open({ dir: o.dir });
    expect(o.store.stats()).toMatchObject({
      cleanStart: false,
      recoveredRecords: 8,
      recoveryCutBytes: 0,
      persistedIndexSegments: 2,
      blobCount: 25,
    });
    for (const id of ids.slice(0, 3)) await expectCode(o.store.get(id), ErrorCode.BLOB_DELETED);
    await expectAll(o.store, ids.slice(3), 500, 3);
    await o.store.close();
  });

  it('after a clean close scans nothing', async () => {
    let o = await open();
    const ids = await putMany(o.store, 15);
    await o.store.delete(ids[0]!);
    await o.store.close();
    // A clean start reads nothing of the log but its segment header: every other log read fails here.
    const faulty = new FaultyIo();
    const rule = faulty.fail({ op: 'read', code: 'EIO', pathIncludes: '.log', skip: 1, times: Infinity });
    o = await open({ dir: o.dir }, faulty);
    rule.remove();
    expect(o.store.stats()).toMatchObject({ cleanStart: true, recoveredRecords: 0, recoveryCutBytes: 0 });
    expect(o.store.stats().persistedIndexSegments).toBe(2);
    expect(o.store.stats().blobCount).toBe(15);
    await expectCode(o.store.get(ids[0]!), ErrorCode.BLOB_DELETED);
    await expectAll(o.store, ids.slice(1), 500, 1);
    await o.store.close();
  });

  it('after a crash with nothing persisted re-indexes the whole log', async () => {
    let o = await open({ maxMemoryRecords: 1000 });
    const ids = await putMany(o.store, 12);
    await crash(o);
    o = await open({ dir: o.dir, maxMemoryRecords: 1000 });
    expect(o.store.stats()).toMatchObject({ recoveredRecords: 12, persistedIndexSegments: 0 });
    await expectAll(o.store, ids);
    await o.store.close();
  });
});

describe('torn log tail', () => {
  for (const shutdown of ['clean', 'crash'] as const) {
    it(`cuts garbage appended to the last segment (${shutdown} shutdown before)`, async () => {
      let o = await open();
      const ids = await putMany(o.store, 14);
      const used = o.store.stats().bytesUsed;
      if (shutdown === 'clean') await o.store.close();
      else await crash(o);
      const garbage = Buffer.alloc(333, 0x5a);
      await fs.appendFile(path.join(o.dir, FIRST_LOG), garbage);

      o = await open({ dir: o.dir });
      expect(o.store.stats()).toMatchObject({
        cleanStart: false,
        recoveryCutBytes: garbage.length,
        bytesUsed: used,
      });
      expect((await fs.stat(path.join(o.dir, FIRST_LOG))).size).toBe(used);
      await expectAll(o.store, ids);
      const more = await putMany(o.store, 3, 500, 100);
      await o.store.close();
      o = await open({ dir: o.dir });
      expect(o.store.stats()).toMatchObject({ cleanStart: true, recoveryCutBytes: 0 });
      await expectAll(o.store, ids);
      await expectAll(o.store, more, 500, 100);
      await o.store.close();
    });
  }

  it('ends the log at a corrupt record in the unindexed tail, not serving it or anything after', async () => {
    let o = await open({ maxMemoryRecords: 1000 });
    const ids = await putMany(o.store, 6, 2000);
    const end = o.store.stats().bytesUsed;
    await crash(o);
    const file = path.join(o.dir, FIRST_LOG);
    const log = await fs.readFile(file);
    const at = log.indexOf(blobBytes(3, 2000));
    const recordStart = log.lastIndexOf(Buffer.from([0x0b, 0xb1, 0x01, 0x01]), at);
    await flipByte(file, at + 100);

    o = await open({ dir: o.dir, maxMemoryRecords: 1000 });
    expect(o.store.stats()).toMatchObject({
      recoveredRecords: 3,
      recoveryCutBytes: end - recordStart,
      bytesUsed: recordStart,
    });
    await expectAll(o.store, ids.slice(0, 3), 2000);
    for (const id of ids.slice(3)) await expectCode(o.store.get(id), ErrorCode.BLOB_NOT_FOUND);
    await o.store.close();
  });

  it('cuts a truncated record (a whole header, part of the body)', async () => {
    let o = await open();
    const ids = await putMany(o.store, 5, 2000);
    const start = o.store.stats().bytesUsed;
    await putMany(o.store, 1, 2000, 50);
    const end = o.store.stats().bytesUsed;
    await crash(o);
    const file = path.join(o.dir, FIRST_LOG);
    const record = (await fs.readFile(file)).subarray(start, end);
    // Only a prefix of the last record made it to disk.
    const kept = Math.floor(record.length * 0.6);
    await fs.truncate(file, start + kept);

    o = await open({ dir: o.dir });
    expect(o.store.stats()).toMatchObject({ recoveryCutBytes: kept, bytesUsed: start, blobCount: 5 });
    await expectAll(o.store, ids, 2000);
    await o.store.close();
  });
});

describe('damaged files', () => {
  it('never serves a blob whose bytes were flipped in a persisted region; others still read', async () => {
    let o = await open();
    const ids = await putMany(o.store, 12, 3000);
    await o.store.close();
    const file = path.join(o.dir, FIRST_LOG);
    const log = await fs.readFile(file);
    const at = log.indexOf(blobBytes(5, 3000));
    expect(at).toBeGreaterThan(0);
    await flipByte(file, at + 1234);

    o = await open({ dir: o.dir });
    expect(o.store.stats().cleanStart).toBe(true);
    await expectCode(o.store.get(ids[5]!), ErrorCode.DATA_CORRUPT);
    await expectCode(o.store.get(ids[5]!, { range: { offset: 0, length: 10 } }), ErrorCode.DATA_CORRUPT);
    await expectAll(o.store, ids.slice(0, 5), 3000);
    await expectAll(o.store, ids.slice(6), 3000, 6);
    // Not poisoned: writes and reads go on.
    await expectAll(o.store, await putMany(o.store, 2, 3000, 60), 3000, 60);
    await o.store.close();
  });

  // Offsets inside the second index segment file: the header, the bloom filter/summary, the entries.
  for (const where of ['header', 'summary', 'entries'] as const) {
    it(`drops an index segment with a flipped byte in its ${where} and re-indexes the log`, async () => {
      let o = await open({ entriesPerBlock: 4 });
      const ids = await putMany(o.store, 30);
      await o.store.delete(ids[12]!);
      await o.store.close();
      const names = await indexFiles(o.dir);
      expect(names.length).toBe(4);
      const victim = path.join(o.dir, names[1]!);
      const size = (await fs.stat(victim)).size;
      await flipByte(victim, where === 'header' ? 20 : where === 'summary' ? 70 : size - 10);

      o = await open({ dir: o.dir, entriesPerBlock: 4 });
      const stats = o.store.stats();
      expect(stats.persistedIndexSegments).toBe(1);
      // The log after the first good segment was re-indexed: 20 puts and the delete.
      expect(stats).toMatchObject({ cleanStart: false, recoveredRecords: 21, blobCount: 30 });
      await expectAll(o.store, ids.slice(0, 12));
      await expectCode(o.store.get(ids[12]!), ErrorCode.BLOB_DELETED);
      await expectAll(o.store, ids.slice(13), 500, 13);
      await o.store.close();
      o = await open({ dir: o.dir, entriesPerBlock: 4 });
      expect(o.store.stats()).toMatchObject({ cleanStart: true, blobCount: 30 });
      await expectAll(o.store, ids.slice(13), 500, 13);
      await o.store.close();
    });
  }

  it('removes a leftover index segment temp file', async () => {
    let o = await open();
    const ids = await putMany(o.store, 12);
    await o.store.close();
    const leftover = path.join(o.dir, `${'0'.repeat(14)}99.idx.tmp`);
    await fs.writeFile(leftover, Buffer.alloc(100, 1));
    o = await open({ dir: o.dir });
    expect((await fs.readdir(o.dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    await expectAll(o.store, ids);
    await o.store.close();
  });

  it('falls back to a scan when the clean-shutdown marker is damaged', async () => {
    let o = await open();
    const ids = await putMany(o.store, 5);
    await o.store.close();
    await flipByte(path.join(o.dir, 'clean-shutdown'), 14);
    o = await open({ dir: o.dir });
    expect(o.store.stats()).toMatchObject({ cleanStart: false, recoveryCutBytes: 0 });
    await expectAll(o.store, ids);
    await o.store.close();
  });

  for (const damage of ['flipped', 'truncated', 'missing'] as const) {
    it(`refuses to open a store whose descriptor is ${damage}`, async () => {
      const o = await open();
      await putMany(o.store, 2);
      await o.store.close();
      const descriptor = path.join(o.dir, 'store.descriptor');
      if (damage === 'flipped') await flipByte(descriptor, 20);
      else if (damage === 'truncated') await fs.truncate(descriptor, 10);
      else await fs.rm(descriptor);
      await expectCode(BlobStore.open({ ...BASE, dir: o.dir }), ErrorCode.DATA_CORRUPT);
      // The refusal changed nothing: the descriptor was not silently replaced.
      await expectCode(BlobStore.open({ ...BASE, dir: o.dir }), ErrorCode.DATA_CORRUPT);
    });
  }

  it('refuses to open with a different segment size', async () => {
    const o = await open();
    const ids = await putMany(o.store, 2);
    await o.store.close();
    await expectCode(BlobStore.open({ ...BASE, segmentBytes: 32 * KiB, dir: o.dir }), ErrorCode.BAD_REQUEST);
    const again = await open({ dir: o.dir });
    await expectAll(again.store, ids);
    await again.store.close();
  });
});
