import fs from 'node:fs/promises';
import path from 'node:path';
import { type BlobId, ErrorCode, type MessageInfo } from '@ambry/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import type { BlobStore } from '../src/index.js';
import { decodeToken, encodeToken } from '../src/token.js';
import { drain, openStore, putBlobs, START, T0 } from './find-entries-fixture.js';
import { blobBytes, newId, propertiesFor, TempDirs } from './helpers.js';

const temp = new TempDirs();
afterEach(() => temp.cleanup());

/** Copies `from` into `to` chunk by chunk until `from` has nothing more; returns the last token and the chunk count. */
async function copyLog(
  from: BlobStore,
  to: BlobStore,
  maxBytes: number,
  token: Uint8Array = START,
  logEnd?: number,
) {
  let current = token;
  let end = logEnd;
  for (let chunks = 1; chunks <= 5000; chunks++) {
    const chunk = await from.readLogChunk(current, maxBytes);
    end = await to.appendLogChunk(chunk, end);
    current = chunk.token;
    if (chunk.lagBytes === 0) return { token: current, chunks };
  }
  throw new Error('the copy never caught up');
}

async function logFiles(dir: string): Promise<Map<string, Buffer>> {
  const names = (await fs.readdir(dir)).filter((n) => n.endsWith('.log')).sort();
  return new Map(
    await Promise.all(names.map(async (n) => [n, await fs.readFile(path.join(dir, n))] as const)),
  );
}

/** A source with puts of several sizes over several log segments, plus every kind of update record. */
async function fillSource(
  store: BlobStore,
): Promise<{ ids: BlobId[]; deleted: BlobId; undeleted: BlobId; ttl: BlobId }> {
  const ids = [...(await putBlobs(store, 30, 100)), ...(await putBlobs(store, 6, 5000))];
  const [deleted, undeleted, ttl] = ids as [BlobId, BlobId, BlobId];
  await store.delete(deleted, { operationTimeMs: T0 + 1 });
  await store.delete(undeleted, { operationTimeMs: T0 + 1 });
  await store.undelete(undeleted, { operationTimeMs: T0 + 2 });
  await store.updateTtl(ttl, -1, { operationTimeMs: T0 + 3 });
  ids.push(...(await putBlobs(store, 10, 300)));
  return { ids, deleted, undeleted, ttl };
}

