import fs from 'node:fs/promises';
import path from 'node:path';
import { xxh64 } from '@ambry/protocol';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { keyHashes } from '../src/bloom.js';
import { DataCorruptError } from '../src/errors.js';
import { FaultyIo } from '../src/faulty-io.js';
import {
  compareKeys,
  INDEX_SEGMENT_HEADER_BYTES,
  INDEX_SEGMENT_MAGIC,
  INDEX_SEGMENT_VERSION,
  indexSegmentFileName,
  PersistedIndexSegment,
  type SegmentEntry,
  writeIndexSegment,
} from '../src/index-segment.js';
import { INDEX_VALUE_BYTES, type IndexValue } from '../src/index-value.js';
import { nodeIo } from '../src/node-io.js';
import { xorshift32 as rng, TempDirs } from './helpers.js';

const temp = new TempDirs();
afterEach(() => temp.cleanup());

function randomKey(next: () => number, length: number): Buffer {
  const key = Buffer.alloc(length);
  for (let i = 0; i < length; i++) key[i] = next() & 0xff;
  return key;
}

/** A value whose every field is derived from `n`, so a wrong entry cannot pass for the right one. */
function valueFor(n: number): IndexValue {
  return {
    flags: n % 8,
    lifeVersion: n % 5,
    accountId: n % 65_536,
    containerId: (n * 7) % 65_536,
    putPosition: n * 1000,
    putSize: 100 + n,
    lastPosition: n * 1000 + 17,
    expiresAtMs: n % 3 === 0 ? -1 : 1_700_000_000_000 + n,
    operationTimeMs: 1_600_000_000_000 + n,
  };
}

/** Distinct keys of the given lengths (cycled), with values numbered by position in the list. */
function makeEntries(count: number, lengths: readonly number[], seed: number): SegmentEntry[] {
  const next = rng(seed);
  const seen = new Set<string>();
  const entries: SegmentEntry[] = [];
  while (entries.length < count) {
    const key = randomKey(next, lengths[entries.length % lengths.length]!);
    const hex = key.toString('hex');
    if (seen.has(hex)) continue;
    seen.add(hex);
    entries.push({ key, value: valueFor(entries.length) });
  }
  return entries;
}

async function writeAndOpen(
  entries: readonly SegmentEntry[],
  options: { entriesPerBlock?: number; io?: FaultyIo; dir?: string; startPosition?: number } = {},
): Promise<{ dir: string; name: string; segment: PersistedIndexSegment }> {
  const dir = options.dir ?? (await temp.make());
  const io = options.io ?? nodeIo;
  const startPosition = options.startPosition ?? 4096;
  const name = await writeIndexSegment(io, dir, {
    startPosition,
    endPosition: startPosition + 1_000_000,
    entries,
    entriesPerBlock: options.entriesPerBlock ?? 16,
    bloomFalsePositiveRate: 0.01,
    putCount: 12_345,
  });
  return { dir, name, segment: await PersistedIndexSegment.open(io, dir, name) };
}

function sorted(entries: readonly SegmentEntry[]): SegmentEntry[] {
  return [...entries].sort((a, b) => compareKeys(a.key, b.key));
}

async function flipByte(file: string, offset: number): Promise<void> {
  const bytes = await fs.readFile(file);
  bytes[offset]! ^= 0x40;
  await fs.writeFile(file, bytes);
}

