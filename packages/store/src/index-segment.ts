import path from 'node:path';
import { xxh64 } from '@ambry/protocol';
import { BloomFilter, type KeyHashes, keyHashes } from './bloom.js';
import { DataCorruptError } from './errors.js';
import { decodeIndexValue, encodeIndexValue, INDEX_VALUE_BYTES, type IndexValue } from './index-value.js';
import type { StoreFile, StoreIo } from './io.js';

/**
 * A persisted index segment: the index entries of one log range [startPosition, endPosition), sorted by
 * key, written once and never changed. Only its summary stays in memory (bloom filter, first key of every
 * block, block checksums), about 2 bytes per entry; a lookup reads one block of entries.
 * Byte layout: docs/formats.md, "Index segment".
 */

export const INDEX_SEGMENT_MAGIC = Buffer.from('AMBRYIDX', 'latin1');
export const INDEX_SEGMENT_VERSION = 1;
export const INDEX_SEGMENT_HEADER_BYTES = 64;
const SUFFIX = '.idx';

export interface SegmentEntry {
  readonly key: Buffer;
  readonly value: IndexValue;
}

export interface IndexSegmentSpec {
  readonly startPosition: number;
  readonly endPosition: number;
  /** Distinct keys, in any order. */
  readonly entries: readonly SegmentEntry[];
  readonly entriesPerBlock: number;
  readonly bloomFalsePositiveRate: number;
  /** PUT records in the whole log up to endPosition (keeps the blob count without a scan). */
  readonly putCount: number;
}

/**
 * Keys are stored as u16 length + bytes + zero padding, so mixed key lengths still sort and search. The
 * length is big-endian so that comparing fields byte by byte agrees with compareKeys past 255-byte keys.
 */
function keyFieldLength(maxKeyLength: number): number {
  return 2 + maxKeyLength;
}

function writeKeyField(key: Buffer, target: Buffer, offset: number, fieldLength: number): void {
  target.writeUInt16BE(key.length, offset);
  key.copy(target, offset + 2);
  target.fill(0, offset + 2 + key.length, offset + fieldLength);
}

/** Order of key fields: by length, then bytes (what comparing the padded fields gives). */
export function compareKeys(a: Buffer, b: Buffer): number {
  return a.length - b.length || Buffer.compare(a, b);
}

export function indexSegmentFileName(startPosition: number): string {
  return `${String(startPosition).padStart(16, '0')}${SUFFIX}`;
}

export function isIndexSegmentFileName(name: string): boolean {
  return /^\d{16}\.idx$/.test(name);
}

