import { xxh64 } from '@ambry/protocol';
import { DataCorruptError, InvalidStoreArgumentError } from './errors.js';

/**
 * Log records: the on-disk form of every PUT, DELETE, TTL_UPDATE and UNDELETE (docs/formats.md,
 * section 9). Integers are little-endian, unlike the wire formats: these bytes never leave the node,
 * and Buffer's LE accessors are the natural ones on the hardware it runs on.
 */
export enum RecordType {
  PUT = 1,
  DELETE = 2,
  TTL_UPDATE = 3,
  UNDELETE = 4,
}

export const RECORD_MAGIC = 0xb10b;
export const RECORD_VERSION = 1;
export const RECORD_FIXED_BYTES = 44;
export const MAX_KEY_BYTES = 1024;
export const CHECKSUM_BYTES = 8;

export interface RecordHeader {
  readonly type: RecordType;
  readonly lifeVersion: number;
  readonly accountId: number;
  readonly containerId: number;
  readonly operationTimeMs: number;
  readonly expiresAtMs: number;
  readonly key: Buffer;
  readonly propertiesLength: number;
  readonly userMetadataLength: number;
  readonly blobLength: number;
}

/** The fields a caller supplies for an update record; the three lengths are 0 by definition. */
export type UpdateRecordFields = Omit<RecordHeader, 'propertiesLength' | 'userMetadataLength' | 'blobLength'>;
/** The fields a caller supplies for a PUT; type and lengths follow from the call itself. */
export type PutRecordFields = Omit<UpdateRecordFields, 'type'>;

export interface EncodedPut {
  readonly buffers: Buffer[];
  readonly length: number;
  readonly blobChecksum: bigint;
  readonly propertiesChecksum: bigint;
  readonly userMetadataChecksum: bigint;
}

export type HeaderParse =
  | { readonly status: 'ok'; readonly header: RecordHeader; readonly headerBytes: number }
  | { readonly status: 'incomplete'; readonly needBytes: number }
  | { readonly status: 'corrupt'; readonly reason: string };

export interface DecodedPut {
  readonly header: RecordHeader;
  readonly properties: Buffer;
  readonly userMetadata: Buffer;
  readonly blob: Buffer;
  readonly blobChecksum: bigint;
  readonly propertiesChecksum: bigint;
  readonly userMetadataChecksum: bigint;
}

const MAX_U32 = 0xffff_ffff;
const MAX_U64 = (1n << 64n) - 1n;

export function headerLength(keyLength: number): number {
  return RECORD_FIXED_BYTES + keyLength + CHECKSUM_BYTES;
}

export function recordLength(
  h: Pick<RecordHeader, 'type' | 'key' | 'propertiesLength' | 'userMetadataLength' | 'blobLength'>,
): number {
  const header = headerLength(h.key.length);
  if (h.type !== RecordType.PUT) return header;
  return header + h.propertiesLength + h.userMetadataLength + h.blobLength + 3 * CHECKSUM_BYTES;
}

/** Offsets below only mean something for PUT records: update records end with the header checksum. */
export function propertiesOffset(h: Pick<RecordHeader, 'key'>): number {
  return headerLength(h.key.length);
}

export function userMetadataOffset(h: Pick<RecordHeader, 'key' | 'propertiesLength'>): number {
  return propertiesOffset(h) + h.propertiesLength + CHECKSUM_BYTES;
}

export function blobOffset(h: Pick<RecordHeader, 'key' | 'propertiesLength' | 'userMetadataLength'>): number {
  return userMetadataOffset(h) + h.userMetadataLength + CHECKSUM_BYTES;
}

function checkU16(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) {
    throw new InvalidStoreArgumentError(`${name} must be an integer 0..65535, got ${v}`);
  }
}

function checkFields(h: PutRecordFields): void {
  checkU16('lifeVersion', h.lifeVersion);
  checkU16('accountId', h.accountId);
  checkU16('containerId', h.containerId);
  if (!(h.key instanceof Uint8Array) || h.key.length < 1 || h.key.length > MAX_KEY_BYTES) {
    throw new InvalidStoreArgumentError(`key must be 1..${MAX_KEY_BYTES} bytes, got ${h.key?.length}`);
  }
  if (!Number.isSafeInteger(h.operationTimeMs) || h.operationTimeMs < 0) {
    throw new InvalidStoreArgumentError(`operationTimeMs must be 0..2^53-1, got ${h.operationTimeMs}`);
  }
  if (!Number.isSafeInteger(h.expiresAtMs) || h.expiresAtMs < -1) {
    throw new InvalidStoreArgumentError(`expiresAtMs must be -1 or 0..2^53-1, got ${h.expiresAtMs}`);
  }
}

