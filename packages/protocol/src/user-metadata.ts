import { ByteReader, ByteWriter, utf8Bytes } from './binary.js';
import { DecodeError, InvalidArgumentError, LimitExceededError, UnsupportedVersionError } from './errors.js';

/**
 * Free-form string pairs the uploader attaches to a blob (the frontend's `x-ambry-um-*` headers),
 * stored next to the blob properties (docs/formats.md, "User metadata").
 *
 * Version 1 layout (big-endian):
 *
 *   0   u16  version = 1
 *   2   u32  entryCount
 *   6   per entry, keys in strictly ascending UTF-16 code-unit order:
 *         u16 keyLength, key (UTF-8), u32 valueLength, value (UTF-8)
 *
 * Canonical: the same pairs always give the same bytes whatever the insertion order, and the decoder
 * rejects unsorted or duplicate keys, so a decoded value re-encodes to exactly its input.
 */

export type UserMetadata = Readonly<Record<string, string>>;

export const USER_METADATA_VERSION = 1;

export const USER_METADATA_LIMITS = Object.freeze({
  maxEntries: 256,
  /** Keys are 1..256 bytes of UTF-8. */
  maxKeyBytes: 256,
  /** Values are 0..16 KiB of UTF-8. */
  maxValueBytes: 16 * 1024,
  /** The whole encoding, version and count included. */
  maxEncodedBytes: 64 * 1024,
});

const WHAT = 'user metadata';
const HEADER_BYTES = 6;
const ENTRY_OVERHEAD = 6;

/** UTF-16 code-unit order, the order of the default `Array.prototype.sort`. */
function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Encode `metadata` (a plain object, own enumerable keys; or a Map). Too many entries or too many
 * bytes are a LimitExceededError; an empty key or a non-string value is an InvalidArgumentError.
 */
export function encodeUserMetadata(metadata: UserMetadata | ReadonlyMap<string, string>): Buffer {
  if (typeof metadata !== 'object' || metadata === null)
    throw new InvalidArgumentError('user metadata missing');
  const entries: Array<[string, unknown]> =
    metadata instanceof Map ? [...metadata.entries()] : Object.entries(metadata as UserMetadata);
  if (entries.length > USER_METADATA_LIMITS.maxEntries) {
    throw new LimitExceededError(
      'user metadata entry count',
      entries.length,
      USER_METADATA_LIMITS.maxEntries,
    );
  }
  entries.sort((a, b) => compareKeys(a[0], b[0]));

  const encoded: Array<[Buffer, Buffer]> = [];
  let total = HEADER_BYTES;
  for (const [key, value] of entries) {
    if (typeof key !== 'string' || key.length === 0)
      throw new InvalidArgumentError('user metadata key is empty');
    if (typeof value !== 'string') {
      throw new InvalidArgumentError(
        `user metadata value of ${JSON.stringify(key)} must be a string, got ${typeof value}`,
      );
    }
    const keyBytes = utf8Bytes(key, 'user metadata key');
    if (keyBytes.byteLength > USER_METADATA_LIMITS.maxKeyBytes) {
      throw new LimitExceededError(
        'user metadata key (UTF-8 bytes)',
        keyBytes.byteLength,
        USER_METADATA_LIMITS.maxKeyBytes,
      );
    }
    const valueBytes = utf8Bytes(value, `user metadata value of ${JSON.stringify(key)}`);
    if (valueBytes.byteLength > USER_METADATA_LIMITS.maxValueBytes) {
      throw new LimitExceededError(
        `user metadata value of ${JSON.stringify(key)} (UTF-8 bytes)`,
        valueBytes.byteLength,
        USER_METADATA_LIMITS.maxValueBytes,
      );
    }
    total += ENTRY_OVERHEAD + keyBytes.byteLength + valueBytes.byteLength;
    encoded.push([keyBytes, valueBytes]);
  }
  if (total > USER_METADATA_LIMITS.maxEncodedBytes) {
    throw new LimitExceededError(
      'user metadata (encoded bytes)',
      total,
      USER_METADATA_LIMITS.maxEncodedBytes,
    );
  }

  const writer = new ByteWriter(total);
  writer.writeU16(USER_METADATA_VERSION).writeU32(encoded.length);
  for (const [key, value] of encoded) {
    writer.writeString(key).writeU32(value.byteLength).writeBytes(value);
  }
  return writer.finish();
}

/**
 * Decode untrusted bytes. Throws only DecodeError (UnsupportedVersionError for another version);
 * input over a limit is a DecodeError too. The result has a null prototype, so keys such as
 * `__proto__` or `constructor` are ordinary own properties; its keys are in ascending order.
 */
export function decodeUserMetadata(bytes: Uint8Array): Record<string, string> {
  if (!(bytes instanceof Uint8Array)) throw new DecodeError('user metadata: input is not a Uint8Array');
  if (bytes.byteLength > USER_METADATA_LIMITS.maxEncodedBytes) {
    throw new DecodeError(
      `user metadata: ${bytes.byteLength} bytes, over the limit of ${USER_METADATA_LIMITS.maxEncodedBytes}`,
    );
  }
  const reader = new ByteReader(bytes, WHAT);
  const version = reader.readU16('version');
  if (version !== USER_METADATA_VERSION) throw new UnsupportedVersionError(WHAT, version);
  const count = reader.readU32('entry count');
  if (count > USER_METADATA_LIMITS.maxEntries) {
    throw new DecodeError(
      `user metadata: ${count} entries, over the limit of ${USER_METADATA_LIMITS.maxEntries}`,
    );
  }
  const result: Record<string, string> = Object.create(null);
  let previous: string | undefined;
  for (let i = 0; i < count; i++) {
    const key = reader.readString(`key ${i}`, USER_METADATA_LIMITS.maxKeyBytes);
    if (key.length === 0) throw new DecodeError(`user metadata: key ${i} is empty`);
    if (previous !== undefined && compareKeys(previous, key) >= 0) {
      throw new DecodeError(
        previous === key
          ? `user metadata: duplicate key ${JSON.stringify(key)}`
          : `user metadata: key ${JSON.stringify(key)} is out of order`,
      );
    }
    previous = key;
    const valueLength = reader.readU32(`value ${i} length`);
    if (valueLength > USER_METADATA_LIMITS.maxValueBytes) {
      throw new DecodeError(
        `user metadata: value of ${JSON.stringify(key)} is ${valueLength} bytes, over the limit of ${USER_METADATA_LIMITS.maxValueBytes}`,
      );
    }
    result[key] = reader.decodeUtf8(reader.readBytes(valueLength, `value ${i}`), `value ${i}`);
  }
  reader.expectEnd();
  return result;
}
