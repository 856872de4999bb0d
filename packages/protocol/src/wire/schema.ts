import protobuf from 'protobufjs';
import { asBuffer } from '../binary.js';
import { DecodeError } from '../errors.js';
import schemaJson from './schema.generated.json' with { type: 'json' };

/**
 * The protobuf types of proto/ambry.proto, built once from the generated JSON descriptor. protobufjs
 * decodes 64-bit fields as Long objects and silently encodes a bigint as 0, so every 64-bit value
 * crosses this module through the explicit conversions below.
 */
const root = protobuf.Root.fromJSON(schemaJson as protobuf.INamespace);
root.resolveAll();

export const RequestHeaderType = root.lookupType('ambry.wire.v1.RequestHeader');
export const ResponseHeaderType = root.lookupType('ambry.wire.v1.ResponseHeader');
export const ErrorCodeEnum = root.lookupEnum('ambry.wire.v1.ErrorCode');

/** What protobufjs hands back for a 64-bit field: a Long (when `long` is loaded) or a number. */
type Long64 = number | { low: number; high: number; unsigned?: boolean };
/** Plain decoded message: protobufjs message objects with default values on their prototype. */
// biome-ignore lint/suspicious/noExplicitAny: decoded protobuf messages are untyped by nature
export type Decoded = Record<string, any>;

const TWO_32 = 2 ** 32;

export function u64(value: Long64 | undefined, field: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number') return value;
  const high = value.high >>> 0;
  const low = value.low >>> 0;
  if (high > 0x1f_ffff) throw new DecodeError(`${field} is larger than 2^53 - 1`);
  return high * TWO_32 + low;
}

export function i64(value: Long64 | undefined, field: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number') return value;
  const n = value.high * TWO_32 + (value.low >>> 0);
  if (!Number.isSafeInteger(n)) throw new DecodeError(`${field} is outside the safe integer range`);
  return n;
}

export function fixed64(value: Long64 | undefined): bigint {
  if (value === undefined || value === null) return 0n;
  if (typeof value === 'number') return BigInt(value);
  return (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0);
}

/** A bigint as the {low, high} pair protobufjs encodes for fixed64 fields. */
export function toFixed64(value: bigint): { low: number; high: number; unsigned: true } {
  const v = BigInt.asUintN(64, value);
  return { low: Number(v & 0xffff_ffffn) | 0, high: Number(v >> 32n) | 0, unsigned: true };
}

/** Bytes fields read as an empty array when absent; normalise to a Buffer view. */
export function bytes(value: unknown): Buffer {
  return value instanceof Uint8Array ? asBuffer(value) : Buffer.alloc(0);
}

export function has(message: Decoded | undefined, field: string): boolean {
  return message !== undefined && message !== null && Object.hasOwn(message, field);
}
