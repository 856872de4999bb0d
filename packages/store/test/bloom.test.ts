import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BloomFilter, type KeyHashes, keyHashes, murmur3x86_32 } from '../src/bloom.js';
import { DataCorruptError } from '../src/errors.js';
import { xorshift32 } from './helpers.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Random 27-byte keys, the length of a version-1 blob id. */
function randomKeys(next: () => number, count: number): Uint8Array[] {
  const keys: Uint8Array[] = [];
  for (let k = 0; k < count; k++) {
    const key = new Uint8Array(27);
    for (let i = 0; i < key.length; i += 4) {
      const r = next();
      for (let j = 0; j < 4 && i + j < key.length; j++) key[i + j] = (r >>> (8 * j)) & 0xff;
    }
    keys.push(key);
  }
  return keys;
}

function measuredFalsePositiveRate(p: number, seed: number): number {
  const next = xorshift32(seed);
  const present = randomKeys(next, 10_000);
  const absent = randomKeys(next, 100_000);
  const filter = BloomFilter.create(present.length, p);
  for (const key of present) filter.add(keyHashes(key));
  let falsePositives = 0;
  for (const key of absent) if (filter.mightContain(keyHashes(key))) falsePositives++;
  return falsePositives / absent.length;
}

/** The bit positions set in an encoded filter, read back from the documented layout. */
function setBits(encoded: Uint8Array): number[] {
  const out: number[] = [];
  for (let j = 0; j < (encoded.length - 8) * 8; j++) {
    if ((encoded[8 + (j >> 3)]! >> (j & 7)) & 1) out.push(j);
  }
  return out;
}

describe('murmur3x86_32', () => {
  // Vectors cross-checked against the Python mmh3 package (mmh3.hash(data, seed, signed=False)).
  it.each([
    ['', 0, 0],
    ['hello', 0, 0x248bfa47],
    ['The quick brown fox jumps over the lazy dog', 0, 0x2e4ff723],
    ['a', 0, 0x3c2569b2],
    ['ab', 0, 0x9bbfd75f],
    ['abc', 0, 0xb3dd93fa],
    ['abcd', 0, 0x43ed676a],
    ['', 0x9747b28c, 0xebb6c228],
    ['hello', 0x9747b28c, 0x5d7f56e8],
    ['The quick brown fox jumps over the lazy dog', 0x9747b28c, 0x2fa826cd],
    ['hello', 0x5bd1e995, 0x8e6fc364],
  ])('hashes %j with seed %i to the reference value', (text, seed, expected) => {
    expect(murmur3x86_32(ascii(text), seed)).toBe(expected);
  });

  it('treats bytes as unsigned and accepts seeds at the top of the u32 range', () => {
    const ff = new Uint8Array(7).fill(0xff);
    expect(murmur3x86_32(ff, 0)).toBe(0x011d1da7);
    expect(murmur3x86_32(ff, 0xffffffff)).toBe(0x2ed13832);
  });

  it('hashes a view by its own bytes, not by the underlying buffer', () => {
    const backing = Uint8Array.from({ length: 40 }, (_, i) => i);
    const view = backing.subarray(5, 32);
    expect(murmur3x86_32(view, 7)).toBe(murmur3x86_32(Uint8Array.from(view), 7));
  });
});

