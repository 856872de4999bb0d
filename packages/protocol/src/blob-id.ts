import { randomFillSync } from 'node:crypto';
import { AmbryError, InvalidArgumentError } from './errors.js';

/**
 * Blob ids: binary, versioned, self-describing handles, written as URL-safe base64 without padding
 * (docs/formats.md, "Blob id"). Everything a GET needs to route is inside the id.
 *
 * Version 1 (27 bytes, 36 characters):
 *
 *   0   u8   version = 1
 *   1   u8   flags: bits 0-1 type (0 SIMPLE, 1 DATA_CHUNK, 2 METADATA; 3 invalid),
 *                   bit 2 encrypted, bits 3-7 reserved (zero)
 *   2   u8   datacenterId (255 = unknown)
 *   3   u16  accountId (65535 = unknown)
 *   5   u16  containerId (65535 = unknown)
 *   7   u32  partitionId
 *   11  16B  uuid (random; RFC 4122 version 4 bits set by `generate`)
 *
 * The first byte is always the version and fixes the length, so a reader can take an id out of a
 * larger record without a length prefix. Later versions are added as rows of `LAYOUTS`.
 */

export enum BlobIdType {
  /** A whole blob stored in one piece. */
  SIMPLE = 0,
  /** One chunk of a composite blob. */
  DATA_CHUNK = 1,
  /** The metadata blob of a composite blob: its content is the chunk list. */
  METADATA = 2,
}

/** Version written by `BlobId.generate`. */
export const BLOB_ID_VERSION = 1;
export const UNKNOWN_DATACENTER_ID = 255;
export const UNKNOWN_ACCOUNT_ID = 65535;
export const UNKNOWN_CONTAINER_ID = 65535;
/** Longer strings are refused before any decoding, so hostile input cannot cause big allocations. */
export const MAX_BLOB_ID_STRING_LENGTH = 256;

const UUID_BYTES = 16;
const TYPE_MASK = 0x03;
const ENCRYPTED_FLAG = 0x04;
const V1_RESERVED_FLAGS = 0xf8;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
/** Longest input kept on a BadBlobIdError (the rest is cut, so errors stay small in logs). */
const ERROR_INPUT_CHARS = 80;

/** A string or byte sequence is not a valid blob id. The only error `BlobId.parse` ever throws. */
export class BadBlobIdError extends AmbryError {
  /** The offending input, cut to 80 characters; undefined when the input was not a string. */
  readonly input?: string;

  constructor(message: string, input?: string, options?: { cause?: unknown }) {
    super(message, options);
    if (input !== undefined) {
      this.input = input.length > ERROR_INPUT_CHARS ? `${input.slice(0, ERROR_INPUT_CHARS)}…` : input;
    }
  }
}

interface BlobIdFields {
  readonly version: number;
  readonly type: BlobIdType;
  readonly encrypted: boolean;
  readonly datacenterId: number;
  readonly accountId: number;
  readonly containerId: number;
  readonly partitionId: number;
  readonly uuid: Uint8Array;
}

/** How one version is laid out. `decode` gets exactly `byteLength` bytes and validates them. */
interface BlobIdLayout {
  readonly byteLength: number;
  decode(bytes: Buffer): BlobIdFields;
  encode(fields: BlobIdFields): Buffer;
}

const V1: BlobIdLayout = {
  byteLength: 27,
  decode(bytes) {
    const flags = bytes[1]!;
    if ((flags & V1_RESERVED_FLAGS) !== 0) {
      throw new BadBlobIdError(
        `blob id has reserved flag bits set (flags 0x${flags.toString(16).padStart(2, '0')})`,
      );
    }
    const type = flags & TYPE_MASK;
    if (!(type in BlobIdType)) throw new BadBlobIdError(`blob id has invalid type ${type}`);
    return {
      version: 1,
      type,
      encrypted: (flags & ENCRYPTED_FLAG) !== 0,
      datacenterId: bytes[2]!,
      accountId: bytes.readUInt16BE(3),
      containerId: bytes.readUInt16BE(5),
      partitionId: bytes.readUInt32BE(7),
      uuid: bytes.subarray(11, 27),
    };
  },
  encode(fields) {
    const bytes = Buffer.alloc(27);
    bytes[0] = 1;
    bytes[1] = fields.type | (fields.encrypted ? ENCRYPTED_FLAG : 0);
    bytes[2] = fields.datacenterId;
    bytes.writeUInt16BE(fields.accountId, 3);
    bytes.writeUInt16BE(fields.containerId, 5);
    bytes.writeUInt32BE(fields.partitionId, 7);
    bytes.set(fields.uuid, 11);
    return bytes;
  },
};

const LAYOUTS: ReadonlyMap<number, BlobIdLayout> = new Map([[1, V1]]);

function layoutOf(version: number, input?: string): BlobIdLayout {
  const layout = LAYOUTS.get(version);
  if (!layout) throw new BadBlobIdError(`unsupported blob id version ${version}`, input);
  return layout;
}