/** Writes the segment durably (temp file, fsync, rename, fsync dir) and returns its file name. */
export async function writeIndexSegment(io: StoreIo, dir: string, spec: IndexSegmentSpec): Promise<string> {
  const entries = [...spec.entries].sort((a, b) => compareKeys(a.key, b.key));
  const maxKeyLength = entries.reduce((max, e) => Math.max(max, e.key.length), 1);
  const fieldLength = keyFieldLength(maxKeyLength);
  const entryBytes = fieldLength + INDEX_VALUE_BYTES;
  const perBlock = spec.entriesPerBlock;
  const blockCount = Math.ceil(entries.length / perBlock);

  const bloom = BloomFilter.create(entries.length, spec.bloomFalsePositiveRate);
  const entryArea = Buffer.alloc(entries.length * entryBytes);
  const firstKeys = Buffer.alloc(blockCount * fieldLength);
  entries.forEach((entry, i) => {
    if (i > 0 && compareKeys(entries[i - 1]!.key, entry.key) === 0) {
      throw new Error(`index segment spec holds key ${entry.key.toString('hex')} twice`);
    }
    writeKeyField(entry.key, entryArea, i * entryBytes, fieldLength);
    encodeIndexValue(entry.value, entryArea, i * entryBytes + fieldLength);
    bloom.add(keyHashes(entry.key));
    if (i % perBlock === 0) writeKeyField(entry.key, firstKeys, (i / perBlock) * fieldLength, fieldLength);
  });
  const blockChecksums = Buffer.alloc(blockCount * 8);
  for (let b = 0; b < blockCount; b++) {
    const block = entryArea.subarray(
      b * perBlock * entryBytes,
      Math.min(entries.length, (b + 1) * perBlock) * entryBytes,
    );
    blockChecksums.writeBigUInt64LE(xxh64(block), b * 8);
  }
  const bloomBytes = bloom.encode();
  const summary = Buffer.concat([bloomBytes, firstKeys, blockChecksums, Buffer.alloc(8)]);
  summary.writeBigUInt64LE(xxh64(summary.subarray(0, summary.length - 8)), summary.length - 8);

  const header = Buffer.alloc(INDEX_SEGMENT_HEADER_BYTES);
  INDEX_SEGMENT_MAGIC.copy(header, 0);
  header.writeUInt16LE(INDEX_SEGMENT_VERSION, 8);
  header.writeUInt16LE(fieldLength, 10);
  header.writeUInt16LE(INDEX_VALUE_BYTES, 12);
  header.writeUInt16LE(perBlock, 14);
  header.writeUInt32LE(entries.length, 16);
  header.writeUIntLE(spec.startPosition, 24, 6);
  header.writeUIntLE(spec.endPosition, 32, 6);
  header.writeUInt32LE(bloomBytes.length, 40);
  header.writeUIntLE(spec.putCount, 44, 6);
  header.writeBigUInt64LE(xxh64(header.subarray(0, 56)), 56);

  const name = indexSegmentFileName(spec.startPosition);
  const finalPath = path.join(dir, name);
  const tempPath = `${finalPath}.tmp`;
  const file = await io.open(tempPath, 'w+');
  try {
    await file.writev([header, summary, entryArea], 0);
    await file.datasync();
  } finally {
    await file.close();
  }
  await io.rename(tempPath, finalPath);
  await io.syncDir(dir);
  return name;
}

interface SegmentHeader {
  readonly fieldLength: number;
  readonly perBlock: number;
  readonly entryCount: number;
  readonly startPosition: number;
  readonly endPosition: number;
  readonly bloomLength: number;
  readonly putCount: number;
}

function parseHeader(header: Buffer, name: string): SegmentHeader {
  const corrupt = (why: string) => new DataCorruptError(`index segment ${name}: ${why}`);
  if (header.length < INDEX_SEGMENT_HEADER_BYTES) throw corrupt('shorter than its header');
  if (!header.subarray(0, 8).equals(INDEX_SEGMENT_MAGIC)) throw corrupt('bad magic');
  if (header.readBigUInt64LE(56) !== xxh64(header.subarray(0, 56))) throw corrupt('header checksum mismatch');
  if (header.readUInt16LE(8) !== INDEX_SEGMENT_VERSION)
    throw corrupt(`unknown version ${header.readUInt16LE(8)}`);
  if (header.readUInt16LE(12) !== INDEX_VALUE_BYTES) throw corrupt('unexpected value size');
  const parsed = {
    fieldLength: header.readUInt16LE(10),
    perBlock: header.readUInt16LE(14),
    entryCount: header.readUInt32LE(16),
    startPosition: header.readUIntLE(24, 6),
    endPosition: header.readUIntLE(32, 6),
    bloomLength: header.readUInt32LE(40),
    putCount: header.readUIntLE(44, 6),
  };
  if (parsed.fieldLength < 3 || parsed.perBlock < 1 || parsed.endPosition < parsed.startPosition) {
    throw corrupt('inconsistent header fields');
  }
  return parsed;
}

/** Size of the scratch buffer `verifyEntries` reads through (at least one block). */
export const VERIFY_CHUNK_BYTES = 1024 * 1024;

/**
 * Checks every block of the entry area against its checksum, reading through one reused scratch buffer:
 * opening a store verifies every segment, and a fresh buffer per read would leave the allocator holding
 * tens of MB of freed memory afterwards.
 */
