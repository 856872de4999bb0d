import path from 'node:path';
import { xxh64 } from '@ambry/protocol';
import { DataCorruptError, DiskFullError } from './errors.js';
import type { StoreFile, StoreIo } from './io.js';

/**
 * The append-only log of one store: numbered segment files of a fixed capacity. A position is one number
 * for the whole log, `segment * segmentBytes + offsetInSegment`, so positions order records and the
 * highest position measures used capacity. Records never span segments. Byte layout: docs/formats.md,
 * "Log segment".
 */

export const LOG_SEGMENT_MAGIC = Buffer.from('AMBRYLOG', 'latin1');
export const LOG_SEGMENT_VERSION = 1;
export const LOG_SEGMENT_HEADER_BYTES = 32;

export function logSegmentFileName(segment: number): string {
  return `${String(segment).padStart(8, '0')}.log`;
}

const SEGMENT_NAME = /^(\d{8})\.log$/;

interface Segment {
  readonly number: number;
  readonly file: StoreFile;
  /** Bytes of the file in use, header included. */
  size: number;
}

export interface AppendItem {
  readonly length: number;
  readonly buffers: readonly Buffer[];
}

function encodeSegmentHeader(segment: number, segmentBytes: number): Buffer {
  const header = Buffer.alloc(LOG_SEGMENT_HEADER_BYTES);
  LOG_SEGMENT_MAGIC.copy(header, 0);
  header.writeUInt16LE(LOG_SEGMENT_VERSION, 8);
  header.writeUInt32LE(segment, 12);
  header.writeBigUInt64LE(BigInt(segmentBytes), 16);
  header.writeBigUInt64LE(xxh64(header.subarray(0, 24)), 24);
  return header;
}

export class Log {
  private readonly dirty = new Set<Segment>();
  private syncChain: Promise<void> = Promise.resolve();
  /** The first failed fsync: every later sync fails too, as a retry may "succeed" on lost pages (fsyncgate). */
  private syncError: unknown;
  /** End position when closed, so stats of a closed store still answer. */
  private closedEnd = LOG_SEGMENT_HEADER_BYTES;

  private constructor(
    private readonly io: StoreIo,
    readonly dir: string,
    readonly segmentBytes: number,
    readonly maxSegments: number,
    private readonly segments: Segment[],
  ) {}

  /**
   * Opens every segment file (creating segment 0 for a new store). A last segment whose header never
   * made it to disk is removed; any other damaged header is corruption.
   */
  static async open(io: StoreIo, dir: string, segmentBytes: number, capacityBytes: number): Promise<Log> {
    const names = (await io.readdir(dir)).filter((n) => SEGMENT_NAME.test(n)).sort();
    const segments: Segment[] = [];
    const log = new Log(io, dir, segmentBytes, Math.floor(capacityBytes / segmentBytes), segments);
    try {
      for (const [i, name] of names.entries()) {
        const number = Number(SEGMENT_NAME.exec(name)?.[1]);
        if (number !== i) throw new DataCorruptError(`log segment ${name} is out of sequence`);
        const file = await io.open(path.join(dir, name), 'r+');
        const size = await file.size().catch(async (error: unknown) => {
          await file.close().catch(() => {});
          throw error;
        });
        const isLast = i === names.length - 1;
        if (size < LOG_SEGMENT_HEADER_BYTES && isLast && i > 0) {
          // A roll-over that crashed before the header was durable: nothing in it was acknowledged.
          await file.close();
          await io.unlink(path.join(dir, name));
          await io.syncDir(dir);
          break;
        }
        segments.push({ number, file, size });
        const header = Buffer.alloc(LOG_SEGMENT_HEADER_BYTES);
        const read = await file.read(header, 0, header.length, 0);
        if (read === header.length && header.equals(encodeSegmentHeader(number, segmentBytes))) continue;
        if (i === 0 && isLast && size < LOG_SEGMENT_HEADER_BYTES) {
          // A new store that crashed while writing its first header.
          await file.truncate(0);
          await log.writeHeader(segments[0]!);
          continue;
        }
        throw new DataCorruptError(`log segment ${name} has a bad header (or another segment size)`);
      }
      if (segments.length === 0) await log.addSegment(0);
      return log;
    } catch (error) {
      await log.close().catch(() => {});
      throw error;
    }
  }

