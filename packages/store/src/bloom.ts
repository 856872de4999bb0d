import { DataCorruptError } from './errors.js';

/**
 * Two hashes of one key. A lookup probes the bloom filter of every index segment with the same key, so
 * the hashes are computed once and handed to each filter instead of rehashing the key per filter.
 */
export interface KeyHashes {
  /** Unsigned 32-bit. */
  readonly h1: number;
  /** Unsigned 32-bit and always odd. */
  readonly h2: number;
}

// The seeds are part of the persisted format: filters written with one pair answer wrongly under another.
const SEED_1 = 0x9747b28c;
const SEED_2 = 0x5bd1e995;

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** MurmurHash3 x86_32 of `bytes`, as an unsigned 32-bit integer. */
export function murmur3x86_32(bytes: Uint8Array, seed: number): number {
  const length = bytes.length;
  const blockEnd = length & ~3;
  let h = seed | 0;
  let i = 0;
  for (; i < blockEnd; i += 4) {
    h ^= mixBlock(bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < length) h ^= mixBlock(tailBlock(bytes, i));
  // The reference mixes in the length modulo 2^32.
  return finalMix(h ^ length);
}

/**
 * The hashes a BloomFilter needs for `key`: murmur3x86_32 with two seeds. h2 is forced odd because every
 * filter's bit count is a multiple of 64: an odd step is never 0 modulo the bit count and shares no factor
 * of 2 with it, so the probes h1 + i·h2 do not collapse onto a few repeated bits.
 */
export function keyHashes(key: Uint8Array): KeyHashes {
  // Both hashes in one pass: the block mixing does not depend on the seed, so each block is read and
  // mixed once. Equal to two murmur3x86_32 calls (a test holds it to that).
  const length = key.length;
  const blockEnd = length & ~3;
  let a = SEED_1 | 0;
  let b = SEED_2 | 0;
  let i = 0;
  for (; i < blockEnd; i += 4) {
    const k = mixBlock(key[i]! | (key[i + 1]! << 8) | (key[i + 2]! << 16) | (key[i + 3]! << 24));
    a ^= k;
    a = (a << 13) | (a >>> 19);
    a = (Math.imul(a, 5) + 0xe6546b64) | 0;
    b ^= k;
    b = (b << 13) | (b >>> 19);
    b = (Math.imul(b, 5) + 0xe6546b64) | 0;
  }
  if (i < length) {
    const k = mixBlock(tailBlock(key, i));
    a ^= k;
    b ^= k;
  }
  return { h1: finalMix(a ^ length), h2: (finalMix(b ^ length) | 1) >>> 0 };
}

function mixBlock(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

/** The 1 to 3 bytes after the last whole block, little-endian. */
function tailBlock(bytes: Uint8Array, at: number): number {
  const tail = bytes.length - at;
  let k = bytes[at]!;
  if (tail >= 2) k |= bytes[at + 1]! << 8;
  if (tail === 3) k |= bytes[at + 2]! << 16;
  return k;
}

function finalMix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const HEADER_BYTES = 8;
const MAX_HASHES = 30;
// The bit count is stored as a u32 and must be a multiple of 64.
const MAX_BITS = 0x1_0000_0000 - 64;
const LN2 = Math.LN2;

/**
 * A fixed-size bloom filter over KeyHashes, using Kirsch–Mitzenmacher double hashing: probe i is bit
 * (h1 + i·h2) mod bits. Its byte layout is specified in docs/formats.md, section 10.
 */
export class BloomFilter {
  private constructor(
    readonly bits: number,
    readonly hashes: number,
    private readonly array: Uint8Array,
  ) {}

  /**
   * The bit and hash counts that give `falsePositiveRate` once `expectedEntries` keys are added. The bit
   * count is rounded up to a multiple of 64 so the bit array stays whole 8-byte words on disk.
   */
  static sizeFor(expectedEntries: number, falsePositiveRate: number): { bits: number; hashes: number } {
    if (!Number.isInteger(expectedEntries) || expectedEntries < 0) {
      throw new RangeError(`expectedEntries must be a non-negative integer, got ${expectedEntries}`);
    }
    if (!(falsePositiveRate > 0 && falsePositiveRate < 1)) {
      throw new RangeError(`falsePositiveRate must be in (0, 1), got ${falsePositiveRate}`);
    }
    const n = Math.max(1, expectedEntries);
    const raw = Math.ceil((-n * Math.log(falsePositiveRate)) / (LN2 * LN2));
    const bits = Math.max(64, Math.ceil(raw / 64) * 64);
    if (bits > MAX_BITS) {
      throw new RangeError(
        `a filter for ${n} entries at ${falsePositiveRate} needs ${bits} bits, over ${MAX_BITS}`,
      );
    }
    const hashes = Math.min(MAX_HASHES, Math.max(1, Math.round((bits / n) * LN2)));
    return { bits, hashes };
  }

  /** An empty filter sized by sizeFor. An expectedEntries of 0 is sized as 1. */
  static create(expectedEntries: number, falsePositiveRate: number): BloomFilter {
    const { bits, hashes } = BloomFilter.sizeFor(expectedEntries, falsePositiveRate);
    return new BloomFilter(bits, hashes, new Uint8Array(bits / 8));
  }

  /**
   * Reads a filter written by encode(). The bit array is copied once, so the filter does not alias
   * `bytes` (often a pooled read buffer the caller reuses).
   */
  static decode(bytes: Uint8Array): BloomFilter {
    if (bytes.length < HEADER_BYTES) {
      throw new DataCorruptError(
        `bloom filter truncated: ${bytes.length} bytes, header needs ${HEADER_BYTES}`,
      );
    }
    const bits = (bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) >>> 0;
    const hashes = bytes[4]!;
    if (bits === 0 || bits % 64 !== 0) {
      throw new DataCorruptError(`bloom filter bit count ${bits} is not a positive multiple of 64`);
    }
    if (hashes < 1 || hashes > MAX_HASHES) {
      throw new DataCorruptError(`bloom filter hash count ${hashes} is outside 1..${MAX_HASHES}`);
    }
    if (bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) {
      throw new DataCorruptError('bloom filter reserved header bytes are not zero');
    }
    const expected = HEADER_BYTES + bits / 8;
    if (bytes.length !== expected) {
      throw new DataCorruptError(
        `bloom filter of ${bits} bits must be ${expected} bytes, got ${bytes.length}`,
      );
    }
    // Not bytes.slice(): on a Buffer that is a view, not a copy.
    const array = new Uint8Array(bits / 8);
    array.set(bytes.subarray(HEADER_BYTES));
    return new BloomFilter(bits, hashes, array);
  }

  add(h: KeyHashes): void {
    const m = this.bits;
    const array = this.array;
    // Adding the step modulo m each round equals (h1 + i·h2) mod m exactly, without a float remainder
    // per probe; every value stays below 2^33, far inside the exact range of a double.
    let bit = h.h1 % m;
    const step = h.h2 % m;
    for (let i = 0; i < this.hashes; i++) {
      const byte = bit >>> 3;
      array[byte] = array[byte]! | (1 << (bit & 7));
      bit += step;
      if (bit >= m) bit -= m;
    }
  }

  mightContain(h: KeyHashes): boolean {
    const m = this.bits;
    const array = this.array;
    let bit = h.h1 % m;
    const step = h.h2 % m;
    for (let i = 0; i < this.hashes; i++) {
      if ((array[bit >>> 3]! & (1 << (bit & 7))) === 0) return false;
      bit += step;
      if (bit >= m) bit -= m;
    }
    return true;
  }

  encodedLength(): number {
    return HEADER_BYTES + this.array.length;
  }

  encode(): Buffer {
    const out = Buffer.alloc(this.encodedLength());
    out.writeUInt32LE(this.bits, 0);
    out[4] = this.hashes;
    out.set(this.array, HEADER_BYTES);
    return out;
  }
}
