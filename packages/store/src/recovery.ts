import type { Logger } from '@ambry/protocol';
import { DataCorruptError } from './errors.js';
import type { Log } from './log.js';
import { parseRecordHeader, type RecordHeader, recordLength, verifyRecord } from './record.js';

/**
 * Re-indexes the log after the last persisted index segment. Every record there is read whole and checked
 * against its checksums; the first record that is torn (cut short by a crash) or fails a check ends the
 * log: it and everything after it are cut off and the cut is logged. Records before it are applied in
 * log order.
 */

const SCAN_CHUNK_BYTES = 4 * 1024 * 1024;

export interface RecoveryResult {
  readonly records: number;
  readonly scannedBytes: number;
  /** Where the log was cut, when a bad tail was found. */
  readonly cutAt?: number;
  readonly cutBytes?: number;
  readonly reason?: string;
}

export async function recoverLogTail(
  log: Log,
  from: number,
  apply: (header: RecordHeader, position: number, length: number) => Promise<void>,
  logger: Logger,
): Promise<RecoveryResult> {
  if (from > log.endPosition) {
    throw new DataCorruptError(
      `the index covers the log up to ${from} but the log ends at ${log.endPosition}`,
    );
  }
  let position = from;
  let records = 0;
  let chunk: Buffer = Buffer.alloc(0);
  let chunkStart = position;
  const endBefore = log.endPosition;
  const cut = async (reason: string): Promise<RecoveryResult> => {
    const cutBytes = endBefore - position;
    logger.warn({ position, cutBytes, reason }, 'store recovery cut off a torn or corrupt log tail');
    await log.truncateTo(position);
    return { records, scannedBytes: position - from, cutAt: position, cutBytes, reason };
  };

  for (;;) {
    const segmentEnd = log.segmentEndFor(position);
    if (position >= segmentEnd) {
      const next = log.nextSegmentStart(position);
      if (next === undefined) break;
      position = next;
      continue;
    }
    let offset = position - chunkStart;
    if (offset < 0 || offset >= chunk.length) {
      chunk = await log.read(position, Math.min(SCAN_CHUNK_BYTES, segmentEnd - position));
      chunkStart = position;
      offset = 0;
    }
    let parsed = parseRecordHeader(chunk, offset, chunk.length);
    if (parsed.status === 'incomplete' && chunkStart + chunk.length < segmentEnd && offset > 0) {
      chunk = await log.read(position, Math.min(SCAN_CHUNK_BYTES, segmentEnd - position));
      chunkStart = position;
      offset = 0;
      parsed = parseRecordHeader(chunk, offset, chunk.length);
    }
    if (parsed.status === 'incomplete') return cut('the log ends inside a record header');
    if (parsed.status === 'corrupt') return cut(`bad record header: ${parsed.reason}`);
    const length = recordLength(parsed.header);
    if (position + length > segmentEnd)
      return cut(`record of ${length} bytes runs past the end of its segment`);
    const record =
      offset + length <= chunk.length
        ? chunk.subarray(offset, offset + length)
        : await log.read(position, length);
    try {
      verifyRecord(record);
    } catch (error) {
      if (error instanceof DataCorruptError) return cut(error.message);
      throw error;
    }
    await apply(parsed.header, position, length);
    records += 1;
    position += length;
  }
  return { records, scannedBytes: position - from };
}