  /** Position right after the last byte in the log. */
  get endPosition(): number {
    const last = this.segments.at(-1);
    if (last === undefined) return this.closedEnd;
    return last.number * this.segmentBytes + last.size;
  }

  /** Position of the first record of the log. */
  get startPosition(): number {
    return LOG_SEGMENT_HEADER_BYTES;
  }

  get capacityBytes(): number {
    return this.maxSegments * this.segmentBytes;
  }

  /** Largest record the log can ever hold. */
  get maxRecordBytes(): number {
    return this.segmentBytes - LOG_SEGMENT_HEADER_BYTES;
  }

  /**
   * End position of the segment holding `position` (where a scan of that segment stops). A position at a
   * multiple of segmentBytes is the end of a full segment, never the start of the next (records start
   * after its header): a record that exactly fills segment N ends at (N + 1) * segmentBytes.
   */
  segmentEndFor(position: number): number {
    const number = Math.floor((position - 1) / this.segmentBytes);
    const segment = this.segments[number];
    return segment === undefined ? position : number * this.segmentBytes + segment.size;
  }

  /** First record position of the segment after the one holding `position`, or undefined for the last. */
  nextSegmentStart(position: number): number | undefined {
    const next = Math.floor((position - 1) / this.segmentBytes) + 1;
    return next < this.segments.length ? next * this.segmentBytes + LOG_SEGMENT_HEADER_BYTES : undefined;
  }

  /**
   * Hands out positions for records appended after the current end, rolling to a new segment where a record
   * does not fit. Throws DiskFullError (and hands out nothing) when a record needs a segment past the
   * capacity or is larger than a segment.
   */
  planner(): (length: number) => number {
    let segment = this.segments.length - 1;
    let offset = this.segments[segment]!.size;
    return (length) => {
      if (length > this.maxRecordBytes) {
        throw new DiskFullError(`a record of ${length} bytes exceeds the segment size ${this.segmentBytes}`);
      }
      if (offset + length > this.segmentBytes) {
        if (segment + 1 >= this.maxSegments)
          throw new DiskFullError(`log capacity ${this.capacityBytes} bytes reached`);
        segment += 1;
        offset = LOG_SEGMENT_HEADER_BYTES;
      }
      const position = segment * this.segmentBytes + offset;
      offset += length;
      return position;
    };
  }

  /**
   * Writes the records at the positions `plan` gave (one writev per segment touched). On failure the
   * touched segments are cut back to where they were, so a failed append leaves no bytes behind; if even
   * that fails the error says so through `cutBack: false`.
   */
  async append(items: readonly AppendItem[], positions: readonly number[]): Promise<void> {
    const before = this.segments.map((s) => s.size);
    const createdFrom = this.segments.length;
    try {
      let i = 0;
      while (i < items.length) {
        const number = Math.floor(positions[i]! / this.segmentBytes);
        if (number >= this.segments.length) await this.roll(number);
        const segment = this.segments[number]!;
        const buffers: Buffer[] = [];
        let end = positions[i]! - number * this.segmentBytes;
        const start = end;
        while (i < items.length && Math.floor(positions[i]! / this.segmentBytes) === number) {
          buffers.push(...items[i]!.buffers);
          end += items[i]!.length;
          i += 1;
        }
        if (start !== segment.size)
          throw new Error(`append at ${start} but segment ${number} ends at ${segment.size}`);
        await segment.file.writev(buffers, start);
        segment.size = end;
        // Marked after the write: a sync that started earlier must not count as covering it.
        this.dirty.add(segment);
      }
    } catch (error) {
      const cutBack = await this.cutBack(before, createdFrom);
      throw Object.assign(error instanceof Error ? error : new Error(String(error)), { cutBack });
    }
  }

  /**
   * fdatasync of every segment written since the last sync. Syncs run one after another, so a caller
   * whose write completed before calling is covered even when another sync was already running.
   */
  sync(): Promise<void> {
    const run = this.syncChain.then(() => this.syncDirty());
    this.syncChain = run.catch(() => {});
    return run;
  }

