import { ErrorCode } from '@ambry/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidStoreArgumentError } from '../src/errors.js';
import { MAX_KEY_BYTES } from '../src/record.js';
import {
  decodeToken,
  encodeToken,
  type FindToken,
  ID_BYTES,
  START_TOKEN,
  TOKEN_VERSION,
} from '../src/token.js';

const id = fc.uint8Array({ minLength: ID_BYTES, maxLength: ID_BYTES }).map((a) => Buffer.from(a));
const position = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });

const journalToken: fc.Arbitrary<FindToken> = fc.record({
  kind: fc.constant('journal' as const),
  incarnation: id,
  session: id,
  position,
});

const indexToken: fc.Arbitrary<FindToken> = fc.record({
  kind: fc.constant('index' as const),
  incarnation: id,
  session: id,
  segmentStart: position,
  segmentEnd: position,
  sincePosition: position,
  lastKey: fc.option(
    fc.uint8Array({ minLength: 1, maxLength: MAX_KEY_BYTES }).map((a) => Buffer.from(a)),
    { nil: undefined },
  ),
});

const anyToken = fc.oneof(fc.constant(START_TOKEN), journalToken, indexToken);

function expectBad(bytes: Uint8Array, label?: string): void {
  let caught: unknown;
  try {
    decodeToken(bytes);
  } catch (error) {
    caught = error;
  }
  expect(caught, label).toBeInstanceOf(InvalidStoreArgumentError);
  expect((caught as InvalidStoreArgumentError).code, label).toBe(ErrorCode.BAD_REQUEST);
}

const sample: { journal: Buffer; index: Buffer; indexNoKey: Buffer } = {
  journal: encodeToken({
    kind: 'journal',
    incarnation: Buffer.alloc(ID_BYTES, 1),
    session: Buffer.alloc(ID_BYTES, 2),
    position: 12_345,
  }),
  index: encodeToken({
    kind: 'index',
    incarnation: Buffer.alloc(ID_BYTES, 1),
    session: Buffer.alloc(ID_BYTES, 2),
    segmentStart: 4096,
    segmentEnd: 9000,
    sincePosition: 8000,
    lastKey: Buffer.from('some-key'),
  }),
  indexNoKey: encodeToken({
    kind: 'index',
    incarnation: Buffer.alloc(ID_BYTES, 1),
    session: Buffer.alloc(ID_BYTES, 2),
    segmentStart: 0,
    segmentEnd: 32,
    sincePosition: 0,
    lastKey: undefined,
  }),
};

