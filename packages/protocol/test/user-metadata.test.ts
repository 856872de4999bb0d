import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DecodeError,
  InvalidArgumentError,
  LimitExceededError,
  UnsupportedVersionError,
} from '../src/errors.js';
import { decodeUserMetadata, encodeUserMetadata, USER_METADATA_LIMITS } from '../src/user-metadata.js';
import { assertDecoderIsTotalAndCanonical } from './codec-fuzz.js';

/** Independent encoder of the documented layout, entries written in the order given. */
function handBuilt(entries: Array<[string, string]>, version = 1, count = entries.length): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(6);
  head.writeUInt16BE(version, 0);
  head.writeUInt32BE(count, 2);
  parts.push(head);
  for (const [k, v] of entries) {
    const key = Buffer.from(k, 'utf8');
    const value = Buffer.from(v, 'utf8');
    const kl = Buffer.alloc(2);
    kl.writeUInt16BE(key.byteLength);
    const vl = Buffer.alloc(4);
    vl.writeUInt32BE(value.byteLength);
    parts.push(kl, key, vl, value);
  }
  return Buffer.concat(parts);
}

function expectDecodeError(bytes: Uint8Array, message?: RegExp): void {
  let caught: unknown;
  try {
    decodeUserMetadata(bytes);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(DecodeError);
  if (message) expect((caught as Error).message).toMatch(message);
}

const keyArb = fc
  .string({
    unit: fc.constantFrom('a', 'b', 'B', '-', '_', 'é', '😀', '\ufeff'),
    minLength: 1,
    maxLength: 12,
  })
  .filter((k) => Buffer.byteLength(k) <= USER_METADATA_LIMITS.maxKeyBytes);
const valueArb = fc.string({ maxLength: 40 }).filter((v) => !/\p{Surrogate}/u.test(v));
const entriesArb = fc.uniqueArray(fc.tuple(keyArb, valueArb), { selector: ([k]) => k, maxLength: 30 });

describe('user metadata encoding', () => {
  it('matches the documented layout, with keys sorted', () => {
    const bytes = encodeUserMetadata({ zeta: 'last', alpha: 'first', 'x-é': '' });
    expect(
      bytes.equals(
        handBuilt([
          ['alpha', 'first'],
          ['x-é', ''],
          ['zeta', 'last'],
        ]),
      ),
    ).toBe(true);
    expect(encodeUserMetadata({}).equals(Buffer.from([0, 1, 0, 0, 0, 0]))).toBe(true);
  });

  it('sorts by UTF-16 code unit, not by locale or code point', () => {
    // 'Z' (0x5a) < 'a' (0x61); U+FFFD (0xfffd) > U+1F600 (surrogates 0xd83d...) in code units.
    const bytes = encodeUserMetadata({ a: '1', Z: '2', '\ufffd': '3', '😀': '4' });
    expect(
      bytes.equals(
        handBuilt([
          ['Z', '2'],
          ['a', '1'],
          ['😀', '4'],
          ['\ufffd', '3'],
        ]),
      ),
    ).toBe(true);
  });

  it('is canonical: insertion order and Map vs object do not matter', () => {
    fc.assert(
      fc.property(
        entriesArb.chain((entries) =>
          fc.tuple(fc.constant(entries), fc.shuffledSubarray(entries, { minLength: entries.length })),
        ),
        ([entries, shuffled]) => {
          const a = encodeUserMetadata(Object.fromEntries(entries));
          const b = encodeUserMetadata(Object.fromEntries(shuffled));
          const c = encodeUserMetadata(new Map(shuffled));
          expect(a.equals(b)).toBe(true);
          expect(a.equals(c)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('round trips and re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(entriesArb, (entries) => {
        const bytes = encodeUserMetadata(Object.fromEntries(entries));
        const decoded = decodeUserMetadata(bytes);
        expect({ ...decoded }).toEqual(Object.fromEntries(entries));
        expect(Object.keys(decoded)).toEqual(entries.map(([k]) => k).sort());
        expect(encodeUserMetadata(decoded).equals(bytes)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps keys such as __proto__ and constructor as plain data', () => {
    const input = JSON.parse('{"__proto__":"p","constructor":"c","toString":"t"}') as Record<string, string>;
    const decoded = decodeUserMetadata(encodeUserMetadata(input));
    expect(Object.getPrototypeOf(decoded)).toBeNull();
    expect(Object.getOwnPropertyDescriptor(decoded, '__proto__')?.value).toBe('p');
    expect(decoded.constructor).toBe('c');
    expect(Object.keys(decoded)).toEqual(['__proto__', 'constructor', 'toString']);
    expect(({} as Record<string, unknown>).p).toBeUndefined(); // no prototype pollution
  });
});

describe('user metadata limits and validation', () => {
  const L = USER_METADATA_LIMITS;

  it('accepts exactly the limits', () => {
    const many = Object.fromEntries(Array.from({ length: L.maxEntries }, (_, i) => [`k${i}`, 'v']));
    expect(Object.keys(decodeUserMetadata(encodeUserMetadata(many)))).toHaveLength(L.maxEntries);
    const big = { ['k'.repeat(L.maxKeyBytes)]: 'v'.repeat(L.maxValueBytes) };
    expect(decodeUserMetadata(encodeUserMetadata(big))).toEqual(big);
    // Total exactly at the limit: 6 + n * (6 + 2 + value) = 65536.
    const value = 'x'.repeat((L.maxEncodedBytes - 6) / 5 - 8); // 5 entries of 13106 bytes each
    const atLimit = Object.fromEntries(['k1', 'k2', 'k3', 'k4', 'k5'].map((k) => [k, value]));
    expect(encodeUserMetadata(atLimit).byteLength).toBe(L.maxEncodedBytes);
  });

  it('rejects going over any limit with LimitExceededError', () => {
    const many = Object.fromEntries(Array.from({ length: L.maxEntries + 1 }, (_, i) => [`k${i}`, 'v']));
    expect(() => encodeUserMetadata(many)).toThrow(LimitExceededError);
    expect(() => encodeUserMetadata({ ['k'.repeat(L.maxKeyBytes + 1)]: 'v' })).toThrow(LimitExceededError);
    expect(() => encodeUserMetadata({ ['é'.repeat(L.maxKeyBytes / 2 + 1)]: 'v' })).toThrow(
      LimitExceededError,
    );
    expect(() => encodeUserMetadata({ k: 'v'.repeat(L.maxValueBytes + 1) })).toThrow(LimitExceededError);
    expect(() => encodeUserMetadata({ k: '中'.repeat(L.maxValueBytes / 3 + 1) })).toThrow(LimitExceededError);
    const value = 'x'.repeat((L.maxEncodedBytes - 6) / 5 - 8);
    const overLimit = Object.fromEntries(['k1', 'k2', 'k3', 'k4', 'k50'].map((k) => [k, value]));
    expect(() => encodeUserMetadata(overLimit)).toThrow(LimitExceededError);
  });

  it('rejects empty keys, non-string values and lone surrogates with InvalidArgumentError', () => {
    expect(() => encodeUserMetadata({ '': 'v' })).toThrow(InvalidArgumentError);
    expect(() => encodeUserMetadata({ k: 5 as unknown as string })).toThrow(InvalidArgumentError);
    expect(() => encodeUserMetadata({ k: undefined as unknown as string })).toThrow(InvalidArgumentError);
    expect(() => encodeUserMetadata({ k: '\udc00' })).toThrow(InvalidArgumentError);
    expect(() => encodeUserMetadata({ '\ud800': 'v' })).toThrow(InvalidArgumentError);
    expect(() => encodeUserMetadata(null as unknown as Record<string, string>)).toThrow(InvalidArgumentError);
  });
});

describe('user metadata decoding of untrusted bytes', () => {
  it('rejects duplicate and unsorted keys', () => {
    expectDecodeError(
      handBuilt([
        ['a', '1'],
        ['a', '2'],
      ]),
      /duplicate/,
    );
    expectDecodeError(
      handBuilt([
        ['b', '1'],
        ['a', '2'],
      ]),
      /out of order/,
    );
  });

  it('rejects limits broken by the input', () => {
    expectDecodeError(handBuilt([], 1, USER_METADATA_LIMITS.maxEntries + 1), /entries/);
    expectDecodeError(handBuilt([], 1, 0xffff_ffff), /entries/);
    expectDecodeError(handBuilt([['k'.repeat(257), 'v']]), /over the limit/);
    expectDecodeError(
      handBuilt([['k', 'v'.repeat(USER_METADATA_LIMITS.maxValueBytes + 1)]]),
      /over the limit/,
    );
    expectDecodeError(new Uint8Array(USER_METADATA_LIMITS.maxEncodedBytes + 1), /over the limit/);
    // A value length announcing 4 GiB fails on the limit, not on an allocation.
    const huge = handBuilt([['k', '']]);
    huge.writeUInt32BE(0xffff_ffff, huge.byteLength - 4);
    expectDecodeError(huge, /over the limit/);
  });

  it('rejects empty keys, invalid UTF-8, truncation, trailing bytes and other versions', () => {
    expectDecodeError(handBuilt([['', 'v']]), /empty/);
    const bad = handBuilt([['key', 'value']]);
    bad[bad.byteLength - 1] = 0xc3; // a lead byte with no continuation
    expectDecodeError(bad, /UTF-8/);
    const ok = handBuilt([
      ['a', 'xyz'],
      ['b', '中'],
    ]);
    for (let n = 0; n < ok.byteLength; n++) expectDecodeError(ok.subarray(0, n), /truncated/);
    expectDecodeError(Buffer.concat([ok, Buffer.from([0])]), /trailing/);
    expect(() => decodeUserMetadata(handBuilt([], 2))).toThrow(UnsupportedVersionError);
  });

  it('never throws anything but DecodeError on random or mutated bytes', () => {
    const valid = encodeUserMetadata({ alpha: 'one', beta: 'two' });
    assertDecoderIsTotalAndCanonical(valid, decodeUserMetadata, encodeUserMetadata, 100);
  });
});