describe('keyHashes', () => {
  it('uses murmur3 with the two persisted seeds and makes h2 odd', () => {
    const id = Uint8Array.from({ length: 27 }, (_, i) => i);
    // mmh3 gives 0x4fddb84a and 0x39a43d66 for bytes 00..1a with these seeds.
    expect(keyHashes(id)).toEqual({ h1: 0x4fddb84a, h2: 0x39a43d67 });
    expect(keyHashes(ascii('hello'))).toEqual({ h1: 0x5d7f56e8, h2: 0x8e6fc365 });
  });

  it('equals murmur3x86_32 with seeds 0x9747b28c and 0x5bd1e995 (h2 made odd) for every length', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (key) => {
        expect(keyHashes(key)).toEqual({
          h1: murmur3x86_32(key, 0x9747b28c),
          h2: (murmur3x86_32(key, 0x5bd1e995) | 1) >>> 0,
        });
      }),
      { numRuns: 300 },
    );
  });

  it('is deterministic, unsigned 32-bit, with an odd h2', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (key) => {
        const a = keyHashes(key);
        const b = keyHashes(Uint8Array.from(key));
        expect(b).toEqual(a);
        for (const v of [a.h1, a.h2]) {
          expect(Number.isInteger(v) && v >= 0 && v <= 0xffffffff).toBe(true);
        }
        expect(a.h2 & 1).toBe(1);
      }),
      { numRuns: 200 },
    );
  });

  it('changes both hashes when one byte of the key changes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (key, at, flip) => {
          const other = Uint8Array.from(key);
          const i = at % key.length;
          other[i] = other[i]! ^ flip;
          const a = keyHashes(key);
          const b = keyHashes(other);
          // Same-length murmur3 is a bijection of each block, so h1 can never collide here; h2 loses
          // its low bit to the odd forcing, so compare the raw second hash instead.
          expect(b.h1).not.toBe(a.h1);
          expect(murmur3x86_32(other, 0x5bd1e995)).not.toBe(murmur3x86_32(key, 0x5bd1e995));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('BloomFilter.sizeFor', () => {
  it.each([
    // n, p, bits, hashes: ceil(-n ln p / ln²2) rounded up to 64, then round(bits/n · ln 2)
    [10_000, 0.01, 95_872, 7], // 95,850.58… → 95,851 → 1,498 × 64
    [10_000, 0.001, 143_808, 10], // 143,775.88… → 143,776 → 2,247 × 64
    [1_000_000, 1e-6, 28_755_200, 20],
    [1, 0.5, 64, 30], // at least 64 bits; 64 · ln 2 = 44 hashes capped at 30
    [0, 0.01, 64, 30], // 0 entries is sized as 1
  ])('sizes %i entries at %d as %i bits and %i hashes', (n, p, bits, hashes) => {
    expect(BloomFilter.sizeFor(n, p)).toEqual({ bits, hashes });
    const filter = BloomFilter.create(n, p);
    expect(filter.bits).toBe(bits);
    expect(filter.hashes).toBe(hashes);
    expect(filter.encodedLength()).toBe(8 + bits / 8);
  });

  it('keeps bits a positive multiple of 64 and hashes in 1..30', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5_000_000 }),
        fc.double({ min: 1e-9, max: 0.999, noNaN: true }),
        (n, p) => {
          const { bits, hashes } = BloomFilter.sizeFor(n, p);
          expect(bits % 64).toBe(0);
          expect(bits).toBeGreaterThanOrEqual(64);
          expect(bits).toBeGreaterThanOrEqual((-Math.max(1, n) * Math.log(p)) / Math.LN2 ** 2);
          expect(bits - 64).toBeLessThan((-Math.max(1, n) * Math.log(p)) / Math.LN2 ** 2);
          expect(hashes).toBeGreaterThanOrEqual(1);
          expect(hashes).toBeLessThanOrEqual(30);
        },
      ),
      { numRuns: 200 },
    );
  });

  it.each([
    [-1, 0.01],
    [1.5, 0.01],
    [Number.NaN, 0.01],
    [Number.POSITIVE_INFINITY, 0.01],
    [10, 0],
    [10, 1],
    [10, -0.1],
    [10, 1.5],
    [10, Number.NaN],
  ])('rejects create(%d, %d) with a RangeError', (n, p) => {
    expect(() => BloomFilter.create(n, p)).toThrow(RangeError);
    expect(() => BloomFilter.sizeFor(n, p)).toThrow(RangeError);
  });

  it('rejects a size whose bit count does not fit the u32 field', () => {
    expect(() => BloomFilter.sizeFor(1_000_000_000, 1e-6)).toThrow(RangeError);
  });
});

