import { keyHashes } from './bloom.js';
import {
  indexSegmentFileName,
  isIndexSegmentFileName,
  PersistedIndexSegment,
  type SegmentEntry,
  VERIFY_CHUNK_BYTES,
  writeIndexSegment,
} from './index-segment.js';
import type { IndexValue } from './index-value.js';
import type { StoreIo } from './io.js';

/**
 * The index of one store: an in-memory part for the newest records, and persisted segments for older ones.
 * The in-memory part doubles as the journal: every record since it started, in log order, so replication
 * reads recent changes without touching disk. When it grows past its limits it is frozen and written as a
 * segment while a fresh part takes new records; lookups see the three layers newest first.
 */

export interface JournalRecord {
  readonly position: number;
  /** Position right after the record. */
  readonly end: number;
  readonly key: string;
}

/** Keys in memory are latin1 strings of the key bytes: one byte per char, cheap to hash and compare. */
export function keyString(key: Buffer): string {
  return key.toString('latin1');
}

export function keyBytes(key: string): Buffer {
  return Buffer.from(key, 'latin1');
}

class MemoryPart {
  readonly values = new Map<string, IndexValue>();
  readonly journal: JournalRecord[] = [];
  putCount = 0;
  bytes = 0;

  constructor(readonly startPosition: number) {}
}

export interface IndexLimits {
  /** Records in memory before the part is persisted (Ambry: 10,000). */
  readonly maxMemoryRecords: number;
  /** Log bytes covered by memory before it is persisted: bounds the log scan of an unclean restart. */
  readonly maxMemoryLogBytes: number;
  readonly entriesPerBlock: number;
  readonly bloomFalsePositiveRate: number;
}

export class BlobIndex {
  private active: MemoryPart;
  private frozen: MemoryPart | undefined;
  private frozenEnd = 0;
  private persisting: Promise<void> | undefined;

  private constructor(
    private readonly io: StoreIo,
    private readonly dir: string,
    private readonly limits: IndexLimits,
    private readonly segments: PersistedIndexSegment[],
    startPosition: number,
  ) {
    this.active = new MemoryPart(startPosition);
  }

  /**
   * Opens the persisted segments in log order. A segment that fails its checks, and every segment after
   * it, is removed: the log is the source of truth and recovery re-indexes from the last good one.
   */
  static async load(
    io: StoreIo,
    dir: string,
    limits: IndexLimits,
    logStart: number,
    onDropped: (name: string, error: unknown) => void,
  ): Promise<BlobIndex> {
    const names = (await io.readdir(dir)).sort();
    for (const name of names.filter((n) => n.endsWith('.idx.tmp'))) await io.unlink(`${dir}/${name}`);
    const segments: PersistedIndexSegment[] = [];
    let expectedStart = logStart;
    let dropRest = false;
    const scratch = Buffer.allocUnsafe(VERIFY_CHUNK_BYTES);
    const closeOpened = async (error: unknown): Promise<never> => {
      for (const segment of segments) await segment.close().catch(() => {});
      throw error;
    };
    for (const name of names.filter(isIndexSegmentFileName)) {
      if (!dropRest) {
        try {
          const segment = await PersistedIndexSegment.open(io, dir, name);
          await segment.verifyEntries(scratch).catch(async (error: unknown) => {
            await segment.close().catch(() => {});
            throw error;
          });
          if (
            segment.startPosition === expectedStart &&
            name === indexSegmentFileName(segment.startPosition)
          ) {
            segments.push(segment);
            expectedStart = segment.endPosition;
            continue;
          }
          await segment.close();
          onDropped(name, new Error(`starts at ${segment.startPosition}, expected ${expectedStart}`));
        } catch (error) {
          onDropped(name, error);
        }
        dropRest = true;
      }
      await io.unlink(`${dir}/${name}`).catch(closeOpened);
    }
    if (dropRest) await io.syncDir(dir).catch(closeOpened);
    return new BlobIndex(io, dir, limits, segments, expectedStart);
  }

  /** Log position up to which the persisted segments cover the log: recovery scans from here. */
  get checkpoint(): number {
    return this.frozen?.startPosition ?? this.active.startPosition;
  }

  /** Start of the journal: every record at or after this position is in memory. */
  get journalStart(): number {
    return this.frozen?.startPosition ?? this.active.startPosition;
  }

  get putCount(): number {
    return (this.segments.at(-1)?.putCount ?? 0) + (this.frozen?.putCount ?? 0) + this.active.putCount;
  }

  get memoryRecords(): number {
    return this.active.journal.length + (this.frozen?.journal.length ?? 0);
  }

  get persistedSegments(): readonly PersistedIndexSegment[] {
    return this.segments;
  }

  /** Latest value of the key, newest layer first; persisted segments are skipped when their bloom filter says no. */
  async lookup(key: Buffer): Promise<IndexValue | undefined> {
    const str = keyString(key);
    const inMemory = this.active.values.get(str) ?? this.frozen?.values.get(str);
    if (inMemory !== undefined) return inMemory;
    const segments = this.segments.slice();
    if (segments.length === 0) return undefined;
    const hashes = keyHashes(key);
    for (let i = segments.length - 1; i >= 0; i--) {
      const segment = segments[i]!;
      if (!segment.mightContain(hashes)) continue;
      const value = await segment.lookup(key, hashes);
      if (value !== undefined) return value;
    }
    return undefined;
  }

