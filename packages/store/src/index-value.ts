import { DataCorruptError } from './errors.js';

/**
 * What the index knows about one key: its latest state (flags, life version, expiry, last operation) and
 * where its PUT record lives in the log. Every index entry carries the merged state, so a lookup stops at
 * the newest segment that holds the key. Byte layout: docs/formats.md, "Index segment".
 */
export interface IndexValue {
  readonly flags: number;
  readonly lifeVersion: number;
  readonly accountId: number;
  readonly containerId: number;
  /** Log position of the PUT record and its total length. */
  readonly putPosition: number;
  readonly putSize: number;
  /** Log position of the newest record that produced this state (a PUT, DELETE, TTL_UPDATE or UNDELETE). */
  readonly lastPosition: number;
  /** Epoch ms, or -1 for never. */
  readonly expiresAtMs: number;
  /** Time of the operation that produced this state. */
  readonly operationTimeMs: number;
}

export const FLAG_DELETED = 1;
export const FLAG_TTL_UPDATED = 2;
export const FLAG_UNDELETED = 4;
const KNOWN_FLAGS = FLAG_DELETED | FLAG_TTL_UPDATED | FLAG_UNDELETED;

export const NEVER_EXPIRES = -1;
/** Times are stored in 6 bytes: enough for the year 6400. */
export const MAX_EXPIRY_MS = 2 ** 47 - 1;

export const INDEX_VALUE_BYTES = 38;

export function isDeleted(value: IndexValue): boolean {
  return (value.flags & FLAG_DELETED) !== 0;
}

export function isExpired(value: IndexValue, nowMs: number): boolean {
  return value.expiresAtMs !== NEVER_EXPIRES && value.expiresAtMs <= nowMs;
}

export function encodeIndexValue(value: IndexValue, target: Buffer, offset: number): void {
  target.writeUInt8(value.flags, offset);
  target.writeUInt8(0, offset + 1);
  target.writeUInt16LE(value.lifeVersion, offset + 2);
  target.writeUInt16LE(value.accountId, offset + 4);
  target.writeUInt16LE(value.containerId, offset + 6);
  target.writeUIntLE(value.putPosition, offset + 8, 6);
  target.writeUIntLE(value.putSize, offset + 14, 6);
  target.writeUIntLE(value.lastPosition, offset + 20, 6);
  target.writeIntLE(value.expiresAtMs, offset + 26, 6);
  target.writeUIntLE(value.operationTimeMs, offset + 32, 6);
}

export function decodeIndexValue(source: Buffer, offset: number): IndexValue {
  const flags = source.readUInt8(offset);
  const expiresAtMs = source.readIntLE(offset + 26, 6);
  if ((flags & ~KNOWN_FLAGS) !== 0 || source.readUInt8(offset + 1) !== 0 || expiresAtMs < NEVER_EXPIRES) {
    throw new DataCorruptError(`index value at byte ${offset} has unknown flags or a bad expiry`);
  }
  return {
    flags,
    lifeVersion: source.readUInt16LE(offset + 2),
    accountId: source.readUInt16LE(offset + 4),
    containerId: source.readUInt16LE(offset + 6),
    putPosition: source.readUIntLE(offset + 8, 6),
    putSize: source.readUIntLE(offset + 14, 6),
    lastPosition: source.readUIntLE(offset + 20, 6),
    expiresAtMs,
    operationTimeMs: source.readUIntLE(offset + 32, 6),
  };
}