describe('BloomFilter', () => {
  it('starts empty', () => {
    const filter = BloomFilter.create(100, 0.01);
    expect(filter.mightContain(keyHashes(ascii('anything')))).toBe(false);
    expect(setBits(filter.encode())).toEqual([]);
  });

  it('sets exactly the bits (h1 + i·h2) mod bits for i < hashes', () => {
    fc.assert(
      fc.property(
        fc.record({ h1: fc.nat({ max: 0xffffffff }), h2: fc.nat({ max: 0x7fffffff }) }),
        fc.integer({ min: 1, max: 2_000 }),
        fc.constantFrom(0.5, 0.1, 0.01, 1e-4, 1e-9),
        ({ h1, h2 }, n, p) => {
          // keyHashes only produces odd h2; this spans all of them, up to 2^32 - 1.
          const h: KeyHashes = { h1, h2: h2 * 2 + 1 };
          const filter = BloomFilter.create(n, p);
          filter.add(h);
          const expected = new Set<number>();
          for (let i = 0; i < filter.hashes; i++) expected.add((h.h1 + i * h.h2) % filter.bits);
          expect(setBits(filter.encode())).toEqual([...expected].sort((a, b) => a - b));
          expect(filter.mightContain(h)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('has no false negatives', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 300 }),
        fc.constantFrom(0.3, 0.01, 0.001),
        (keys, p) => {
          const filter = BloomFilter.create(keys.length, p);
          for (const key of keys) filter.add(keyHashes(key));
          for (const key of keys) expect(filter.mightContain(keyHashes(key))).toBe(true);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('keeps no false negatives when overfilled far beyond its expected entries', () => {
    const keys = randomKeys(xorshift32(0x0badf00d), 2_000);
    const filter = BloomFilter.create(10, 0.01);
    for (const key of keys) filter.add(keyHashes(key));
    for (const key of keys) expect(filter.mightContain(keyHashes(key))).toBe(true);
  });

  // 10,000 present and 100,000 absent random 27-byte keys from xorshift32 seeded with 0x2545f491; the
  // bounds allow about ±2x around the target, far outside the sampling noise of 100,000 queries.
  it('measures a false-positive rate near 1% when sized for 1%', () => {
    const rate = measuredFalsePositiveRate(0.01, 0x2545f491);
    expect(rate).toBeGreaterThanOrEqual(0.005);
    expect(rate).toBeLessThanOrEqual(0.02);
  });

  it('measures a false-positive rate near 0.1% when sized for 0.1%', () => {
    const rate = measuredFalsePositiveRate(0.001, 0x2545f491);
    expect(rate).toBeGreaterThanOrEqual(0.0003);
    expect(rate).toBeLessThanOrEqual(0.003);
  });
});

describe('BloomFilter encode/decode', () => {
  function filled(n: number, p: number, seed: number): { filter: BloomFilter; keys: Uint8Array[] } {
    const keys = randomKeys(xorshift32(seed), n);
    const filter = BloomFilter.create(n, p);
    for (const key of keys) filter.add(keyHashes(key));
    return { filter, keys };
  }

  it('writes the documented header', () => {
    const { filter } = filled(10_000, 0.01, 1);
    const bytes = filter.encode();
    expect(bytes.length).toBe(8 + 95_872 / 8);
    expect(bytes.length).toBe(filter.encodedLength());
    expect([...bytes.subarray(0, 8)]).toEqual([0x80, 0x76, 0x01, 0x00, 7, 0, 0, 0]); // 95,872 = 0x017680
  });

  it('encodes the golden example of docs/formats.md section 10', () => {
    // 6 entries at 10%: 28.75 bits rounds up to 64, round(64 / 6 · ln 2) = 7 hashes. "hello" has
    // h1 = 0x5d7f56e8, h2 = 0x8e6fc365, so it sets bits 40, 13, 50, 23, 60, 33, 6.
    const filter = BloomFilter.create(6, 0.1);
    filter.add(keyHashes(ascii('hello')));
    const golden = Buffer.from('40000000070000004020800002010410', 'hex');
    expect(filter.encode()).toEqual(golden);
    expect(BloomFilter.decode(golden).mightContain(keyHashes(ascii('hello')))).toBe(true);
  });

  it('round-trips bits, hashes and every answer', () => {
    const { filter, keys } = filled(2_000, 0.01, 2);
    const probes = randomKeys(xorshift32(3), 20_000);
    const decoded = BloomFilter.decode(filter.encode());
    expect(decoded.bits).toBe(filter.bits);
    expect(decoded.hashes).toBe(filter.hashes);
    expect(decoded.encode()).toEqual(filter.encode());
    for (const key of keys) expect(decoded.mightContain(keyHashes(key))).toBe(true);
    for (const key of probes) {
      const h = keyHashes(key);
      expect(decoded.mightContain(h)).toBe(filter.mightContain(h));
    }
  });

  it('decodes from a view inside a larger buffer and does not alias it', () => {
    const { filter, keys } = filled(500, 0.01, 4);
    const encoded = filter.encode();
    const backing = new Uint8Array(encoded.length + 10).fill(0xee);
    backing.set(encoded, 5);
    const decoded = BloomFilter.decode(backing.subarray(5, 5 + encoded.length));
    backing.fill(0);
    for (const key of keys) expect(decoded.mightContain(keyHashes(key))).toBe(true);
    expect(decoded.encode()).toEqual(encoded);
  });

  it('does not alias a Buffer it decodes from (Buffer.slice would)', () => {
    const { filter, keys } = filled(500, 0.01, 6);
    const encoded = filter.encode();
    const input = Buffer.from(encoded);
    const decoded = BloomFilter.decode(input);
    input.fill(0, 8);
    for (const key of keys) expect(decoded.mightContain(keyHashes(key))).toBe(true);
    expect(decoded.encode()).toEqual(encoded);
  });

  it('does not share bits between an encoded buffer and the filter', () => {
    const filter = BloomFilter.create(100, 0.01);
    const encoded = filter.encode();
    filter.add(keyHashes(ascii('later')));
    expect(setBits(encoded)).toEqual([]);
  });

  const valid = (): Buffer => filled(100, 0.01, 5).filter.encode();
  const corrupt: Array<[string, () => Uint8Array]> = [
    ['empty input', () => new Uint8Array(0)],
    ['a truncated header', () => valid().subarray(0, 7)],
    ['a truncated bit array', () => valid().subarray(0, valid().length - 1)],
    ['the header alone', () => valid().subarray(0, 8)],
    ['a trailing byte', () => Buffer.concat([valid(), Buffer.from([0])])],
    ['a trailing 8-byte word', () => Buffer.concat([valid(), Buffer.alloc(8)])],
    [
      'hashes 0',
      () => {
        const b = valid();
        b[4] = 0;
        return b;
      },
    ],
    [
      'hashes 31',
      () => {
        const b = valid();
        b[4] = 31;
        return b;
      },
    ],
    [
      'hashes 255',
      () => {
        const b = valid();
        b[4] = 255;
        return b;
      },
    ],
    ...[5, 6, 7].map((at): [string, () => Uint8Array] => [
      `a nonzero reserved byte at ${at}`,
      () => {
        const b = valid();
        b[at] = 1;
        return b;
      },
    ]),
    [
      'bits 0',
      () => {
        const b = Buffer.alloc(8);
        b[4] = 7;
        return b;
      },
    ],
    [
      'bits not a multiple of 64 (100, with 13 bytes of bit array)',
      () => {
        const b = Buffer.alloc(8 + 13);
        b.writeUInt32LE(100, 0);
        b[4] = 7;
        return b;
      },
    ],
    [
      'bits not a multiple of 64 (72, with 9 bytes of bit array)',
      () => {
        const b = Buffer.alloc(8 + 9);
        b.writeUInt32LE(72, 0);
        b[4] = 7;
        return b;
      },
    ],
    [
      'a bit count far larger than the bytes (2^32 - 64)',
      () => {
        const b = valid();
        b.writeUInt32LE(0xffffffc0, 0);
        return b;
      },
    ],
    [
      'a bit count one word smaller than the bytes',
      () => {
        const b = valid();
        b.writeUInt32LE(b.readUInt32LE(0) - 64, 0);
        return b;
      },
    ],
  ];

  it.each(corrupt)('rejects %s with DataCorruptError', (_name, make) => {
    expect(() => BloomFilter.decode(make())).toThrow(DataCorruptError);
  });

  it('either decodes or throws DataCorruptError on any input', () => {
    const good = valid();
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 64 }),
          fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([at, x]) => {
            const b = Buffer.from(good);
            b[at] = b[at]! ^ x;
            return b as Uint8Array;
          }),
        ),
        (bytes) => {
          try {
            const f = BloomFilter.decode(bytes);
            expect(f.encode()).toEqual(Buffer.from(bytes));
          } catch (e) {
            expect(e).toBeInstanceOf(DataCorruptError);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