/** Writes the fixed part, the key and the header checksum at `buf[0, headerLength)`. */
function writeHeader(buf: Buffer, type: RecordType, h: PutRecordFields, p: number, u: number, b: number) {
  buf.writeUInt16LE(RECORD_MAGIC, 0);
  buf.writeUInt8(RECORD_VERSION, 2);
  buf.writeUInt8(type, 3);
  buf.writeUInt16LE(h.lifeVersion, 4);
  buf.writeUInt16LE(h.accountId, 6);
  buf.writeUInt16LE(h.containerId, 8);
  buf.writeUInt16LE(h.key.length, 10);
  buf.writeBigInt64LE(BigInt(h.operationTimeMs), 12);
  buf.writeBigInt64LE(BigInt(h.expiresAtMs), 20);
  buf.writeUInt32LE(p, 28);
  buf.writeUInt32LE(u, 32);
  buf.writeBigUInt64LE(BigInt(b), 36);
  buf.set(h.key, RECORD_FIXED_BYTES);
  const end = RECORD_FIXED_BYTES + h.key.length;
  buf.writeBigUInt64LE(xxh64(buf.subarray(0, end)), end);
}

export function encodeUpdateRecord(h: UpdateRecordFields): Buffer {
  if (h.type !== RecordType.DELETE && h.type !== RecordType.TTL_UPDATE && h.type !== RecordType.UNDELETE) {
    throw new InvalidStoreArgumentError(`not an update record type: ${h.type}`);
  }
  checkFields(h);
  const buf = Buffer.alloc(headerLength(h.key.length));
  writeHeader(buf, h.type, h, 0, 0, 0);
  return buf;
}

/**
 * Encodes a PUT as buffers to write back to back. The blob is one of them as given, never copied: blobs
 * are the bulk of the log and the caller already holds them in memory.
 */
export function encodePutRecord(
  h: PutRecordFields,
  properties: Buffer,
  userMetadata: Buffer,
  blob: Buffer,
  blobChecksum?: bigint,
): EncodedPut {
  checkFields(h);
  const p = properties.length;
  const u = userMetadata.length;
  if (p > MAX_U32 || u > MAX_U32)
    throw new InvalidStoreArgumentError('properties or user metadata over 4 GiB');
  if (
    blobChecksum !== undefined &&
    (typeof blobChecksum !== 'bigint' || blobChecksum < 0n || blobChecksum > MAX_U64)
  ) {
    throw new InvalidStoreArgumentError(
      `blobChecksum must be an unsigned 64-bit bigint, got ${blobChecksum}`,
    );
  }
  const propsAt = headerLength(h.key.length);
  const metaAt = propsAt + p + CHECKSUM_BYTES;
  const head = Buffer.allocUnsafe(metaAt + u + CHECKSUM_BYTES);
  writeHeader(head, RecordType.PUT, h, p, u, blob.length);
  const propertiesChecksum = xxh64(properties);
  const userMetadataChecksum = xxh64(userMetadata);
  head.set(properties, propsAt);
  head.writeBigUInt64LE(propertiesChecksum, propsAt + p);
  head.set(userMetadata, metaAt);
  head.writeBigUInt64LE(userMetadataChecksum, metaAt + u);

  // Trusted as given: the receive path hashes the blob while it streams in, and hashing it again here
  // would double the CPU cost of every PUT.
  const blobSum = blobChecksum ?? xxh64(blob);
  const tail = Buffer.allocUnsafe(CHECKSUM_BYTES);
  tail.writeBigUInt64LE(blobSum);
  return {
    buffers: [head, blob, tail],
    length: head.length + blob.length + CHECKSUM_BYTES,
    blobChecksum: blobSum,
    propertiesChecksum,
    userMetadataChecksum,
  };
}

function corrupt(reason: string): HeaderParse {
  return { status: 'corrupt', reason };
}

/**
 * Parses the header at `buf[offset, end)`. Never throws on bad bytes: recovery scans the tail of a log
 * that may hold a torn write, and needs to tell "not all here yet" from "garbage" without exceptions.
 * Magic, version, type and key length are judged as soon as their bytes are present, so garbage is
 * reported as early as possible; a prefix of a valid header is always 'incomplete'.
 */
