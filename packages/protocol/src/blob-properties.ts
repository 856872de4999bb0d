import { ByteReader, ByteWriter, utf8Bytes } from './binary.js';
import { DecodeError, InvalidArgumentError, LimitExceededError, UnsupportedVersionError } from './errors.js';

/**
 * System properties of a blob, fixed at PUT time (docs/formats.md, "Blob properties").
 *
 * Version 1 layout (big-endian):
 *
 *   0   u16  version = 1
 *   2   u8   flags: bit 0 isPrivate, bit 1 isEncrypted, bits 2-7 reserved (zero)
 *   3   u64  blobSize
 *   11  u64  creationTimeMs
 *   19  i64  ttlSeconds (-1 = never expires)
 *   27  u16  accountId
 *   29  u16  containerId
 *   31  str  serviceId, contentType, ownerId, contentEncoding, filename
 *            (each u16 byte length + UTF-8; length 0 = absent for the optional ones)
 *   ..  u16  extensionCount, then per extension {u16 tag, u32 length, bytes}, tags strictly ascending
 *
 * The extension area lets fields be added without a version bump: a reader skips tags it does not know.
 * Version 1 defines no tags and writes a count of 0.
 *
 * The encoding is canonical: one object has one encoding, and the decoder accepts only bytes the
 * encoder could have produced, so checksums of two encodings of equal properties are equal.
 */

export interface BlobProperties {
  /** Logical size of the blob in bytes, 0..2^53-1. */
  blobSize: number;
  /** Name of the service that uploaded the blob; required, non-empty. */
  serviceId: string;
  /** MIME type; required, non-empty. */
  contentType: string;
  ownerId?: string;
  /** Epoch milliseconds, 0..2^53-1. */
  creationTimeMs: number;
  /** -1 = never expires; otherwise 0..2^53-1 seconds after creationTimeMs. */
  ttlSeconds: number;
  isPrivate: boolean;
  /** u16; 65535 = unknown. */
  accountId: number;
  /** u16; 65535 = unknown. */
  containerId: number;
  isEncrypted?: boolean;
  contentEncoding?: string;
  filename?: string;
}

export const BLOB_PROPERTIES_VERSION = 1;
/** `ttlSeconds` of a blob that never expires. */
export const TTL_NEVER_EXPIRES = -1;

/** Largest UTF-8 byte length of each string field. */
export const BLOB_PROPERTIES_LIMITS = Object.freeze({
  serviceId: 128,
  contentType: 256,
  ownerId: 256,
  contentEncoding: 64,
  filename: 1024,
});

type StringField = keyof typeof BLOB_PROPERTIES_LIMITS;
/** Wire order of the string fields. */
const STRING_FIELDS: readonly StringField[] = [
  'serviceId',
  'contentType',
  'ownerId',
  'contentEncoding',
  'filename',
];
const REQUIRED_STRINGS: ReadonlySet<StringField> = new Set(['serviceId', 'contentType']);

const FLAG_PRIVATE = 0x01;
const FLAG_ENCRYPTED = 0x02;
const FLAGS_RESERVED = 0xfc;
const MAX_U16 = 0xffff;
const WHAT = 'blob properties';

function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(
      `blob properties: ${name} must be an integer in ${min}..${max}, got ${String(value)}`,
    );
  }
  return value;
}

function checkBoolean(name: string, value: unknown, optional: boolean): boolean {
  if (optional && value === undefined) return false;
  if (typeof value !== 'boolean') {
    throw new InvalidArgumentError(`blob properties: ${name} must be a boolean, got ${String(value)}`);
  }
  return value;
}

function stringBytes(field: StringField, value: unknown): Buffer {
  const required = REQUIRED_STRINGS.has(field);
  if (!required && (value === undefined || value === null)) return Buffer.alloc(0);
  if (typeof value !== 'string') {
    throw new InvalidArgumentError(`blob properties: ${field} must be a string, got ${typeof value}`);
  }
  if (required && value.length === 0) throw new InvalidArgumentError(`blob properties: ${field} is empty`);
  const bytes = utf8Bytes(value, `blob properties: ${field}`);
  const limit = BLOB_PROPERTIES_LIMITS[field];
  if (bytes.byteLength > limit)
    throw new LimitExceededError(`blob properties ${field} (UTF-8 bytes)`, bytes.byteLength, limit);
  return bytes;
}

/**
 * Encode `p` (version 1). Breaking a rule is an InvalidArgumentError; a string over its limit is a
 * LimitExceededError. An empty optional string is the same as an absent one.
 */
