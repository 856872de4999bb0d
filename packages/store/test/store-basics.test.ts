import { Readable } from 'node:stream';
import { ErrorCode, SealState } from '@ambry/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { BlobStore, type StoreOptions } from '../src/index.js';
import { blobBytes, newId, propertiesFor, TempDirs } from './helpers.js';

const temp = new TempDirs();
afterEach(() => temp.cleanup());

async function openStore(extra: Partial<StoreOptions> = {}): Promise<BlobStore> {
  const dir = extra.dir ?? (await temp.make());
  return BlobStore.open({ capacityBytes: 64 * 1024 * 1024, segmentBytes: 1024 * 1024, ...extra, dir });
}

describe('BlobStore basics', () => {
  it('puts and gets a blob with properties and user metadata', async () => {
    const store = await openStore();
    const id = newId();
    const bytes = blobBytes(1, 5000);
    const put = await store.put({
      id,
      properties: propertiesFor(bytes.length),
      userMetadata: { a: 'b' },
      blob: bytes,
    });
    expect(put).toEqual({ lifeVersion: 0, applied: true });
    const got = await store.get(id);
    expect(got.blob.equals(bytes)).toBe(true);
    expect(got.userMetadata).toEqual({ a: 'b' });
    expect(got.properties.serviceId).toBe('store-test');
    expect(got.state.deleted).toBe(false);
    const range = await store.get(id, { range: { offset: 4990, length: 100 } });
    expect(range.range).toEqual({ offset: 4990, length: 10 });
    expect(range.blob.equals(bytes.subarray(4990))).toBe(true);
    await expect(store.get(id, { range: { offset: 5000, length: 1 } })).rejects.toMatchObject({
      code: ErrorCode.RANGE_NOT_SATISFIABLE,
    });
    const info = await store.getInfo(id);
    expect(info.blobSize).toBe(5000);
    expect(store.stats().blobCount).toBe(1);
    await store.close();
  });

  it('accepts a stream of the declared size and refuses a short one', async () => {
    const store = await openStore();
    const bytes = blobBytes(2, 100_000);
    const id = newId();
    await store.put({
      id,
      properties: propertiesFor(bytes.length),
      blob: Readable.from([bytes.subarray(0, 1), bytes.subarray(1)]),
      blobSize: bytes.length,
    });
    expect((await store.get(id)).blob.equals(bytes)).toBe(true);
    const short = newId();
    await expect(
      store.put({
        id: short,
        properties: propertiesFor(10),
        blob: Readable.from([Buffer.alloc(5)]),
        blobSize: 10,
      }),
    ).rejects.toMatchObject({ code: ErrorCode.BAD_REQUEST });
    await expect(store.get(short)).rejects.toMatchObject({ code: ErrorCode.BLOB_NOT_FOUND });
    await store.close();
  });

  it('deletes, undeletes, updates TTL with life versions', async () => {
    const store = await openStore();
    const id = newId();
    await store.put({
      id,
      properties: propertiesFor(3, { creationTimeMs: Date.now(), ttlSeconds: 3600 }),
      blob: Buffer.from('abc'),
    });
    expect(await store.updateTtl(id, -1)).toEqual({ lifeVersion: 0, applied: true });
    await expect(store.updateTtl(id, -1)).rejects.toMatchObject({ code: ErrorCode.BLOB_ALREADY_UPDATED });
    expect(await store.delete(id)).toEqual({ lifeVersion: 0, applied: true });
    await expect(store.get(id)).rejects.toMatchObject({ code: ErrorCode.BLOB_DELETED });
    expect((await store.get(id, { includeDeleted: true })).blob.toString()).toBe('abc');
    await expect(store.delete(id)).rejects.toMatchObject({ code: ErrorCode.BLOB_DELETED });
    expect(await store.undelete(id)).toEqual({ lifeVersion: 1, applied: true });
    await expect(store.undelete(id)).rejects.toMatchObject({ code: ErrorCode.BLOB_ALREADY_UNDELETED });
    expect((await store.get(id)).state).toMatchObject({
      lifeVersion: 1,
      deleted: false,
      ttlUpdated: true,
      expiresAtMs: -1,
    });
    // Replication with an older life version is ignored.
    expect(await store.delete(id, { lifeVersion: 0 })).toEqual({ lifeVersion: 1, applied: false });
    expect(await store.delete(id, { lifeVersion: 1 })).toEqual({ lifeVersion: 1, applied: true });
    await store.close();
  });

  it('treats a retried identical PUT as success and a different one as a conflict', async () => {
    const store = await openStore();
    const id = newId();
    const bytes = blobBytes(3, 64);
    const [a, b] = await Promise.all([
      store.put({ id, properties: propertiesFor(64), blob: bytes }),
      store.put({ id, properties: propertiesFor(64), blob: bytes }),
    ]);
    expect([a.applied, b.applied].sort()).toEqual([false, true]);
    await expect(
      store.put({ id, properties: propertiesFor(64), blob: blobBytes(4, 64) }),
    ).rejects.toMatchObject({
      code: ErrorCode.BLOB_ALREADY_EXISTS,
    });
    expect((await store.put({ id, properties: propertiesFor(64), blob: bytes })).applied).toBe(false);
    await store.close();
  });

  it('applies writes in the order they were issued, without awaiting in between', async () => {
    const store = await openStore();
    const id = newId();
    const [put, deleted, undeleted] = await Promise.all([
      store.put({ id, properties: propertiesFor(2), blob: Buffer.from('hi') }),
      store.delete(id),
      store.undelete(id),
    ]);
    expect([put.applied, deleted.applied, undeleted.lifeVersion]).toEqual([true, true, 1]);
    await store.close();
  });

  it('reads expired blobs as expired unless asked to include them', async () => {
    let now = 1_700_000_000_000;
    const store = await openStore({ clock: () => now });
    const id = newId();
    await store.put({
      id,
      properties: propertiesFor(1, { creationTimeMs: now, ttlSeconds: 10 }),
      blob: Buffer.from('x'),
    });
    expect((await store.get(id)).state.expired).toBe(false);
    now += 10_000;
    await expect(store.get(id)).rejects.toMatchObject({ code: ErrorCode.BLOB_EXPIRED });
    expect((await store.get(id, { includeExpired: true })).state.expired).toBe(true);
    await store.close();
  });

  it('keeps everything across close and reopen, persisting and searching index segments', async () => {
    const dir = await temp.make();
    const store = await openStore({ dir, maxMemoryRecords: 50 });
    const ids = [];
    for (let i = 0; i < 300; i++) {
      const id = newId();
      ids.push(id);
      await store.put({ id, properties: propertiesFor(100), blob: blobBytes(i, 100) });
    }
    for (let i = 0; i < 300; i += 7) await store.delete(ids[i]!);
    await store.close();
    const reopened = await openStore({ dir, maxMemoryRecords: 50 });
    expect(reopened.stats().cleanStart).toBe(true);
    expect(reopened.stats().persistedIndexSegments).toBeGreaterThan(5);
    expect(reopened.stats().blobCount).toBe(300);
    for (let i = 0; i < 300; i++) {
      if (i % 7 === 0)
        await expect(reopened.get(ids[i]!)).rejects.toMatchObject({ code: ErrorCode.BLOB_DELETED });
      else expect((await reopened.get(ids[i]!)).blob.equals(blobBytes(i, 100))).toBe(true);
    }
    expect(await reopened.findMissingKeys([ids[0]!, newId()])).toHaveLength(1);
    await reopened.close();
  });

  it('rolls log segments and seals read-only near capacity, still taking deletes and replicated copies', async () => {
    const store = await openStore({ capacityBytes: 64 * 1024, segmentBytes: 16 * 1024 });
    const ids = [];
    let refused: unknown;
    for (let i = 0; i < 100 && refused === undefined; i++) {
      const id = newId();
      try {
        await store.put({ id, properties: propertiesFor(1000), blob: blobBytes(i, 1000) });
        ids.push(id);
      } catch (error) {
        refused = error;
      }
    }
    expect(refused).toMatchObject({ code: ErrorCode.PARTITION_READ_ONLY });
    expect(store.stats().sealState).toBe(SealState.READ_ONLY);
    await store.delete(ids[0]!);
    for (const [i, id] of ids.entries()) {
      if (i > 0) expect((await store.get(id)).blob.equals(blobBytes(i, 1000))).toBe(true);
    }
    // A copy from a peer (replication gives its life version) still lands, until the log is full.
    const copy = newId();
    await store.put({ id: copy, properties: propertiesFor(1000), blob: blobBytes(7, 1000), lifeVersion: 0 });
    expect((await store.get(copy)).blob.equals(blobBytes(7, 1000))).toBe(true);
    let full: unknown;
    for (let i = 0; i < 100 && full === undefined; i++) {
      await store
        .put({ id: newId(), properties: propertiesFor(1000), blob: blobBytes(i, 1000), lifeVersion: 0 })
        .catch((error: unknown) => {
          full = error;
        });
    }
    expect(full).toMatchObject({ code: ErrorCode.DISK_FULL });
    await store.close();
  });
});