async function verifyBlocks(
  file: StoreFile,
  name: string,
  header: SegmentHeader,
  entriesOffset: number,
  checksums: Buffer,
  scratch: Buffer,
): Promise<void> {
  const entryBytes = header.fieldLength + INDEX_VALUE_BYTES;
  const blockBytes = header.perBlock * entryBytes;
  const blockCount = Math.ceil(header.entryCount / header.perBlock);
  const buffer = scratch.length >= blockBytes ? scratch : Buffer.allocUnsafe(blockBytes);
  const blocksPerChunk = Math.max(1, Math.floor(buffer.length / blockBytes));
  for (let first = 0; first < blockCount; first += blocksPerChunk) {
    const firstEntry = first * header.perBlock;
    const endEntry = Math.min(header.entryCount, (first + blocksPerChunk) * header.perBlock);
    const length = (endEntry - firstEntry) * entryBytes;
    if ((await file.read(buffer, 0, length, entriesOffset + firstEntry * entryBytes)) !== length) {
      throw new DataCorruptError(`index segment ${name}: shorter than its entries`);
    }
    for (let b = first; b < Math.min(blockCount, first + blocksPerChunk); b++) {
      const from = (b - first) * blockBytes;
      const block = buffer.subarray(from, Math.min(length, from + blockBytes));
      if (xxh64(block) !== checksums.readBigUInt64LE(b * 8)) {
        throw new DataCorruptError(`index segment ${name}: block ${b} checksum mismatch`);
      }
    }
  }
}

/** An open persisted segment. Immutable, so lookups need no locking. */
export class PersistedIndexSegment {
  private readonly entryBytes: number;
  private readonly blockCount: number;
  private readonly entriesOffset: number;

  private constructor(
    readonly name: string,
    private readonly file: StoreFile,
    private readonly header: SegmentHeader,
    private readonly bloom: BloomFilter,
    private readonly firstKeys: Buffer,
    private readonly blockChecksums: Buffer,
    summaryLength: number,
  ) {
    this.entryBytes = header.fieldLength + INDEX_VALUE_BYTES;
    this.blockCount = Math.ceil(header.entryCount / header.perBlock);
    this.entriesOffset = INDEX_SEGMENT_HEADER_BYTES + summaryLength;
  }

  get startPosition(): number {
    return this.header.startPosition;
  }

  get endPosition(): number {
    return this.header.endPosition;
  }

  get putCount(): number {
    return this.header.putCount;
  }

  get entryCount(): number {
    return this.header.entryCount;
  }

  /** Bytes of memory this segment's summary holds. */
  get memoryBytes(): number {
    return this.bloom.encodedLength() + this.firstKeys.length + this.blockChecksums.length;
  }

  /** Opens and verifies the summary (two reads). Throws DataCorruptError for any damage found. */
  static async open(io: StoreIo, dir: string, name: string): Promise<PersistedIndexSegment> {
    const file = await io.open(path.join(dir, name), 'r');
    try {
      const size = await file.size();
      const headerBytes = Buffer.alloc(INDEX_SEGMENT_HEADER_BYTES);
      if ((await file.read(headerBytes, 0, headerBytes.length, 0)) !== headerBytes.length) {
        throw new DataCorruptError(`index segment ${name}: shorter than its header`);
      }
      const header = parseHeader(headerBytes, name);
      const blockCount = Math.ceil(header.entryCount / header.perBlock);
      const summaryLength = header.bloomLength + blockCount * header.fieldLength + blockCount * 8 + 8;
      const expectedSize =
        INDEX_SEGMENT_HEADER_BYTES +
        summaryLength +
        header.entryCount * (header.fieldLength + INDEX_VALUE_BYTES);
      if (size !== expectedSize) {
        throw new DataCorruptError(`index segment ${name}: ${size} bytes on disk, ${expectedSize} expected`);
      }
      const summary = Buffer.alloc(summaryLength);
      await file.read(summary, 0, summaryLength, INDEX_SEGMENT_HEADER_BYTES);
      const body = summary.subarray(0, summaryLength - 8);
      if (summary.readBigUInt64LE(summaryLength - 8) !== xxh64(body)) {
        throw new DataCorruptError(`index segment ${name}: summary checksum mismatch`);
      }
      const bloom = BloomFilter.decode(summary.subarray(0, header.bloomLength));
      const keysEnd = header.bloomLength + blockCount * header.fieldLength;
      // Copies, so the summary buffer is not pinned by views of different lifetimes.
      const firstKeys = Buffer.from(summary.subarray(header.bloomLength, keysEnd));
      const blockChecksums = Buffer.from(summary.subarray(keysEnd, keysEnd + blockCount * 8));
      return new PersistedIndexSegment(name, file, header, bloom, firstKeys, blockChecksums, summaryLength);
    } catch (error) {
      await file.close().catch(() => {});
      throw error;
    }
  }