  /**
   * The value of a key found in `segment`, replaced by a newer one if a later layer holds the key. Only
   * newer layers are searched, and their bloom filters usually answer without a read.
   */
  async latestSince(segment: PersistedIndexSegment, key: Buffer, found: IndexValue): Promise<IndexValue> {
    const str = keyString(key);
    const inMemory = this.active.values.get(str) ?? this.frozen?.values.get(str);
    if (inMemory !== undefined) return inMemory;
    const segments = this.segments.slice();
    const from = segments.indexOf(segment);
    const hashes = keyHashes(key);
    for (let i = segments.length - 1; i > from; i--) {
      const newer = segments[i]!;
      if (!newer.mightContain(hashes)) continue;
      const value = await newer.lookup(key, hashes);
      if (value !== undefined) return value;
    }
    return found;
  }

  /** Current value of a key known to be in memory (journal records always are). */
  memoryValue(key: string): IndexValue | undefined {
    return this.active.values.get(key) ?? this.frozen?.values.get(key);
  }

  /** Makes a record visible: called once its bytes are in the log (and durable, under the durable policy). */
  record(key: Buffer, value: IndexValue, position: number, length: number, isNewPut: boolean): void {
    const str = keyString(key);
    this.active.values.set(str, value);
    this.active.journal.push({ position, end: position + length, key: str });
    this.active.bytes += length;
    if (isNewPut) this.active.putCount += 1;
  }

  /** True when the memory part is over its limits (or a failed persist waits for a retry) and none is running. */
  get shouldPersist(): boolean {
    if (this.persisting !== undefined) return false;
    if (this.frozen !== undefined) return true;
    return (
      this.active.journal.length >= this.limits.maxMemoryRecords ||
      this.active.bytes >= this.limits.maxMemoryLogBytes
    );
  }

  /**
   * Freezes the memory part at `endPosition` (the log end, with every record up to it indexed) and writes
   * it as a segment; a part whose write failed earlier is retried first. `beforeWrite` runs before the
   * write (it makes the log durable up to the frozen end).
   */
  persist(endPosition: number, beforeWrite: () => Promise<void>): Promise<void> {
    if (this.persisting !== undefined) return this.persisting;
    if (this.frozen === undefined) {
      if (this.active.journal.length === 0) return Promise.resolve();
      this.frozen = this.active;
      this.frozenEnd = endPosition;
      this.active = new MemoryPart(endPosition);
    }
    const frozen = this.frozen;
    const frozenEnd = this.frozenEnd;
    const putCountBefore = this.segments.at(-1)?.putCount ?? 0;
    const run = async () => {
      await beforeWrite();
      const entries: SegmentEntry[] = [];
      for (const [key, value] of frozen.values) entries.push({ key: keyBytes(key), value });
      const name = await writeIndexSegment(this.io, this.dir, {
        startPosition: frozen.startPosition,
        endPosition: frozenEnd,
        entries,
        entriesPerBlock: this.limits.entriesPerBlock,
        bloomFalsePositiveRate: this.limits.bloomFalsePositiveRate,
        putCount: putCountBefore + frozen.putCount,
      });
      const segment = await PersistedIndexSegment.open(this.io, this.dir, name);
      this.segments.push(segment);
      this.frozen = undefined;
    };
    this.persisting = run().finally(() => {
      this.persisting = undefined;
    });
    return this.persisting;
  }

  /** Resolves when no persist is running (rejects if the running one failed). */
  async settled(): Promise<void> {
    await this.persisting;
  }

  /** Journal records at or after `position`, in log order. */
  journalFrom(position: number): JournalRecord[] {
    const all =
      this.frozen === undefined ? this.active.journal : [...this.frozen.journal, ...this.active.journal];
    let low = 0;
    let high = all.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (all[mid]!.position < position) low = mid + 1;
      else high = mid;
    }
    return all.slice(low);
  }

  /** Position right after the last indexed record. */
  get indexedEnd(): number {
    const last = this.active.journal.at(-1) ?? this.frozen?.journal.at(-1);
    return last?.end ?? this.active.startPosition;
  }

  segmentStartingAt(start: number): PersistedIndexSegment | undefined {
    return this.segments.find((s) => s.startPosition === start);
  }

  segmentContaining(position: number): PersistedIndexSegment | undefined {
    return this.segments.find((s) => s.startPosition <= position && position < s.endPosition);
  }

  segmentAfter(segment: PersistedIndexSegment): PersistedIndexSegment | undefined {
    return this.segments.find((s) => s.startPosition === segment.endPosition);
  }

  async close(): Promise<void> {
    await this.persisting?.catch(() => {});
    for (const segment of this.segments) await segment.close().catch(() => {});
    this.segments.length = 0;
  }
}