describe('persisted index segment', () => {
  it('writes the header layout docs/formats.md describes', async () => {
    const entries = makeEntries(100, [27], 1);
    const { dir, name, segment } = await writeAndOpen(entries, { startPosition: 2 ** 40 + 3 });
    expect(name).toBe(indexSegmentFileName(2 ** 40 + 3));
    expect(name).toBe('0001099511627779.idx');
    const file = await fs.readFile(path.join(dir, name));
    const header = file.subarray(0, INDEX_SEGMENT_HEADER_BYTES);
    expect(INDEX_SEGMENT_HEADER_BYTES).toBe(64);
    expect(header.subarray(0, 8).toString('latin1')).toBe('AMBRYIDX');
    expect(INDEX_SEGMENT_MAGIC.toString('latin1')).toBe('AMBRYIDX');
    expect(header.readUInt16LE(8)).toBe(INDEX_SEGMENT_VERSION);
    expect(header.readUInt16LE(10)).toBe(2 + 27); // key field: u16 length + longest key
    expect(header.readUInt16LE(12)).toBe(INDEX_VALUE_BYTES);
    expect(INDEX_VALUE_BYTES).toBe(38);
    expect(header.readUInt16LE(14)).toBe(16); // entries per block
    expect(header.readUInt32LE(16)).toBe(100);
    expect(header.subarray(20, 24).equals(Buffer.alloc(4))).toBe(true);
    expect(header.readUIntLE(24, 6)).toBe(2 ** 40 + 3);
    expect(header.readUIntLE(32, 6)).toBe(2 ** 40 + 3 + 1_000_000);
    const bloomLength = header.readUInt32LE(40);
    expect(header.readUIntLE(44, 6)).toBe(12_345);
    expect(header.subarray(50, 56).equals(Buffer.alloc(6))).toBe(true);
    expect(header.readBigUInt64LE(56)).toBe(xxh64(header.subarray(0, 56)));
    // Summary: bloom, first key field of each block, one xxh64 per block, xxh64 of the summary; then entries.
    const blocks = Math.ceil(100 / 16);
    const summaryLength = bloomLength + blocks * 29 + blocks * 8 + 8;
    const summary = file.subarray(64, 64 + summaryLength);
    expect(summary.readBigUInt64LE(summaryLength - 8)).toBe(xxh64(summary.subarray(0, summaryLength - 8)));
    expect(file.length).toBe(64 + summaryLength + 100 * (29 + INDEX_VALUE_BYTES));
    const first = sorted(entries)[0]!;
    const entryArea = file.subarray(64 + summaryLength);
    expect(entryArea.readUInt16BE(0)).toBe(27); // big-endian, so fields compare bytewise
    expect(entryArea.subarray(2, 29).equals(first.key)).toBe(true);
    expect(summary.subarray(bloomLength, bloomLength + 29).equals(entryArea.subarray(0, 29))).toBe(true);
    const firstBlock = entryArea.subarray(0, 16 * (29 + INDEX_VALUE_BYTES));
    expect(summary.readBigUInt64LE(bloomLength + blocks * 29)).toBe(xxh64(firstBlock));
    expect(segment.entryCount).toBe(100);
    expect(segment.putCount).toBe(12_345);
    expect(segment.startPosition).toBe(2 ** 40 + 3);
    expect(segment.endPosition).toBe(2 ** 40 + 3 + 1_000_000);
    expect(await fs.readdir(dir)).toEqual([name]); // the temp file was renamed away
    await segment.close();
  });

  it('finds every present key with its exact value and no absent one, mixed key lengths included', async () => {
    for (const lengths of [[27], [1, 2, 3, 27, 40], [1, 255, 256, 300, 27, 1024]]) {
      const entries = makeEntries(700, lengths, lengths.length);
      const { segment } = await writeAndOpen(entries, { entriesPerBlock: 7 });
      for (const entry of entries) expect(await segment.lookup(entry.key)).toEqual(entry.value);
      const next = rng(99);
      const present = new Set(entries.map((e) => e.key.toString('hex')));
      for (let i = 0; i < 500; i++) {
        const key = randomKey(next, [1, 2, 27, 256, 1025][i % 5]!);
        if (!present.has(key.toString('hex'))) expect(await segment.lookup(key)).toBeUndefined();
      }
      // Neighbours of present keys: same length and prefix, one bit different.
      for (const entry of entries.slice(0, 100)) {
        const near = Buffer.from(entry.key);
        near[near.length - 1]! ^= 1;
        if (!present.has(near.toString('hex'))) expect(await segment.lookup(near)).toBeUndefined();
        expect(await segment.lookup(Buffer.concat([entry.key, Buffer.alloc(1)]))).toBeUndefined();
      }
      await segment.close();
    }
  });

  it('walks every entry exactly once, in key order, for any page size and starting key', async () => {
    const entries = makeEntries(300, [1, 2, 27, 33, 300], 7);
    const ordered = sorted(entries);
    const { segment } = await writeAndOpen(entries, { entriesPerBlock: 9 });
    const absentAfterKeys = [Buffer.alloc(0), Buffer.from([0]), Buffer.alloc(40, 0xff), Buffer.alloc(2000)];
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 400 }),
        fc.oneof(
          fc.constant(-1),
          fc.integer({ min: 0, max: ordered.length - 1 }),
          fc.integer({ min: -5, max: -2 }),
        ),
        async (pageSize, from) => {
          let after: Buffer | undefined;
          if (from >= 0) after = ordered[from]!.key;
          else if (from < -1) after = absentAfterKeys[-from - 2]!;
          const expected = ordered.filter((e) => after === undefined || compareKeys(e.key, after) > 0);
          const walked: SegmentEntry[] = [];
          for (let pages = 0; pages <= ordered.length + 1; pages++) {
            const page = await segment.entriesAfter(after, pageSize);
            expect(page.length).toBeLessThanOrEqual(pageSize);
            walked.push(...page);
            if (page.length < pageSize) break;
            after = page.at(-1)!.key;
          }
          expect(walked.map((e) => e.key.toString('hex'))).toEqual(
            expected.map((e) => e.key.toString('hex')),
          );
          expect(walked.map((e) => e.value)).toEqual(expected.map((e) => e.value));
        },
      ),
      { numRuns: 60 },
    );
    await segment.close();
  });

  it('reads one block per present-key lookup and nothing when the bloom filter says no', async () => {
    const io = new FaultyIo();
    const entries = makeEntries(2000, [27], 3);
    const { segment } = await writeAndOpen(entries, { io, entriesPerBlock: 64 });
    io.resetCounts();
    for (const entry of entries.slice(0, 200)) {
      const before = io.calls.read;
      expect(await segment.lookup(entry.key)).toEqual(entry.value);
      expect(io.calls.read - before).toBe(1);
    }
    const next = rng(5);
    let bloomNo = 0;
    for (let i = 0; i < 300; i++) {
      const key = randomKey(next, 27);
      if (segment.mightContain(keyHashes(key))) continue;
      bloomNo++;
      const before = io.calls.read;
      expect(await segment.lookup(key)).toBeUndefined();
      expect(io.calls.read).toBe(before);
    }
    expect(bloomNo).toBeGreaterThan(250);
    await segment.close();
  });

  it('keeps far less in memory than the file holds', async () => {
    const entries = makeEntries(10_000, [27], 11);
    const dir = await temp.make();
    const name = await writeIndexSegment(nodeIo, dir, {
      startPosition: 0,
      endPosition: 10_000_000,
      entries,
      entriesPerBlock: 64,
      bloomFalsePositiveRate: 0.001,
      putCount: 10_000,
    });
    const segment = await PersistedIndexSegment.open(nodeIo, dir, name);
    const { size } = await fs.stat(path.join(dir, name));
    expect(segment.memoryBytes).toBeGreaterThan(0);
    expect(segment.memoryBytes).toBeLessThan(size / 10);
    await segment.close();
  });

  it('refuses a flipped byte in the header or summary at open, and in a block at lookup', async () => {
    const entries = makeEntries(64, [27], 13);
    const perBlock = 8;
    const { dir, name, segment } = await writeAndOpen(entries, { entriesPerBlock: perBlock });
    const file = path.join(dir, name);
    const original = await fs.readFile(file);
    const bloomLength = original.readUInt32LE(40);
    const summaryLength = bloomLength + 8 * 29 + 8 * 8 + 8;
    await segment.close();
    const restore = () => fs.writeFile(file, original);

    for (const offset of [0, 7, 8, 10, 14, 16, 22, 24, 32, 40, 44, 52, 56, 63]) {
      await flipByte(file, offset);
      await expect(PersistedIndexSegment.open(nodeIo, dir, name), `header byte ${offset}`).rejects.toThrow(
        DataCorruptError,
      );
      await restore();
    }
    for (const offset of [0, bloomLength - 1, bloomLength, bloomLength + 8 * 29, summaryLength - 1]) {
      await flipByte(file, 64 + offset);
      await expect(PersistedIndexSegment.open(nodeIo, dir, name), `summary byte ${offset}`).rejects.toThrow(
        DataCorruptError,
      );
      await restore();
    }
    const ordered = sorted(entries);
    const entryBytes = 29 + INDEX_VALUE_BYTES;
    for (const [block, within] of [
      [0, 0],
      [3, entryBytes * 2 + 30],
      [7, entryBytes * perBlock - 1],
    ] as const) {
      await flipByte(file, 64 + summaryLength + block * perBlock * entryBytes + within);
      const damaged = await PersistedIndexSegment.open(nodeIo, dir, name);
      await expect(damaged.lookup(ordered[block * perBlock + 1]!.key)).rejects.toThrow(DataCorruptError);
      await expect(damaged.entriesAfter(undefined, 1000)).rejects.toThrow(DataCorruptError);
      // Other blocks still answer.
      const other = ordered[((block + 1) % 8) * perBlock]!;
      expect(await damaged.lookup(other.key)).toEqual(other.value);
      await damaged.close();
      await restore();
    }
  });

  it('refuses to open a truncated or extended file', async () => {
    const { dir, name, segment } = await writeAndOpen(makeEntries(50, [27], 17));
    await segment.close();
    const file = path.join(dir, name);
    const original = await fs.readFile(file);
    for (const length of [0, 10, 63, 64, 100, original.length - 1]) {
      await fs.writeFile(file, original.subarray(0, length));
      await expect(PersistedIndexSegment.open(nodeIo, dir, name), `length ${length}`).rejects.toThrow(
        DataCorruptError,
      );
    }
    await fs.writeFile(file, Buffer.concat([original, Buffer.alloc(1)]));
    await expect(PersistedIndexSegment.open(nodeIo, dir, name)).rejects.toThrow(DataCorruptError);
  });

  it('handles an empty segment and a single entry', async () => {
    const empty = await writeAndOpen([]);
    expect(await empty.segment.lookup(Buffer.from('x'))).toBeUndefined();
    expect(await empty.segment.entriesAfter(undefined, 10)).toEqual([]);
    await empty.segment.close();
    const one = makeEntries(1, [5], 19);
    const single = await writeAndOpen(one);
    expect(await single.segment.lookup(one[0]!.key)).toEqual(one[0]!.value);
    expect(await single.segment.entriesAfter(undefined, 10)).toEqual(one);
    expect(await single.segment.entriesAfter(one[0]!.key, 10)).toEqual([]);
    await single.segment.close();
  });

  it('refuses duplicate keys at write time', async () => {
    const entries = makeEntries(3, [4], 23);
    const dir = await temp.make();
    await expect(
      writeIndexSegment(nodeIo, dir, {
        startPosition: 0,
        endPosition: 10,
        entries: [...entries, { key: Buffer.from(entries[1]!.key), value: valueFor(9) }],
        entriesPerBlock: 2,
        bloomFalsePositiveRate: 0.01,
        putCount: 3,
      }),
    ).rejects.toThrow(/twice/);
  });
});
