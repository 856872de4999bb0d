import { xxh64 } from '@ambry/protocol';
import { DataCorruptError } from './errors.js';
import type { IndexValue } from './index-value.js';
import type { Log } from './log.js';
import {
  blobOffset,
  CHECKSUM_BYTES,
  decodePutRecord,
  parseRecordHeader,
  propertiesOffset,
  type RecordHeader,
  userMetadataOffset,
} from './record.js';
import type { PutChecksums } from './write-pipeline.js';

/**
 * Reads a PUT record back from the log. A whole read takes one file read and checks every checksum, so
 * a flipped byte anywhere is an error and never served. An info read of a large record reads only the
 * part before the blob (plus the stored blob checksum).
 */

/** Records up to this size are read whole even for info: one read beats two. */
const INFO_READ_BYTES = 64 * 1024;

export interface StoredPut {
  readonly propertiesBytes: Buffer;
  readonly userMetadataBytes: Buffer;
  /** Present for a whole read. */
  readonly blob?: Buffer;
  readonly blobSize: number;
  readonly blobChecksum: bigint;
}

export async function readPut(log: Log, value: IndexValue, part: 'all' | 'info'): Promise<StoredPut> {
  if (part === 'all' || value.putSize <= INFO_READ_BYTES) {
    const decoded = decodePutRecord(await log.read(value.putPosition, value.putSize), {
      verifyBlob: part === 'all',
    });
    return {
      propertiesBytes: decoded.properties,
      userMetadataBytes: decoded.userMetadata,
      blob: part === 'all' ? decoded.blob : undefined,
      blobSize: decoded.header.blobLength,
      blobChecksum: decoded.blobChecksum,
    };
  }
  const prefix = await readPrefix(log, value);
  return {
    propertiesBytes: prefix.properties,
    userMetadataBytes: prefix.userMetadata,
    blobSize: prefix.header.blobLength,
    blobChecksum: (
      await log.read(value.putPosition + value.putSize - CHECKSUM_BYTES, CHECKSUM_BYTES)
    ).readBigUInt64LE(0),
  };
}

export async function readPutChecksums(log: Log, value: IndexValue): Promise<PutChecksums> {
  const prefix = await readPrefix(log, value);
  const trailer = await log.read(value.putPosition + value.putSize - CHECKSUM_BYTES, CHECKSUM_BYTES);
  return {
    propertiesChecksum: prefix.propertiesChecksum,
    userMetadataChecksum: prefix.userMetadataChecksum,
    blobChecksum: trailer.readBigUInt64LE(0),
  };
}

interface Prefix {
  readonly header: RecordHeader;
  readonly properties: Buffer;
  readonly userMetadata: Buffer;
  readonly propertiesChecksum: bigint;
  readonly userMetadataChecksum: bigint;
}

async function readPrefix(log: Log, value: IndexValue): Promise<Prefix> {
  const where = `PUT record at log position ${value.putPosition}`;
  let bytes = await log.read(value.putPosition, Math.min(value.putSize, INFO_READ_BYTES));
  const parsed = parseRecordHeader(bytes, 0, bytes.length);
  if (parsed.status !== 'ok') {
    throw new DataCorruptError(
      `${where}: ${parsed.status === 'corrupt' ? parsed.reason : 'header runs past the record'}`,
    );
  }
  const header = parsed.header;
  const end = blobOffset(header);
  if (end > value.putSize) throw new DataCorruptError(`${where}: parts run past the record`);
  if (end > bytes.length) bytes = await log.read(value.putPosition, end);
  const part = (at: number, length: number, name: string) => {
    const body = bytes.subarray(at, at + length);
    const stored = bytes.readBigUInt64LE(at + length);
    if (xxh64(body) !== stored) throw new DataCorruptError(`${where}: ${name} checksum mismatch`);
    return { body, stored };
  };
  const properties = part(propertiesOffset(header), header.propertiesLength, 'blob properties');
  const userMetadata = part(userMetadataOffset(header), header.userMetadataLength, 'user metadata');
  return {
    header,
    properties: properties.body,
    userMetadata: userMetadata.body,
    propertiesChecksum: properties.stored,
    userMetadataChecksum: userMetadata.stored,
  };
}