  private async syncDirty(): Promise<void> {
    if (this.syncError !== undefined) throw this.syncError;
    const segments = [...this.dirty];
    this.dirty.clear();
    try {
      for (const segment of segments) await segment.file.datasync();
    } catch (error) {
      for (const segment of segments) this.dirty.add(segment);
      this.syncError = error;
      throw error;
    }
  }

  /**
   * fdatasync of every segment from the one holding `position` on, dirty or not: bytes found on open
   * (the tail recovery re-indexed) may be only in the page cache.
   */
  async syncFrom(position: number): Promise<void> {
    for (const segment of this.segments.slice(Math.floor(position / this.segmentBytes))) {
      await segment.file.datasync();
    }
  }

  get needsSync(): boolean {
    return this.dirty.size > 0;
  }

  /** Reads exactly `length` bytes at `position` (within one segment). */
  async read(position: number, length: number, target?: Buffer): Promise<Buffer> {
    const number = Math.floor(position / this.segmentBytes);
    const segment = this.segments[number];
    const offset = position - number * this.segmentBytes;
    if (segment === undefined || offset + length > segment.size) {
      throw new DataCorruptError(`log read of ${length} bytes at ${position} is past the end of the log`);
    }
    const buffer = target ?? Buffer.allocUnsafe(length);
    const read = await segment.file.read(buffer, 0, length, offset);
    if (read !== length)
      throw new DataCorruptError(`short log read at ${position}: ${read} of ${length} bytes`);
    return buffer;
  }

  /** Cuts the log at `position` (recovery: a torn or corrupt tail), removing later segments. */
  async truncateTo(position: number): Promise<void> {
    const number = Math.floor(position / this.segmentBytes);
    while (this.segments.length > number + 1) {
      const last = this.segments.pop()!;
      this.dirty.delete(last);
      await last.file.close();
      await this.io.unlink(path.join(this.dir, logSegmentFileName(last.number)));
    }
    const segment = this.segments[number]!;
    segment.size = Math.max(LOG_SEGMENT_HEADER_BYTES, position - number * this.segmentBytes);
    await segment.file.truncate(segment.size);
    await segment.file.datasync();
    await this.io.syncDir(this.dir);
  }

  async close(): Promise<void> {
    const errors: unknown[] = [];
    for (const segment of this.segments) await segment.file.close().catch((e: unknown) => errors.push(e));
    if (this.segments.length > 0) this.closedEnd = this.endPosition;
    this.segments.length = 0;
    if (errors.length > 0) throw errors[0];
  }

  private async roll(number: number): Promise<void> {
    // The previous segment must be durable before records land after it, or a crash could keep the
    // newer segment and lose the older one's tail.
    const previous = this.segments.at(-1)!;
    if (this.dirty.has(previous)) {
      await previous.file.datasync().catch((error: unknown) => {
        // Flagged so the store treats it like any failed fsync (fatal), not as a retryable write error.
        throw Object.assign(error instanceof Error ? error : new Error(String(error)), { syncFailed: true });
      });
      this.dirty.delete(previous);
    }
    await this.addSegment(number);
  }

  private async addSegment(number: number): Promise<void> {
    const file = await this.io.open(path.join(this.dir, logSegmentFileName(number)), 'wx+');
    const segment: Segment = { number, file, size: 0 };
    this.segments.push(segment);
    await this.writeHeader(segment);
    await this.io.syncDir(this.dir);
  }

  private async writeHeader(segment: Segment): Promise<void> {
    await segment.file.writev([encodeSegmentHeader(segment.number, this.segmentBytes)], 0);
    await segment.file.datasync();
    segment.size = LOG_SEGMENT_HEADER_BYTES;
  }

  private async cutBack(before: readonly number[], createdFrom: number): Promise<boolean> {
    try {
      while (this.segments.length > createdFrom) {
        const created = this.segments.pop()!;
        this.dirty.delete(created);
        await created.file.close().catch(() => {});
        await this.io.unlink(path.join(this.dir, logSegmentFileName(created.number)));
      }
      for (const [i, size] of before.entries()) {
        const segment = this.segments[i]!;
        if (segment.size !== size || i === before.length - 1) {
          await segment.file.truncate(size);
          segment.size = size;
        }
      }
      return true;
    } catch {
      return false;
    }
  }
}