/** Characters of unpadded base64 for `n` bytes. */
function base64Length(n: number): number {
  return Math.ceil((n * 4) / 3);
}

function checkInteger(name: string, value: unknown, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new InvalidArgumentError(`${name} must be an integer in 0..${max}, got ${String(value)}`);
  }
  return value;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export class BlobId {
  readonly version: number;
  readonly type: BlobIdType;
  readonly encrypted: boolean;
  /** Datacenter that accepted the PUT; 255 = unknown. */
  readonly datacenterId: number;
  /** 65535 = unknown. */
  readonly accountId: number;
  /** 65535 = unknown. */
  readonly containerId: number;
  readonly partitionId: number;
  /** The encoded id; never handed out (see `toBytes`). */
  private readonly bytes: Buffer;
  private text: string | undefined;

  private constructor(fields: BlobIdFields, bytes: Buffer) {
    this.version = fields.version;
    this.type = fields.type;
    this.encrypted = fields.encrypted;
    this.datacenterId = fields.datacenterId;
    this.accountId = fields.accountId;
    this.containerId = fields.containerId;
    this.partitionId = fields.partitionId;
    this.bytes = bytes;
  }

  /** A new id with random uuid, in the current version. Out-of-range fields are an InvalidArgumentError. */
  static generate(fields: {
    partitionId: number;
    datacenterId?: number;
    accountId?: number;
    containerId?: number;
    type?: BlobIdType;
    encrypted?: boolean;
    /** Fills its argument with random bytes; defaults to crypto.randomFillSync. For tests. */
    random?: (target: Uint8Array) => void;
  }): BlobId {
    if (typeof fields !== 'object' || fields === null)
      throw new InvalidArgumentError('blob id fields missing');
    const type = fields.type ?? BlobIdType.SIMPLE;
    if (typeof type !== 'number' || !(type in BlobIdType)) {
      throw new InvalidArgumentError(`blob id type must be a BlobIdType, got ${String(type)}`);
    }
    const encrypted = fields.encrypted ?? false;
    if (typeof encrypted !== 'boolean')
      throw new InvalidArgumentError('blob id encrypted flag must be a boolean');
    const random = fields.random ?? randomFillSync;
    if (typeof random !== 'function')
      throw new InvalidArgumentError('blob id random source must be a function');
    const uuid = new Uint8Array(UUID_BYTES);
    random(uuid);
    uuid[6] = (uuid[6]! & 0x0f) | 0x40; // version 4
    uuid[8] = (uuid[8]! & 0x3f) | 0x80; // RFC 4122 variant
    const all: BlobIdFields = {
      version: BLOB_ID_VERSION,
      type,
      encrypted,
      partitionId: checkInteger('partitionId', fields.partitionId, 0xffff_ffff),
      datacenterId: checkInteger('datacenterId', fields.datacenterId ?? UNKNOWN_DATACENTER_ID, 0xff),
      accountId: checkInteger('accountId', fields.accountId ?? UNKNOWN_ACCOUNT_ID, 0xffff),
      containerId: checkInteger('containerId', fields.containerId ?? UNKNOWN_CONTAINER_ID, 0xffff),
      uuid,
    };
    return new BlobId(all, layoutOf(BLOB_ID_VERSION).encode(all));
  }

  /**
   * Parse the string form. Safe on untrusted input: whatever `input` is, the only error thrown is
   * BadBlobIdError. Exactly one string encodes each id (no padding, no other alphabet, canonical
   * trailing bits), so string equality is id equality.
   */
  static parse(input: unknown): BlobId {
    try {
      return BlobId.parseString(input);
    } catch (error) {
      if (error instanceof BadBlobIdError) throw error;
      throw new BadBlobIdError('invalid blob id', typeof input === 'string' ? input : undefined, {
        cause: error,
      });
    }
  }

  /** Like `parse`, but undefined instead of an error. */
  static tryParse(input: unknown): BlobId | undefined {
    try {
      return BlobId.parseString(input);
    } catch {
      return undefined;
    }
  }

  private static parseString(input: unknown): BlobId {
    if (typeof input !== 'string') throw new BadBlobIdError(`blob id must be a string, got ${typeof input}`);
    if (input.length === 0) throw new BadBlobIdError('blob id is empty', input);
    if (input.length > MAX_BLOB_ID_STRING_LENGTH) {
      throw new BadBlobIdError(`blob id is ${input.length} characters, longer than any valid id`, input);
    }
    if (!BASE64URL.test(input)) {
      const hint = input.includes('=') ? ' (padding is not allowed)' : '';
      throw new BadBlobIdError(`blob id has characters outside URL-safe base64${hint}`, input);
    }
    if (input.length < 2) throw new BadBlobIdError('blob id is too short', input);
    // Two base64 characters carry the first byte, the version, which fixes the length.
    const version = Buffer.from(input.slice(0, 4), 'base64url')[0]!;
    const layout = layoutOf(version, input);
    const expected = base64Length(layout.byteLength);
    if (input.length !== expected) {
      throw new BadBlobIdError(
        `blob id version ${version} has ${expected} characters, got ${input.length}`,
        input,
      );
    }
    const bytes = Buffer.from(input, 'base64url');
    // Unused low bits of the last character must be zero, or two strings would name one id.
    if (bytes.byteLength !== layout.byteLength || bytes.toString('base64url') !== input) {
      throw new BadBlobIdError('blob id is not canonical base64', input);
    }
    const id = BlobId.decodeExact(bytes, layout, input);
    id.text = input;
    return id;
  }

  private static decodeExact(bytes: Buffer, layout: BlobIdLayout, input?: string): BlobId {
    try {
      return new BlobId(layout.decode(bytes), bytes);
    } catch (error) {
      if (error instanceof BadBlobIdError && input !== undefined && error.input === undefined) {
        throw new BadBlobIdError(error.message, input);
      }
      throw error;
    }
  }

  /** Decode an id from exactly its bytes (no trailing bytes). Only BadBlobIdError is thrown. */
  static fromBytes(bytes: Uint8Array): BlobId {
    if (!(bytes instanceof Uint8Array)) throw new BadBlobIdError('blob id bytes must be a Uint8Array');
    if (bytes.byteLength === 0) throw new BadBlobIdError('blob id bytes are empty');
    const version = bytes[0]!;
    const layout = layoutOf(version);
    if (bytes.byteLength !== layout.byteLength) {
      throw new BadBlobIdError(
        `blob id version ${version} has ${layout.byteLength} bytes, got ${bytes.byteLength}`,
      );
    }
    return BlobId.decodeExact(Buffer.from(bytes), layout);
  }

  /**
   * Decode an id that starts at `offset` inside a larger record; its length follows from its version
   * byte. Truncation, an unknown version or bad fields are a BadBlobIdError.
   */
  static decodeFrom(bytes: Uint8Array, offset: number): { blobId: BlobId; byteLength: number } {
    if (!(bytes instanceof Uint8Array)) throw new BadBlobIdError('blob id bytes must be a Uint8Array');
    if (!Number.isInteger(offset) || offset < 0 || offset >= bytes.byteLength) {
      throw new BadBlobIdError(`no blob id at offset ${offset} of ${bytes.byteLength} bytes`);
    }
    const version = bytes[offset]!;
    const layout = layoutOf(version);
    const end = offset + layout.byteLength;
    if (end > bytes.byteLength) {
      throw new BadBlobIdError(
        `blob id at offset ${offset} is truncated: version ${version} needs ${layout.byteLength} bytes, ${
          bytes.byteLength - offset
        } left`,
      );
    }
    const copy = Buffer.from(bytes.subarray(offset, end));
    return { blobId: BlobId.decodeExact(copy, layout), byteLength: layout.byteLength };
  }

  /** Encoded size of an id of `version`; BadBlobIdError for a version this build does not know. */
  static byteLengthOf(version: number): number {
    return layoutOf(version).byteLength;
  }

  /** The 16 uuid bytes, as a fresh copy on every call (the id itself stays immutable). */
  get uuid(): Uint8Array {
    const start = this.bytes.byteLength - UUID_BYTES;
    return new Uint8Array(this.bytes.subarray(start));
  }

  /** The binary form, as a fresh copy the caller may keep or modify. Use `writeTo` on hot paths. */
  toBytes(): Buffer {
    return Buffer.from(this.bytes);
  }

  /** Copy the binary form into `target` at `offset`; returns the number of bytes written. */
  writeTo(target: Uint8Array, offset: number): number {
    if (!Number.isInteger(offset) || offset < 0 || offset + this.bytes.byteLength > target.byteLength) {
      throw new InvalidArgumentError(
        `no room for a ${this.bytes.byteLength}-byte blob id at offset ${offset}`,
      );
    }
    target.set(this.bytes, offset);
    return this.bytes.byteLength;
  }

  get byteLength(): number {
    return this.bytes.byteLength;
  }

  /** URL-safe base64 without padding; computed once. */
  toString(): string {
    this.text ??= this.bytes.toString('base64url');
    return this.text;
  }

  toJSON(): string {
    return this.toString();
  }

  /** Readable form for logs, e.g. `[v1:SIMPLE:dc=1:account=101:container=5:partition=42:uuid=…]`. */
  toLongForm(): string {
    const u = hex(this.uuid);
    const uuid = `${u.slice(0, 8)}-${u.slice(8, 12)}-${u.slice(12, 16)}-${u.slice(16, 20)}-${u.slice(20)}`;
    return `[v${this.version}:${BlobIdType[this.type]}:dc=${this.datacenterId}:account=${this.accountId}:container=${
      this.containerId
    }:partition=${this.partitionId}:uuid=${uuid}${this.encrypted ? ':encrypted' : ''}]`;
  }

  /** True when both ids have the same bytes. */
  equals(other: BlobId): boolean {
    return other instanceof BlobId && this.bytes.equals(other.bytes);
  }

  /** Bytewise order of the binary forms (the order of sorted index segments). */
  static compare(a: BlobId, b: BlobId): number {
    return Buffer.compare(a.bytes, b.bytes);
  }
}
