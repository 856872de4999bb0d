import { DataCorruptError, InvalidStoreArgumentError, ReadBudgetExceededError } from './errors.js';
import { type FindContext, journalResumePosition } from './find-entries.js';
import type { Log } from './log.js';
import {
  headerLength,
  MAX_KEY_BYTES,
  parseRecordHeader,
  type RecordHeader,
  recordLength,
  verifyRecord,
} from './record.js';
import { decodeToken, encodeToken, type FindToken } from './token.js';

/**
 * Log chunks: whole records copied byte for byte from one store's log into another's, so an empty
 * replica can be rebuilt at disk speed instead of blob by blob (docs/formats.md, "Log chunk"). Both logs
 * use one position space (`segment * segmentBytes + offset`) and the same roll-over rule, so with equal
 * segment sizes every copied record lands at the position it has in the source, and the source's
 * journal token after the last copied record says exactly what the copy holds.
 */

/**
 * Largest record a chunk carries whole even when it exceeds the requested bound: what fits a frame of
 * the default 64 MiB limit with room for the header. A larger record cannot travel (nor can a GET of it).
 */
export const MAX_CHUNK_RECORD_BYTES = 64 * 1024 * 1024 - 64 * 1024;

export interface LogChunk {
  readonly incarnation: Buffer;
  readonly segmentBytes: number;
  /** Log position of the first byte of `records`. */
  readonly position: number;
  /** Whole records (possibly none: nothing indexed after `position` yet). */
  readonly records: Buffer;
  /** Journal token at the end of `records`. */
  readonly token: Buffer;
  /** Indexed log bytes after `records`. */
  readonly lagBytes: number;
}

export interface ChunkSource extends FindContext {
  readonly log: Log;
}

/** Where a token says to continue: start, or a journal token of this incarnation (pulled back after an unclean restart). */
function chunkStart(source: ChunkSource, token: FindToken): number {
  const start = source.log.startPosition;
  if (token.kind === 'start' || !token.incarnation.equals(source.incarnation)) return start;
  if (token.kind !== 'journal') {
    throw new InvalidStoreArgumentError('a log chunk continues from a journal token, not an index token');
  }
  return journalResumePosition(source, token);
}

/**
 * Up to `maxBytes` of whole records after `tokenBytes`, within one segment and no further than the
 * indexed (under group commit: durable) end, so nothing handed out can be cut by a later recovery.
 * A first record larger than `maxBytes` is returned whole, in a buffer of its own, once `reserve` has
 * accepted its size. Otherwise the records are read into `into` when it is at
 * least `maxBytes` long (a caller reusing one buffer per answer), else into a new buffer.
 */
export async function readLogChunk(
  source: ChunkSource,
  tokenBytes: Uint8Array,
  maxBytes: number,
  into?: Buffer,
  reserve?: (bytes: number) => boolean,
): Promise<LogChunk> {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw new InvalidStoreArgumentError(`maxBytes ${maxBytes} must be a positive integer`);
  }
  const { log, index } = source;
  const limit = index.indexedEnd;
  let position = chunkStart(source, decodeToken(tokenBytes));
  if (position > limit) {
    throw new InvalidStoreArgumentError(`token position ${position} is past the indexed log end ${limit}`);
  }
  if (position < limit && position >= log.segmentEndFor(position)) {
    position = log.nextSegmentStart(position) ?? position;
  }
  const available = Math.min(limit, log.segmentEndFor(position)) - position;
  let records: Buffer = Buffer.alloc(0);
  if (available > 0) {
    const length = Math.min(available, maxBytes);
    records = (
      await log.read(position, length, into !== undefined && into.length >= length ? into : undefined)
    ).subarray(0, length);
    let end = wholeRecordsEnd(records, position);
    if (end === 0) {
      const head = await log.read(position, Math.min(available, headerLength(MAX_KEY_BYTES)));
      const first = parseRecordHeader(head, 0, head.length);
      if (first.status !== 'ok') throw new DataCorruptError(`log record at ${position} has a bad header`);
      const length = recordLength(first.header);
      if (length > available) {
        throw new DataCorruptError(`log record at ${position} of ${length} bytes runs past its segment`);
      }
      if (length > MAX_CHUNK_RECORD_BYTES) {
        throw new InvalidStoreArgumentError(
          `the log record at ${position} of ${length} bytes is too large to send`,
        );
      }
      if (reserve !== undefined && !reserve(length)) throw new ReadBudgetExceededError(length);
      records = await log.read(position, length);
      end = length;
    }
    records = records.subarray(0, end);
  }
  const after = position + records.length;
  return {
    incarnation: source.incarnation,
    segmentBytes: log.segmentBytes,
    position,
    records,
    token: encodeToken({
      kind: 'journal',
      incarnation: source.incarnation,
      session: source.session,
      position: after,
    }),
    lagBytes: Math.max(0, limit - after),
  };
}

/** Bytes of `buf` covered by whole records; a header that does not parse where one must start is corruption. */
function wholeRecordsEnd(buf: Buffer, position: number): number {
  let offset = 0;
  while (offset < buf.length) {
    const parsed = parseRecordHeader(buf, offset, buf.length);
    if (parsed.status === 'corrupt') {
      throw new DataCorruptError(`log record at ${position + offset}: ${parsed.reason}`);
    }
    if (parsed.status === 'incomplete') break;
    const length = recordLength(parsed.header);
    if (offset + length > buf.length) break;
    offset += length;
  }
  return offset;
}

export interface ChunkRecord {
  readonly header: RecordHeader;
  readonly position: number;
  readonly bytes: Buffer;
}

/**
 * Splits a received chunk into records and checks every byte of each against its checksums: a copy
 * must never carry corruption from the source (or the wire) into this store. Its positions mean the
 * same here only when its source's segments are as large as this log's (`segmentBytes`).
 */
export function parseLogChunk(
  chunk: { readonly position: number; readonly segmentBytes: number; readonly records: Uint8Array },
  segmentBytes: number,
): { records: ChunkRecord[]; bytes: number } {
  if (chunk.segmentBytes !== segmentBytes) {
    throw new InvalidStoreArgumentError(
      `a log chunk from segments of ${chunk.segmentBytes} bytes cannot extend segments of ${segmentBytes}`,
    );
  }
  const { position } = chunk;
  const records = Buffer.from(chunk.records.buffer, chunk.records.byteOffset, chunk.records.byteLength);
  const parsed: ChunkRecord[] = [];
  let offset = 0;
  while (offset < records.length) {
    const header = parseRecordHeader(records, offset, records.length);
    if (header.status !== 'ok') {
      throw new DataCorruptError(
        `log chunk record at ${position + offset}: ${header.status === 'corrupt' ? header.reason : 'cut short'}`,
      );
    }
    const length = recordLength(header.header);
    if (offset + length > records.length) {
      throw new DataCorruptError(`log chunk record at ${position + offset} is cut short`);
    }
    const bytes = records.subarray(offset, offset + length);
    parsed.push({ header: verifyRecord(bytes), position: position + offset, bytes });
    offset += length;
  }
  return { records: parsed, bytes: records.length };
}
