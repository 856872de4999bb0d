import { InvalidStoreArgumentError } from './errors.js';
import { MAX_KEY_BYTES } from './record.js';

/**
 * A replication position in one store, handed to peers as opaque bytes. It names the store incarnation
 * (a recreated store restarts its peers from the beginning) and the session that issued it (after an
 * unclean restart, positions past the recovered log end are pulled back). Byte layout: docs/formats.md,
 * "Find token".
 *
 * - start: nothing seen yet (also the empty byte string).
 * - journal: every record before `position` has been returned.
 * - index: inside persisted segment `segmentStart`, every entry with a key up to `lastKey` has been returned,
 *   and entries whose newest record is before `sincePosition` had been returned earlier.
 */
export type FindToken =
  | { readonly kind: 'start' }
  | {
      readonly kind: 'journal';
      readonly incarnation: Buffer;
      readonly session: Buffer;
      readonly position: number;
    }
  | {
      readonly kind: 'index';
      readonly incarnation: Buffer;
      readonly session: Buffer;
      readonly segmentStart: number;
      /** End of that segment: a segment rebuilt after damage may start at the same place and end elsewhere. */
      readonly segmentEnd: number;
      readonly sincePosition: number;
      readonly lastKey: Buffer | undefined;
    };

export const TOKEN_VERSION = 1;
export const ID_BYTES = 16;
const KIND_CODES = { start: 0, journal: 1, index: 2 } as const;

export const START_TOKEN: FindToken = Object.freeze({ kind: 'start' });

export function encodeToken(token: FindToken): Buffer {
  if (token.kind === 'start') return Buffer.from([TOKEN_VERSION, KIND_CODES.start]);
  const tail =
    token.kind === 'journal' ? Buffer.alloc(8) : Buffer.alloc(8 + 8 + 8 + 2 + (token.lastKey?.length ?? 0));
  if (token.kind === 'journal') {
    tail.writeBigUInt64LE(BigInt(token.position), 0);
  } else {
    tail.writeBigUInt64LE(BigInt(token.segmentStart), 0);
    tail.writeBigUInt64LE(BigInt(token.segmentEnd), 8);
    tail.writeBigUInt64LE(BigInt(token.sincePosition), 16);
    tail.writeUInt16LE(token.lastKey?.length ?? 0, 24);
    token.lastKey?.copy(tail, 26);
  }
  return Buffer.concat([
    Buffer.from([TOKEN_VERSION, KIND_CODES[token.kind]]),
    token.incarnation,
    token.session,
    tail,
  ]);
}

/** Decodes peer-supplied bytes; anything malformed is an InvalidStoreArgumentError (BAD_REQUEST). */
export function decodeToken(bytes: Uint8Array): FindToken {
  if (bytes.length === 0) return START_TOKEN;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (why: string) => new InvalidStoreArgumentError(`malformed find token: ${why}`);
  if (buf.length < 2) throw bad('too short');
  if (buf[0] !== TOKEN_VERSION) throw bad(`unknown version ${buf[0]}`);
  const kind = buf[1];
  if (kind === KIND_CODES.start) {
    if (buf.length !== 2) throw bad('trailing bytes');
    return START_TOKEN;
  }
  const fixed = 2 + 2 * ID_BYTES;
  const readU64 = (offset: number): number => {
    const value = buf.readBigUInt64LE(offset);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw bad('position out of range');
    return Number(value);
  };
  const ids = () => ({
    incarnation: Buffer.from(buf.subarray(2, 2 + ID_BYTES)),
    session: Buffer.from(buf.subarray(2 + ID_BYTES, fixed)),
  });
  if (kind === KIND_CODES.journal) {
    if (buf.length !== fixed + 8) throw bad('wrong length for a journal token');
    return { kind: 'journal', ...ids(), position: readU64(fixed) };
  }
  if (kind === KIND_CODES.index) {
    if (buf.length < fixed + 26) throw bad('too short for an index token');
    const keyLength = buf.readUInt16LE(fixed + 24);
    if (keyLength > MAX_KEY_BYTES || buf.length !== fixed + 26 + keyLength) throw bad('bad key length');
    return {
      kind: 'index',
      ...ids(),
      segmentStart: readU64(fixed),
      segmentEnd: readU64(fixed + 8),
      sincePosition: readU64(fixed + 16),
      lastKey: keyLength === 0 ? undefined : Buffer.from(buf.subarray(fixed + 26)),
    };
  }
  throw bad(`unknown kind ${kind}`);
}
