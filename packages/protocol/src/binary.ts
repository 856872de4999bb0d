import { DecodeError, InvalidArgumentError } from './errors.js';

/**
 * Bounded big-endian reading and writing for the small codecs of this package (blob properties, user
 * metadata, composite metadata). The reader is meant for untrusted bytes: every read checks the bounds
 * first and fails with a `DecodeError` that names the format and the field, never with Buffer's
 * RangeError. The writer is meant for values the encoder has already validated; it still refuses
 * out-of-range integers (InvalidArgumentError) so a validation gap cannot write silently wrong bytes.
 */

const MAX_U8 = 0xff;
const MAX_U16 = 0xffff;
const MAX_U32 = 0xffff_ffff;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

// `ignoreBOM: true` keeps a leading U+FEFF in the decoded string; the default would strip it and break
// the encode/decode round trip.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
// In `u` mode a well-formed surrogate pair is one code point, so only lone surrogates match.
const LONE_SURROGATE = /\p{Surrogate}/u;

/** View any Uint8Array as a Buffer without copying. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * UTF-8 bytes of `value`, refusing strings that UTF-8 cannot represent (lone surrogates would be
 * replaced by U+FFFD, so the decoded string would differ from the one encoded).
 */
export function utf8Bytes(value: string, what: string): Buffer {
  if (LONE_SURROGATE.test(value)) throw new InvalidArgumentError(`${what} contains a lone UTF-16 surrogate`);
  return Buffer.from(value, 'utf8');
}

export class ByteReader {
  private readonly buffer: Buffer;
  private position: number;

  /**
   * @param bytes the input; never copied, and never modified
   * @param what the format being decoded, used in error messages ("blob properties")
   * @param offset where reading starts
   */
  constructor(
    bytes: Uint8Array,
    readonly what: string,
    offset = 0,
  ) {
    this.buffer = asBuffer(bytes);
    if (!Number.isInteger(offset) || offset < 0 || offset > this.buffer.byteLength) {
      throw new DecodeError(
        `${what}: start offset ${offset} is outside the ${this.buffer.byteLength} input bytes`,
      );
    }
    this.position = offset;
  }

  /** Offset of the next byte to read, from the start of the input. */
  get offset(): number {
    return this.position;
  }

  /** Bytes left after the current offset. */
  get remaining(): number {
    return this.buffer.byteLength - this.position;
  }

  /** Fail unless `n` more bytes are available; returns the offset of the first of them. */
  private claim(n: number, field: string): number {
    if (n > this.remaining) {
      throw new DecodeError(
        `${this.what}: truncated reading ${field} at offset ${this.position} (needs ${n} bytes, ${this.remaining} left)`,
      );
    }
    const at = this.position;
    this.position += n;
    return at;
  }

  readU8(field: string): number {
    return this.buffer.readUInt8(this.claim(1, field));
  }

  readU16(field: string): number {
    return this.buffer.readUInt16BE(this.claim(2, field));
  }

  readU32(field: string): number {
    return this.buffer.readUInt32BE(this.claim(4, field));
  }

  /** Unsigned 64-bit as a number; values above Number.MAX_SAFE_INTEGER are a DecodeError. */
  readU64(field: string): number {
    const at = this.claim(8, field);
    const value = this.buffer.readBigUInt64BE(at);
    if (value > MAX_SAFE) {
      throw new DecodeError(`${this.what}: ${field} at offset ${at} is ${value}, above 2^53-1`);
    }
    return Number(value);
  }

  /** Signed (two's complement) 64-bit as a number; values outside ±(2^53-1) are a DecodeError. */
  readI64(field: string): number {
    const at = this.claim(8, field);
    const value = this.buffer.readBigInt64BE(at);
    if (value > MAX_SAFE || value < MIN_SAFE) {
      throw new DecodeError(`${this.what}: ${field} at offset ${at} is ${value}, outside ±(2^53-1)`);
    }
    return Number(value);
  }