export function parseRecordHeader(buf: Buffer, offset: number, end: number): HeaderParse {
  if (!Number.isInteger(offset) || !Number.isInteger(end) || offset < 0 || offset > end || end > buf.length) {
    // A caller bug, not bad data.
    throw new InvalidStoreArgumentError(`bad range [${offset}, ${end}) of a ${buf.length}-byte buffer`);
  }
  const avail = end - offset;
  if (avail >= 2 && buf.readUInt16LE(offset) !== RECORD_MAGIC) {
    return corrupt(`bad magic 0x${buf.readUInt16LE(offset).toString(16)}`);
  }
  if (avail >= 3 && buf[offset + 2] !== RECORD_VERSION)
    return corrupt(`unknown record version ${buf[offset + 2]}`);
  const type = buf[offset + 3];
  if (avail >= 4 && (type === undefined || type < RecordType.PUT || type > RecordType.UNDELETE)) {
    return corrupt(`unknown record type ${type}`);
  }
  if (avail < 12) return { status: 'incomplete', needBytes: RECORD_FIXED_BYTES };
  const keyLength = buf.readUInt16LE(offset + 10);
  if (keyLength < 1 || keyLength > MAX_KEY_BYTES) return corrupt(`key length ${keyLength} out of range`);
  const headerBytes = headerLength(keyLength);
  if (avail < headerBytes) return { status: 'incomplete', needBytes: headerBytes };

  const sumAt = offset + RECORD_FIXED_BYTES + keyLength;
  if (buf.readBigUInt64LE(sumAt) !== xxh64(buf.subarray(offset, sumAt)))
    return corrupt('header checksum mismatch');

  // The checksum matched, so what follows catches a writer that broke the rules, not bit rot.
  const operationTimeMs = Number(buf.readBigInt64LE(offset + 12));
  const expiresAtMs = Number(buf.readBigInt64LE(offset + 20));
  const propertiesLength = buf.readUInt32LE(offset + 28);
  const userMetadataLength = buf.readUInt32LE(offset + 32);
  const blobLength = Number(buf.readBigUInt64LE(offset + 36));
  if (!Number.isSafeInteger(operationTimeMs) || operationTimeMs < 0) {
    return corrupt(`operationTimeMs ${buf.readBigInt64LE(offset + 12)} out of range`);
  }
  if (!Number.isSafeInteger(expiresAtMs) || expiresAtMs < -1) {
    return corrupt(`expiresAtMs ${buf.readBigInt64LE(offset + 20)} out of range`);
  }
  if (!Number.isSafeInteger(blobLength))
    return corrupt(`blobLength ${buf.readBigUInt64LE(offset + 36)} out of range`);
  if (type !== RecordType.PUT && (propertiesLength !== 0 || userMetadataLength !== 0 || blobLength !== 0)) {
    return corrupt(`${RecordType[type as RecordType]} record with nonzero body lengths`);
  }
  const header: RecordHeader = {
    type: type as RecordType,
    lifeVersion: buf.readUInt16LE(offset + 4),
    accountId: buf.readUInt16LE(offset + 6),
    containerId: buf.readUInt16LE(offset + 8),
    operationTimeMs,
    expiresAtMs,
    // A copy, so a header kept in memory (index, journal) does not pin the whole read buffer.
    key: Buffer.from(buf.subarray(offset + RECORD_FIXED_BYTES, sumAt)),
    propertiesLength,
    userMetadataLength,
    blobLength,
  };
  if (!Number.isSafeInteger(recordLength(header))) return corrupt('record length exceeds 2^53-1');
  return { status: 'ok', header, headerBytes };
}

function parseWhole(record: Buffer): RecordHeader {
  const parsed = parseRecordHeader(record, 0, record.length);
  if (parsed.status === 'corrupt') throw new DataCorruptError(`log record: ${parsed.reason}`);
  if (parsed.status === 'incomplete') {
    throw new DataCorruptError(
      `log record truncated: ${record.length} bytes, header needs ${parsed.needBytes}`,
    );
  }
  const expected = recordLength(parsed.header);
  if (record.length !== expected) {
    throw new DataCorruptError(`log record is ${record.length} bytes, its header says ${expected}`);
  }
  return parsed.header;
}

function checkedPart(record: Buffer, at: number, length: number, name: string, verify: boolean) {
  const bytes = record.subarray(at, at + length);
  const checksum = record.readBigUInt64LE(at + length);
  if (verify && xxh64(bytes) !== checksum)
    throw new DataCorruptError(`log record: ${name} checksum mismatch`);
  return { bytes, checksum };
}

/** Decodes a whole PUT record held in one buffer; the parts returned are views into it, not copies. */
export function decodePutRecord(record: Buffer, options?: { verifyBlob?: boolean }): DecodedPut {
  const header = parseWhole(record);
  if (header.type !== RecordType.PUT) {
    throw new DataCorruptError(`log record: expected PUT, found ${RecordType[header.type]}`);
  }
  const props = checkedPart(record, propertiesOffset(header), header.propertiesLength, 'properties', true);
  const meta = checkedPart(
    record,
    userMetadataOffset(header),
    header.userMetadataLength,
    'user metadata',
    true,
  );
  const blob = checkedPart(
    record,
    blobOffset(header),
    header.blobLength,
    'blob',
    options?.verifyBlob !== false,
  );
  return {
    header,
    properties: props.bytes,
    userMetadata: meta.bytes,
    blob: blob.bytes,
    blobChecksum: blob.checksum,
    propertiesChecksum: props.checksum,
    userMetadataChecksum: meta.checksum,
  };
}

/** Checks every byte of a record of any type (recovery's test of the last records in the log). */
export function verifyRecord(record: Buffer): RecordHeader {
  if (record.length >= 4 && record[3] === RecordType.PUT) return decodePutRecord(record).header;
  return parseWhole(record);
}