describe('find token encoding', () => {
  it('round-trips every kind', () => {
    fc.assert(
      fc.property(anyToken, (token) => {
        const bytes = encodeToken(token);
        expect(decodeToken(bytes)).toEqual(token);
        // Peers hand back plain Uint8Arrays, possibly views into a larger frame.
        const framed = new Uint8Array(bytes.length + 7);
        framed.set(bytes, 3);
        expect(decodeToken(framed.subarray(3, 3 + bytes.length))).toEqual(token);
        expect(encodeToken(decodeToken(bytes)).equals(bytes)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('lays the bytes out as version, kind, ids, then little-endian positions', () => {
    expect(encodeToken(START_TOKEN)).toEqual(Buffer.from([TOKEN_VERSION, 0]));
    const j = sample.journal;
    expect(j.length).toBe(2 + 2 * ID_BYTES + 8);
    expect([j[0], j[1]]).toEqual([TOKEN_VERSION, 1]);
    expect(j.subarray(2, 18).equals(Buffer.alloc(ID_BYTES, 1))).toBe(true);
    expect(j.subarray(18, 34).equals(Buffer.alloc(ID_BYTES, 2))).toBe(true);
    expect(j.readBigUInt64LE(34)).toBe(12_345n);
    const x = sample.index;
    expect(x[1]).toBe(2);
    expect(x.readBigUInt64LE(34)).toBe(4096n);
    expect(x.readBigUInt64LE(42)).toBe(9000n);
    expect(x.readBigUInt64LE(50)).toBe(8000n);
    expect(x.readUInt16LE(58)).toBe(8);
    expect(x.subarray(60).toString()).toBe('some-key');
    expect(sample.indexNoKey.length).toBe(60);
  });

  it('reads empty bytes as the start token', () => {
    expect(decodeToken(new Uint8Array(0))).toEqual(START_TOKEN);
    expect(decodeToken(Buffer.alloc(0)).kind).toBe('start');
    expect(decodeToken(Buffer.from([TOKEN_VERSION, 0])).kind).toBe('start');
  });

  it('refuses every truncation of every kind', () => {
    fc.assert(
      fc.property(anyToken, (token) => {
        const bytes = encodeToken(token);
        // Length 0 is the start token by definition; every other prefix is malformed.
        for (let n = 1; n < bytes.length; n++) expectBad(bytes.subarray(0, n), `prefix ${n}`);
      }),
      { numRuns: 40 },
    );
  });

  it('refuses trailing bytes', () => {
    for (const bytes of [encodeToken(START_TOKEN), sample.journal, sample.index, sample.indexNoKey]) {
      expectBad(Buffer.concat([bytes, Buffer.from([0])]));
    }
  });

  it('refuses unknown versions and kinds', () => {
    for (const bytes of [encodeToken(START_TOKEN), sample.journal, sample.index]) {
      for (const version of [0, 2, 255]) {
        const copy = Buffer.from(bytes);
        copy[0] = version;
        expectBad(copy, `version ${version}`);
      }
      for (const kind of [3, 4, 255]) {
        const copy = Buffer.from(bytes);
        copy[1] = kind;
        expectBad(copy, `kind ${kind}`);
      }
    }
    // Right length for the other kind is still wrong.
    const swapped = Buffer.from(sample.journal);
    swapped[1] = 2;
    expectBad(swapped);
    const swappedBack = Buffer.from(sample.index);
    swappedBack[1] = 1;
    expectBad(swappedBack);
  });

  it('refuses a key length that disagrees with the bytes or exceeds the key limit', () => {
    for (const declared of [0, 7, 9, 1000, 0xffff]) {
      const copy = Buffer.from(sample.index);
      copy.writeUInt16LE(declared, 58);
      expectBad(copy, `declared ${declared}`);
    }
    const tooLong = encodeToken({
      kind: 'index',
      incarnation: Buffer.alloc(ID_BYTES),
      session: Buffer.alloc(ID_BYTES),
      segmentStart: 0,
      segmentEnd: 0,
      sincePosition: 0,
      lastKey: Buffer.alloc(MAX_KEY_BYTES + 1, 7),
    });
    expectBad(tooLong);
  });

  it('refuses positions above 2^53', () => {
    const over = [2n ** 53n, 2n ** 53n + 1n, 2n ** 64n - 1n];
    for (const value of over) {
      const journal = Buffer.from(sample.journal);
      journal.writeBigUInt64LE(value, 34);
      expectBad(journal, `journal ${value}`);
      for (const offset of [34, 42, 50]) {
        const index = Buffer.from(sample.index);
        index.writeBigUInt64LE(value, offset);
        expectBad(index, `index field at ${offset}: ${value}`);
      }
    }
    const edge = Buffer.from(sample.journal);
    edge.writeBigUInt64LE(BigInt(Number.MAX_SAFE_INTEGER), 34);
    expect(decodeToken(edge)).toMatchObject({ kind: 'journal', position: Number.MAX_SAFE_INTEGER });
  });

  it('never throws anything but InvalidStoreArgumentError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 80 }), (bytes) => {
        try {
          const token = decodeToken(bytes);
          expect(encodeToken(token).equals(Buffer.from(bytes))).toBe(true);
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidStoreArgumentError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