  /** The next `n` bytes as a view of the input (no copy): copy it if you keep it past the input's life. */
  readBytes(n: number, field: string): Buffer {
    if (!Number.isInteger(n) || n < 0)
      throw new DecodeError(`${this.what}: invalid length ${n} for ${field}`);
    const at = this.claim(n, field);
    return this.buffer.subarray(at, at + n);
  }

  /**
   * A u16 byte length then that many bytes of UTF-8. Invalid UTF-8 (which a lenient decoder would turn
   * into U+FFFD) is a DecodeError, and so is a length above `maxBytes` when given.
   */
  readString(field: string, maxBytes: number = MAX_U16): string {
    const length = this.readU16(`${field} length`);
    if (length > maxBytes) {
      throw new DecodeError(`${this.what}: ${field} is ${length} bytes, over the limit of ${maxBytes}`);
    }
    return this.decodeUtf8(this.readBytes(length, field), field);
  }

  /** Decode `bytes` as strict UTF-8 or fail with a DecodeError naming `field`. */
  decodeUtf8(bytes: Uint8Array, field: string): string {
    try {
      return utf8Decoder.decode(bytes);
    } catch (error) {
      throw new DecodeError(`${this.what}: ${field} is not valid UTF-8`, { cause: error });
    }
  }

  /** Fail if any byte is left: every format here has an exact length. */
  expectEnd(): void {
    if (this.remaining !== 0) {
      throw new DecodeError(
        `${this.what}: ${this.remaining} unexpected trailing bytes at offset ${this.position}`,
      );
    }
  }
}

/**
 * Append-only big-endian writer over a growing buffer. `finish()` returns exactly the bytes written.
 */
export class ByteWriter {
  private buffer: Buffer;
  private position = 0;

  constructor(initialCapacity = 256) {
    this.buffer = Buffer.allocUnsafe(Math.max(16, initialCapacity));
  }

  get length(): number {
    return this.position;
  }

  private reserve(n: number): number {
    const needed = this.position + n;
    if (needed > this.buffer.byteLength) {
      const grown = Buffer.allocUnsafe(Math.max(needed, this.buffer.byteLength * 2));
      this.buffer.copy(grown, 0, 0, this.position);
      this.buffer = grown;
    }
    const at = this.position;
    this.position = needed;
    return at;
  }

  private static check(value: number, min: number, max: number, kind: string): void {
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`${value} is not a valid ${kind}`);
    }
  }

  writeU8(value: number): this {
    ByteWriter.check(value, 0, MAX_U8, 'u8');
    this.buffer.writeUInt8(value, this.reserve(1));
    return this;
  }

  writeU16(value: number): this {
    ByteWriter.check(value, 0, MAX_U16, 'u16');
    this.buffer.writeUInt16BE(value, this.reserve(2));
    return this;
  }

  writeU32(value: number): this {
    ByteWriter.check(value, 0, MAX_U32, 'u32');
    this.buffer.writeUInt32BE(value, this.reserve(4));
    return this;
  }

  writeU64(value: number): this {
    ByteWriter.check(value, 0, Number.MAX_SAFE_INTEGER, 'u64 (safe integer)');
    this.buffer.writeBigUInt64BE(BigInt(value), this.reserve(8));
    return this;
  }

  writeI64(value: number): this {
    ByteWriter.check(value, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 'i64 (safe integer)');
    this.buffer.writeBigInt64BE(BigInt(value), this.reserve(8));
    return this;
  }

  writeBytes(bytes: Uint8Array): this {
    this.buffer.set(bytes, this.reserve(bytes.byteLength));
    return this;
  }

  /** u16 byte length then the bytes; `utf8` must come from `utf8Bytes`. */
  writeString(utf8: Uint8Array): this {
    this.writeU16(utf8.byteLength);
    return this.writeBytes(utf8);
  }

  /** The bytes written so far, in a buffer of exactly that length (a copy when the buffer has slack). */
  finish(): Buffer {
    if (this.position === this.buffer.byteLength) return this.buffer;
    return Buffer.from(this.buffer.subarray(0, this.position));
  }
}
