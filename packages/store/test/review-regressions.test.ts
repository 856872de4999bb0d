import fs from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { type BlobId, ErrorCode } from '@ambry/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BlobStore,
  FaultyIo,
  nodeIo,
  type StoreError,
  type StoreIo,
  type StoreOptions,
} from '../src/index.js';
import { blobBytes, newId, propertiesFor, TempDirs } from './helpers.js';
import { powerLossIo } from './power-loss-io.js';

/** Regressions found by a correctness review of src/: each test failed before its fix. */

const temp = new TempDirs();
afterEach(() => temp.cleanup());

const KiB = 1024;
const SEGMENT = 4 * KiB;

function options(dir: string, io: StoreIo, extra: Partial<StoreOptions> = {}): StoreOptions {
  return { capacityBytes: 16 * SEGMENT, segmentBytes: SEGMENT, ...extra, dir, io };
}

function put(store: BlobStore, n: number, size = 600, id: BlobId = newId()): Promise<BlobId> {
  return store.put({ id, properties: propertiesFor(size), blob: blobBytes(n, size) }).then(() => id);
}

/** Lets pending I/O callbacks run, at most `turns` times, until `done()` holds. */
async function until(done: () => boolean, turns = 200): Promise<void> {
  for (let i = 0; i < turns && !done(); i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

describe('a log tail re-indexed by recovery', () => {
  it('is made durable before an index segment covers it', async () => {
    const dir = await temp.make();
    const power = powerLossIo();
    // Session 1 acknowledges from the page cache and is killed before its interval fsync.
    let faulty = new FaultyIo(power.io);
    const first = await BlobStore.open(
      options(dir, faulty, { durability: 'interval', syncIntervalMs: 3_600_000 }),
    );
    const ids: BlobId[] = [];
    for (let i = 0; i < 3; i++) ids.push(await put(first, i));
    await faulty.crashNow();
    await first.close().catch(() => {});

    // Session 2 re-indexes those records from the page cache and shuts down cleanly (persisting them).
    faulty = new FaultyIo(power.io);
    const second = await BlobStore.open(options(dir, faulty));
    expect(second.stats().recoveredRecords).toBe(3);
    await second.close();

    // A power loss now may take only bytes nothing durable points at.
    await power.lose();
    const third = await BlobStore.open(options(dir, nodeIo));
    for (const [i, id] of ids.entries())
      expect((await third.get(id)).blob.equals(blobBytes(i, 600))).toBe(true);
    await third.close();
  });
});

describe('a failed log fsync', () => {
  it('before an index segment is written stops the store (interval durability)', async () => {
    const dir = await temp.make();
    const faulty = new FaultyIo();
    const store = await BlobStore.open(
      options(dir, faulty, { durability: 'interval', syncIntervalMs: 3_600_000, maxMemoryRecords: 2 }),
    );
    faulty.fail({ op: 'datasync', code: 'EIO', pathIncludes: '.log' });
    await put(store, 0);
    await put(store, 1); // fills the memory part: its persist fsyncs the log first, which fails
    await until(() => !store.stats().available);
    // Retrying the fsync could succeed on pages the kernel already dropped (fsyncgate).
    expect(store.stats().available).toBe(false);
    await expect(put(store, 2)).rejects.toMatchObject({ code: ErrorCode.REPLICA_UNAVAILABLE });
    await store.close();
  });

  it('while close drains the queue fails the later writes and leaves no clean-shutdown marker', async () => {
    const dir = await temp.make();
    const faulty = new FaultyIo();
    // One PUT per batch, so the second batch's fsync comes after the first one's failed.
    const store = await BlobStore.open(options(dir, faulty, { maxBatchBytes: 700 }));
    faulty.fail({ op: 'datasync', code: 'EIO', pathIncludes: '.log' });
    const first = put(store, 0);
    const second = put(store, 1);
    const closed = store.close();
    await expect(first).rejects.toMatchObject({ code: ErrorCode.REPLICA_UNAVAILABLE });
    await expect(second).rejects.toMatchObject({ code: ErrorCode.REPLICA_UNAVAILABLE });
    await closed.catch(() => {});
    const reopened = await BlobStore.open(options(dir, nodeIo, { maxBatchBytes: 700 }));
    expect(reopened.stats().cleanStart).toBe(false);
    await reopened.close();
  });
});

describe('a failed log fsync followed by another', () => {
  it('fails the later one too, so close leaves no clean-shutdown marker', async () => {
    const dir = await temp.make();
    const faulty = new FaultyIo();
    const config = { durability: 'interval', syncIntervalMs: 3_600_000, maxMemoryRecords: 2 } as const;
    const store = await BlobStore.open(options(dir, faulty, config));
    faulty.fail({ op: 'datasync', code: 'EIO', pathIncludes: '.log' });
    await put(store, 0);
    await put(store, 1); // its index persist fsyncs the log first: that fsync fails while close waits
    // close's own fsync then retries the same pages; the kernel may report success for lost ones.
    await expect(store.close()).rejects.toMatchObject({ code: ErrorCode.REPLICA_UNAVAILABLE });
    const reopened = await BlobStore.open(options(dir, nodeIo, config));
    expect(reopened.stats().cleanStart).toBe(false);
    await reopened.close();
  });
});

describe('close called twice', () => {
  it('resolves the second call only once the store is closed', async () => {
    const dir = await temp.make();
    const store = await BlobStore.open(options(dir, nodeIo));
    await put(store, 0);
    const first = store.close();
    await store.close();
    // A caller may reopen the directory now: the first close must not still be writing to it.
    expect(await fs.readdir(dir)).toContain('clean-shutdown');
    await first;
  });
});

describe('a streamed PUT that outlives close', () => {
  it('is refused as unavailable and writes nothing', async () => {
    const dir = await temp.make();
    const store = await BlobStore.open(options(dir, nodeIo));
    const stream = new PassThrough();
    const pending = store.put({ id: newId(), properties: propertiesFor(100), blob: stream, blobSize: 100 });
    pending.catch(() => {});
    await store.close();
    stream.end(blobBytes(0, 100));
    const error = (await pending.then(
      () => undefined,
      (e: unknown) => e,
    )) as StoreError | undefined;
    expect(error?.code).toBe(ErrorCode.REPLICA_UNAVAILABLE);
    const reopened = await BlobStore.open(options(dir, nodeIo));
    expect(reopened.stats()).toMatchObject({ cleanStart: true, blobCount: 0 });
    await reopened.close();
  });
});

describe('errors from open and close', () => {
  it('are StoreErrors', async () => {
    const dir = await temp.make();
    const faulty = new FaultyIo();
    const store = await BlobStore.open(options(dir, faulty));
    await put(store, 0);
    faulty.fail({ op: 'rename', code: 'EIO', pathIncludes: 'clean-shutdown' });
    await expect(store.close()).rejects.toMatchObject({ code: ErrorCode.IO_ERROR });
    faulty.fail({ op: 'readdir', code: 'EIO' });
    await expect(BlobStore.open(options(dir, faulty))).rejects.toMatchObject({ code: ErrorCode.IO_ERROR });
  });
});

describe('a read that outlives close', () => {
  it('is answered as unavailable, not as corrupt data', async () => {
    const dir = await temp.make();
    let store = await BlobStore.open(options(dir, nodeIo, { maxMemoryRecords: 1 }));
    const id = await put(store, 0);
    await store.close();
    // The lookup's index block read completes, then waits until close has finished.
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let armed = false;
    let held = false;
    let onHeld: () => void = () => {};
    const reached = new Promise<void>((resolve) => {
      onHeld = resolve;
    });
    const gated: StoreIo = {
      ...nodeIo,
      async open(p, flags) {
        const file = await nodeIo.open(p, flags);
        if (!p.endsWith('.idx')) return file;
        return {
          path: file.path,
          async read(buffer, offset, length, position) {
            const n = await file.read(buffer, offset, length, position);
            if (armed && !held) {
              held = true;
              onHeld();
              await gate;
            }
            return n;
          },
          writev: (buffers, position) => file.writev(buffers, position),
          datasync: () => file.datasync(),
          truncate: (length) => file.truncate(length),
          size: () => file.size(),
          close: () => file.close(),
        };
      },
    };
    store = await BlobStore.open(options(dir, gated, { maxMemoryRecords: 1 }));
    expect(store.stats().memoryRecords).toBe(0);
    armed = true;
    const pending = store.get(id).then(
      () => undefined,
      (e: unknown) => e as StoreError,
    );
    await Promise.race([reached, pending]);
    expect(held).toBe(true);
    await store.close();
    release();
    expect((await pending)?.code).toBe(ErrorCode.REPLICA_UNAVAILABLE);
  });
});

describe('creating a store', () => {
  it('fsyncs the parent directory, so the new store directory survives a power loss', async () => {
    const parent = await temp.make();
    const dir = `${parent}/replica`;
    const synced: string[] = [];
    const io: StoreIo = { ...nodeIo, syncDir: (d) => nodeIo.syncDir(d).then(() => void synced.push(d)) };
    const store = await BlobStore.open(options(dir, io));
    expect(synced).toContain(parent);
    await store.close();
  });
});

describe('a failed open', () => {
  async function storeWithTwoIndexSegments(): Promise<string> {
    const dir = await temp.make();
    const store = await BlobStore.open(options(dir, nodeIo, { maxMemoryRecords: 1 }));
    await put(store, 0);
    await put(store, 1);
    await store.close();
    const names = (await fs.readdir(dir)).filter((n) => n.endsWith('.idx')).sort();
    expect(names.length).toBeGreaterThanOrEqual(2);
    // Damage the last one, so open drops it after opening the ones before.
    await fs.writeFile(`${dir}/${names.at(-1)!}`, 'damaged');
    return dir;
  }

  it('closes the index segments it opened when dropping a damaged one fails', async () => {
    const dir = await storeWithTwoIndexSegments();
    const faulty = new FaultyIo();
    faulty.fail({ op: 'unlink', code: 'EIO', pathIncludes: '.idx' });
    await expect(BlobStore.open(options(dir, faulty))).rejects.toMatchObject({ code: ErrorCode.IO_ERROR });
    expect(faulty.calls.close).toBe(faulty.calls.open);
  });

  it('closes a log segment whose size it could not read', async () => {
    const dir = await temp.make();
    const store = await BlobStore.open(options(dir, nodeIo));
    await put(store, 0);
    await store.close();
    const faulty = new FaultyIo();
    faulty.fail({ op: 'size', code: 'EIO', pathIncludes: '.log' });
    await expect(BlobStore.open(options(dir, faulty))).rejects.toMatchObject({ code: ErrorCode.IO_ERROR });
    expect(faulty.calls.close).toBe(faulty.calls.open);
  });
});

describe('a record that exactly fills a log segment', () => {
  it('keeps the records of the next segment through an unclean restart', async () => {
    const dir = await temp.make();
    let faulty = new FaultyIo();
    let store = await BlobStore.open(options(dir, faulty));
    // Record bytes besides the blob, measured; then a blob sized so its record ends the segment.
    await put(store, 0, 100);
    const overhead = store.stats().bytesUsed - 32 - 100;
    const fill = SEGMENT - store.stats().bytesUsed - overhead;
    const filler = await put(store, 1, fill);
    expect(store.stats().bytesUsed).toBe(SEGMENT);
    const next = await put(store, 2, 100);
    expect(store.stats().bytesUsed).toBe(SEGMENT + 32 + overhead + 100);
    await faulty.crashNow();
    await store.close().catch(() => {});

    faulty = new FaultyIo();
    store = await BlobStore.open(options(dir, faulty));
    expect(store.stats()).toMatchObject({ recoveryCutBytes: 0, blobCount: 3 });
    expect((await store.get(filler)).blob.equals(blobBytes(1, fill))).toBe(true);
    expect((await store.get(next)).blob.equals(blobBytes(2, 100))).toBe(true);
    await store.close();
  });

  it('keeps them when an index segment ends exactly at the segment end', async () => {
    const dir = await temp.make();
    let faulty = new FaultyIo();
    let store = await BlobStore.open(options(dir, faulty));
    await put(store, 0, 100);
    const overhead = store.stats().bytesUsed - 32 - 100;
    await put(store, 1, SEGMENT - store.stats().bytesUsed - overhead);
    expect(store.stats().bytesUsed).toBe(SEGMENT);
    await store.close(); // persists the index up to the segment end
    faulty = new FaultyIo();
    store = await BlobStore.open(options(dir, faulty));
    const next = await put(store, 2, 100);
    await faulty.crashNow();
    await store.close().catch(() => {});

    store = await BlobStore.open(options(dir, nodeIo));
    expect(store.stats()).toMatchObject({ recoveryCutBytes: 0, blobCount: 3 });
    expect((await store.get(next)).blob.equals(blobBytes(2, 100))).toBe(true);
    await store.close();
  });
});