describe('log chunks', () => {
  it('rebuild an empty store byte for byte, with every blob and state, for any chunk bound', async () => {
    const sourceDir = await temp.make();
    const source = await openStore(sourceDir);
    const { ids, deleted, undeleted, ttl } = await fillSource(source);
    expect(source.stats().bytesUsed).toBeGreaterThan(2 * 16 * 1024); // three log segments or more
    for (const maxBytes of [1, 700, 4096, 1024 * 1024]) {
      const dir = await temp.make();
      const copy = await openStore(dir);
      const { token, chunks } = await copyLog(source, copy, maxBytes);
      if (maxBytes === 1) expect(chunks).toBeGreaterThanOrEqual(source.stats().memoryRecords);
      expect(copy.stats().bytesUsed).toBe(source.stats().bytesUsed);
      expect(copy.stats().blobCount).toBe(ids.length);
      // The token names the source's position: what REPLICA_METADATA continues from.
      expect(decodeToken(token)).toMatchObject({ kind: 'journal', position: source.stats().bytesUsed });
      expect((await source.findEntriesSince(token, 1_000_000)).entries).toEqual([]);
      for (const id of ids) {
        const [a, b] = await Promise.all(
          [source, copy].map((s) => s.get(id, { includeDeleted: true, includeExpired: true })),
        );
        expect(b!.blob.equals(a!.blob)).toBe(true);
        expect(b!.state).toEqual(a!.state);
      }
      expect((await copy.getInfo(undeleted)).state.deleted).toBe(false);
      await expect(copy.get(deleted)).rejects.toMatchObject({ code: ErrorCode.BLOB_DELETED });
      expect((await copy.getInfo(ttl)).state.expiresAtMs).toBe(-1);
      // The copy serves its own peers the same entries as the source (in its own index order).
      const [fromSource, fromCopy] = await Promise.all([
        drain(source, START, 1000),
        drain(copy, START, 1000),
      ]);
      const byId = (list: readonly MessageInfo[]) =>
        [...list].sort((a, b) => a.blobId.toString().localeCompare(b.blobId.toString()));
      expect(byId(fromCopy.entries)).toEqual(byId(fromSource.entries));
      await copy.close();
      expect(await logFiles(dir)).toEqual(await logFiles(sourceDir));
      // Reopened, it recovers cleanly to the same state, and takes writes of its own after the copy.
      const reopened = await openStore(dir);
      expect(reopened.stats()).toMatchObject({ blobCount: ids.length, cleanStart: true });
      const own = newId();
      await reopened.put({ id: own, properties: propertiesFor(10), blob: blobBytes(1, 10) });
      expect((await reopened.get(own)).blob.equals(blobBytes(1, 10))).toBe(true);
      await reopened.close();
    }
    await source.close();
  });

  it('continue from a token: a copy interrupted midway resumes where it stopped', async () => {
    const source = await openStore(await temp.make());
    const { ids } = await fillSource(source);
    const copy = await openStore(await temp.make());
    const first = await source.readLogChunk(START, 2000);
    const end = await copy.appendLogChunk(first);
    expect(end).toBe(first.position + first.records.length);
    const more = await putBlobs(source, 5, 200);
    await copyLog(source, copy, 3000, first.token, end);
    expect(copy.stats().bytesUsed).toBe(source.stats().bytesUsed);
    for (const id of [...ids, ...more])
      expect((await copy.getInfo(id, { includeDeleted: true })).id).toEqual(id);
    await Promise.all([source.close(), copy.close()]);
  });

  it('send a record larger than the bound whole, and nothing past the indexed end', async () => {
    const source = await openStore(await temp.make());
    await putBlobs(source, 1, 9000);
    const chunk = await source.readLogChunk(START, 100);
    expect(chunk.records.length).toBeGreaterThan(9000);
    expect(chunk.lagBytes).toBe(0);
    const empty = await source.readLogChunk(chunk.token, 100);
    expect(empty.records.length).toBe(0);
    expect(empty.position).toBe(chunk.position + chunk.records.length);
    await source.close();
  });

  it('are refused, writing nothing, by a store whose log is not a prefix of the source', async () => {
    const source = await openStore(await temp.make());
    await fillSource(source);
    const first = await source.readLogChunk(START, 2000);
    const second = await source.readLogChunk(first.token, 2000);

    const diverged = await openStore(await temp.make());
    await putBlobs(diverged, 1, 100);
    const before = diverged.stats().bytesUsed;
    await expect(diverged.appendLogChunk(first)).rejects.toMatchObject({ code: ErrorCode.BAD_REQUEST });
    const skipping = await openStore(await temp.make());
    await expect(skipping.appendLogChunk(second)).rejects.toMatchObject({ code: ErrorCode.BAD_REQUEST });
    const otherSize = await openStore(await temp.make(), { segmentBytes: 32 * 1024 });
    await expect(otherSize.appendLogChunk(first)).rejects.toMatchObject({ code: ErrorCode.BAD_REQUEST });
    expect(diverged.stats().bytesUsed).toBe(before);
    for (const store of [skipping, otherSize]) expect(store.stats().blobCount).toBe(0);
    await Promise.all([source, diverged, skipping, otherSize].map((s) => s.close()));
  });

  it('are refused once anything else was written to the copy, even where positions would still match', async () => {
    const source = await openStore(await temp.make());
    await fillSource(source);
    const copy = await openStore(await temp.make());
    const first = await source.readLogChunk(START, 1);
    const end = await copy.appendLogChunk(first);
    // A local write after a chunk that ended a source segment would land in the copy's same segment,
    // while the next chunk starts the next segment at the same position in both logs: only the log's
    // end tells the copy is no longer a prefix.
    await putBlobs(copy, 1, 10);
    const second = await source.readLogChunk(first.token, 1);
    await expect(copy.appendLogChunk(second, end)).rejects.toMatchObject({ code: ErrorCode.BAD_REQUEST });
    expect(copy.stats().blobCount).toBe(2);
    await Promise.all([source.close(), copy.close()]);
  });

  it('carrying a flipped byte are refused as corrupt, writing nothing', async () => {
    const source = await openStore(await temp.make());
    await putBlobs(source, 4, 1000);
    const chunk = await source.readLogChunk(START, 1024 * 1024);
    const copy = await openStore(await temp.make());
    for (const at of [5, chunk.records.length - 300, chunk.records.length - 1]) {
      const bad = Buffer.from(chunk.records);
      bad[at]! ^= 0x40;
      await expect(copy.appendLogChunk({ ...chunk, records: bad })).rejects.toMatchObject({
        code: ErrorCode.DATA_CORRUPT,
      });
    }
    await expect(
      copy.appendLogChunk({ ...chunk, records: chunk.records.subarray(0, chunk.records.length - 1) }),
    ).rejects.toMatchObject({ code: ErrorCode.DATA_CORRUPT });
    expect(copy.stats().bytesUsed).toBe(32);
    await copy.appendLogChunk(chunk);
    expect(copy.stats().blobCount).toBe(4);
    await Promise.all([source.close(), copy.close()]);
  });

  it('refuse tokens that do not name a record of this log', async () => {
    const source = await openStore(await temp.make());
    await putBlobs(source, 3, 100);
    const chunk = await source.readLogChunk(START, 1024);
    const { incarnation, session } = decodeToken(chunk.token) as { incarnation: Buffer; session: Buffer };
    const journal = (position: number) => encodeToken({ kind: 'journal', incarnation, session, position });
    // Inside a record: its bytes there are no record header.
    await expect(source.readLogChunk(journal(chunk.position + 5), 1024)).rejects.toMatchObject({
      code: ErrorCode.DATA_CORRUPT,
    });
    await expect(source.readLogChunk(journal(source.stats().bytesUsed + 100), 1024)).rejects.toMatchObject({
      code: ErrorCode.BAD_REQUEST,
    });
    const index = encodeToken({
      kind: 'index',
      incarnation,
      session,
      segmentStart: 32,
      segmentEnd: 64,
      sincePosition: 32,
      lastKey: undefined,
    });
    await expect(source.readLogChunk(index, 1024)).rejects.toMatchObject({ code: ErrorCode.BAD_REQUEST });
    await expect(source.readLogChunk(Buffer.from([9, 9, 9]), 1024)).rejects.toMatchObject({
      code: ErrorCode.BAD_REQUEST,
    });
    await expect(source.readLogChunk(chunk.token, 0)).rejects.toMatchObject({ code: ErrorCode.BAD_REQUEST });
    // A token of another incarnation (the source was recreated) starts over.
    const other = encodeToken({ kind: 'journal', incarnation: Buffer.alloc(16, 7), session, position: 500 });
    expect((await source.readLogChunk(other, 1024)).position).toBe(32);
    await source.close();
  });
});