  /**
   * Reads every block once and checks its checksum (a lookup checks only the block it reads). Throws
   * DataCorruptError for a damaged block; the store runs this on open, so a damaged entry drops its
   * segment and is re-indexed from the log instead of making its blobs unreadable.
   */
  verifyEntries(scratch: Buffer = Buffer.allocUnsafe(VERIFY_CHUNK_BYTES)): Promise<void> {
    return verifyBlocks(this.file, this.name, this.header, this.entriesOffset, this.blockChecksums, scratch);
  }

  mightContain(hashes: KeyHashes): boolean {
    return this.bloom.mightContain(hashes);
  }

  /** Latest value of `key` in this segment, reading at most one block. */
  async lookup(key: Buffer, hashes: KeyHashes = keyHashes(key)): Promise<IndexValue | undefined> {
    if (!this.bloom.mightContain(hashes) || key.length + 2 > this.header.fieldLength) return undefined;
    const field = this.keyField(key);
    const blockIndex = this.blockFor(field);
    if (blockIndex < 0) return undefined;
    const block = await this.readBlock(blockIndex);
    const count = block.length / this.entryBytes;
    let low = 0;
    let high = count - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const start = mid * this.entryBytes;
      const cmp = block.compare(field, 0, field.length, start, start + this.header.fieldLength);
      if (cmp === 0) return decodeIndexValue(block, start + this.header.fieldLength);
      if (cmp < 0) low = mid + 1;
      else high = mid - 1;
    }
    return undefined;
  }

  /** Up to `max` entries with keys after `afterKey` (all when absent), in key order. */
  async entriesAfter(afterKey: Buffer | undefined, max: number): Promise<SegmentEntry[]> {
    const result: SegmentEntry[] = [];
    const field = afterKey === undefined ? undefined : this.keyField(afterKey);
    let blockIndex = field === undefined ? 0 : Math.max(0, this.blockFor(field));
    for (; blockIndex < this.blockCount && result.length < max; blockIndex++) {
      const block = await this.readBlock(blockIndex);
      for (let start = 0; start < block.length && result.length < max; start += this.entryBytes) {
        if (
          field !== undefined &&
          block.compare(field, 0, field.length, start, start + this.header.fieldLength) <= 0
        ) {
          continue;
        }
        const keyLength = block.readUInt16BE(start);
        result.push({
          key: Buffer.from(block.subarray(start + 2, start + 2 + keyLength)),
          value: decodeIndexValue(block, start + this.header.fieldLength),
        });
      }
    }
    return result;
  }

  close(): Promise<void> {
    return this.file.close();
  }

  private keyField(key: Buffer): Buffer {
    const field = Buffer.alloc(this.header.fieldLength);
    if (key.length + 2 <= field.length) writeKeyField(key, field, 0, field.length);
    else field.fill(0xff); // longer than every key here: sorts after all of them
    return field;
  }

  /** Index of the last block whose first key is <= field, or -1 when field sorts before every key. */
  private blockFor(field: Buffer): number {
    const len = this.header.fieldLength;
    let low = 0;
    let high = this.blockCount - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if (this.firstKeys.compare(field, 0, len, mid * len, (mid + 1) * len) <= 0) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    return found;
  }

  private async readBlock(blockIndex: number): Promise<Buffer> {
    const first = blockIndex * this.header.perBlock;
    const count = Math.min(this.header.perBlock, this.header.entryCount - first);
    const block = Buffer.allocUnsafe(count * this.entryBytes);
    const read = await this.file.read(block, 0, block.length, this.entriesOffset + first * this.entryBytes);
    if (read !== block.length || xxh64(block) !== this.blockChecksums.readBigUInt64LE(blockIndex * 8)) {
      throw new DataCorruptError(`index segment ${this.name}: block ${blockIndex} checksum mismatch`);
    }
    return block;
  }
}