export function encodeBlobProperties(p: BlobProperties): Buffer {
  if (typeof p !== 'object' || p === null) throw new InvalidArgumentError('blob properties missing');
  const blobSize = checkInteger('blobSize', p.blobSize, 0, Number.MAX_SAFE_INTEGER);
  const creationTimeMs = checkInteger('creationTimeMs', p.creationTimeMs, 0, Number.MAX_SAFE_INTEGER);
  const ttlSeconds = checkInteger('ttlSeconds', p.ttlSeconds, TTL_NEVER_EXPIRES, Number.MAX_SAFE_INTEGER);
  const accountId = checkInteger('accountId', p.accountId, 0, MAX_U16);
  const containerId = checkInteger('containerId', p.containerId, 0, MAX_U16);
  const isPrivate = checkBoolean('isPrivate', p.isPrivate, false);
  const isEncrypted = checkBoolean('isEncrypted', p.isEncrypted, true);
  const strings = STRING_FIELDS.map((field) => stringBytes(field, p[field]));

  const writer = new ByteWriter(64 + strings.reduce((sum, s) => sum + s.byteLength, 0));
  writer
    .writeU16(BLOB_PROPERTIES_VERSION)
    .writeU8((isPrivate ? FLAG_PRIVATE : 0) | (isEncrypted ? FLAG_ENCRYPTED : 0))
    .writeU64(blobSize)
    .writeU64(creationTimeMs)
    .writeI64(ttlSeconds)
    .writeU16(accountId)
    .writeU16(containerId);
  for (const bytes of strings) writer.writeString(bytes);
  writer.writeU16(0); // no extensions in version 1
  return writer.finish();
}

/**
 * Decode untrusted bytes. Throws only DecodeError (UnsupportedVersionError for another version).
 * The result always has `isEncrypted`; optional strings are present only when non-empty. Extensions
 * with unknown tags are skipped (and so are not kept: re-encoding such a record drops them).
 */
export function decodeBlobProperties(bytes: Uint8Array): BlobProperties {
  if (!(bytes instanceof Uint8Array)) throw new DecodeError('blob properties: input is not a Uint8Array');
  const reader = new ByteReader(bytes, WHAT);
  const version = reader.readU16('version');
  if (version !== BLOB_PROPERTIES_VERSION) throw new UnsupportedVersionError(WHAT, version);
  const flags = reader.readU8('flags');
  if ((flags & FLAGS_RESERVED) !== 0) {
    throw new DecodeError(
      `blob properties: reserved flag bits set (0x${flags.toString(16).padStart(2, '0')})`,
    );
  }
  const blobSize = reader.readU64('blobSize');
  const creationTimeMs = reader.readU64('creationTimeMs');
  const ttlSeconds = reader.readI64('ttlSeconds');
  if (ttlSeconds < TTL_NEVER_EXPIRES)
    throw new DecodeError(`blob properties: ttlSeconds ${ttlSeconds} is negative`);
  const accountId = reader.readU16('accountId');
  const containerId = reader.readU16('containerId');
  const strings: Partial<Record<StringField, string>> = {};
  for (const field of STRING_FIELDS) {
    const value = reader.readString(field, BLOB_PROPERTIES_LIMITS[field]);
    if (value.length > 0) strings[field] = value;
    else if (REQUIRED_STRINGS.has(field)) throw new DecodeError(`blob properties: ${field} is empty`);
  }
  const extensionCount = reader.readU16('extension count');
  let previousTag = -1;
  for (let i = 0; i < extensionCount; i++) {
    const tag = reader.readU16(`extension ${i} tag`);
    if (tag <= previousTag) {
      throw new DecodeError(
        `blob properties: extension tag ${tag} is not above the previous tag ${previousTag}`,
      );
    }
    previousTag = tag;
    const length = reader.readU32(`extension ${i} length`);
    reader.readBytes(length, `extension ${i} (tag ${tag}) value`); // version 1 knows no tags: skip
  }
  reader.expectEnd();

  const result: BlobProperties = {
    blobSize,
    serviceId: strings.serviceId!,
    contentType: strings.contentType!,
    creationTimeMs,
    ttlSeconds,
    isPrivate: (flags & FLAG_PRIVATE) !== 0,
    accountId,
    containerId,
    isEncrypted: (flags & FLAG_ENCRYPTED) !== 0,
  };
  if (strings.ownerId !== undefined) result.ownerId = strings.ownerId;
  if (strings.contentEncoding !== undefined) result.contentEncoding = strings.contentEncoding;
  if (strings.filename !== undefined) result.filename = strings.filename;
  return result;
}

/**
 * Epoch ms at which the blob expires, or undefined when it never does. Capped at
 * Number.MAX_SAFE_INTEGER (a TTL that large is "practically never" but still a TTL).
 */
export function expiresAtMs(p: Pick<BlobProperties, 'creationTimeMs' | 'ttlSeconds'>): number | undefined {
  if (p.ttlSeconds === TTL_NEVER_EXPIRES) return undefined;
  return Math.min(p.creationTimeMs + p.ttlSeconds * 1000, Number.MAX_SAFE_INTEGER);
}
