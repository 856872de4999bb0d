import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BadBlobIdError, BlobId, BlobIdType } from '../src/blob-id.js';
import {
  type CompositeBlobMetadata,
  type CompositeChunk,
  chunkIndexForOffset,
  chunksForRange,
  decodeCompositeMetadata,
  encodeCompositeMetadata,
  MAX_COMPOSITE_CHUNKS,
} from '../src/composite-metadata.js';
import {
  DecodeError,
  InvalidArgumentError,
  LimitExceededError,
  UnsupportedVersionError,
} from '../src/errors.js';
import { assertDecoderIsTotalAndCanonical } from './codec-fuzz.js';

let counter = 0;
function chunkId(type: BlobIdType = BlobIdType.DATA_CHUNK, partitionId = 1): BlobId {
  const n = counter++;
  return BlobId.generate({
    partitionId,
    datacenterId: 1,
    accountId: 7,
    containerId: 8,
    type,
    random: (target) => target.fill(n & 0xff),
  });
}

function metadata(sizes: number[]): CompositeBlobMetadata {
  return {
    totalSize: sizes.reduce((a, b) => a + b, 0),
    chunks: sizes.map((size) => ({ blobId: chunkId(), size })),
  };
}

/** Independent encoder of the documented layout. */
function handBuilt(
  totalSize: bigint,
  chunks: Array<{ size: number; id: Uint8Array }>,
  count = chunks.length,
): Buffer {
  const head = Buffer.alloc(14);
  head.writeUInt16BE(1, 0);
  head.writeBigUInt64BE(totalSize, 2);
  head.writeUInt32BE(count, 10);
  const parts = [head];
  for (const { size, id } of chunks) {
    const s = Buffer.alloc(4);
    s.writeUInt32BE(size);
    parts.push(s, Buffer.from(id));
  }
  return Buffer.concat(parts);
}

function expectDecodeError(bytes: Uint8Array, message?: RegExp): DecodeError {
  let caught: unknown;
  try {
    decodeCompositeMetadata(bytes);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(DecodeError);
  if (message) expect((caught as Error).message).toMatch(message);
  return caught as DecodeError;
}

function sameMetadata(a: CompositeBlobMetadata, b: CompositeBlobMetadata): void {
  expect(a.totalSize).toBe(b.totalSize);
  expect(a.chunks.length).toBe(b.chunks.length);
  a.chunks.forEach((chunk, i) => {
    expect(chunk.size).toBe(b.chunks[i]!.size);
    expect(chunk.blobId.equals(b.chunks[i]!.blobId)).toBe(true);
  });
}

const sizesArb = fc.array(
  fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 0xffff_ffff })),
  {
    minLength: 1,
    maxLength: 20,
  },
);

describe('composite metadata encoding', () => {
  it('matches the documented layout byte for byte', () => {
    const a = chunkId();
    const b = chunkId(BlobIdType.SIMPLE, 9);
    const m: CompositeBlobMetadata = {
      totalSize: 4 * 1024 * 1024 + 10,
      chunks: [
        { blobId: a, size: 4 * 1024 * 1024 },
        { blobId: b, size: 10 },
      ],
    };
    const bytes = encodeCompositeMetadata(m);
    const expected = handBuilt(4194314n, [
      { size: 4194304, id: a.toBytes() },
      { size: 10, id: b.toBytes() },
    ]);
    expect(bytes.equals(expected)).toBe(true);
    expect(bytes.byteLength).toBe(14 + 2 * (4 + 27));
    sameMetadata(decodeCompositeMetadata(bytes), m);
  });

  it('round trips variable chunk sizes and re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(sizesArb, fc.boolean(), (sizes, encrypted) => {
        const m: CompositeBlobMetadata = {
          totalSize: sizes.reduce((a, b) => a + b, 0),
          chunks: sizes.map((size, i) => ({
            size,
            blobId: BlobId.generate({
              partitionId: i,
              encrypted,
              type: i % 2 ? BlobIdType.SIMPLE : BlobIdType.DATA_CHUNK,
            }),
          })),
        };
        const bytes = encodeCompositeMetadata(m);
        const decoded = decodeCompositeMetadata(bytes);
        sameMetadata(decoded, m);
        expect(encodeCompositeMetadata(decoded).equals(bytes)).toBe(true);
        expect(Object.isFrozen(decoded)).toBe(true);
        expect(Object.isFrozen(decoded.chunks)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('allows the largest chunk size and a repeated chunk id', () => {
    const id = chunkId();
    const m = {
      totalSize: 2 * 0xffff_ffff,
      chunks: [
        { blobId: id, size: 0xffff_ffff },
        { blobId: id, size: 0xffff_ffff },
      ],
    };
    sameMetadata(decodeCompositeMetadata(encodeCompositeMetadata(m)), m);
  });
});

describe('composite metadata rules on encode', () => {
  const id = chunkId();
  it.each<[string, unknown]>([
    ['no chunks', { totalSize: 0, chunks: [] }],
    [
      'zero-size chunk',
      {
        totalSize: 5,
        chunks: [
          { blobId: id, size: 5 },
          { blobId: id, size: 0 },
        ],
      },
    ],
    [
      'negative chunk',
      {
        totalSize: 5,
        chunks: [
          { blobId: id, size: 6 },
          { blobId: id, size: -1 },
        ],
      },
    ],
    ['chunk over u32', { totalSize: 2 ** 32, chunks: [{ blobId: id, size: 2 ** 32 }] }],
    ['fractional size', { totalSize: 1.5, chunks: [{ blobId: id, size: 1.5 }] }],
    ['sum too small', { totalSize: 11, chunks: [{ blobId: id, size: 10 }] }],
    ['sum too large', { totalSize: 9, chunks: [{ blobId: id, size: 10 }] }],
    ['nested metadata', { totalSize: 10, chunks: [{ blobId: chunkId(BlobIdType.METADATA), size: 10 }] }],
    ['not a BlobId', { totalSize: 10, chunks: [{ blobId: id.toString(), size: 10 }] }],
    ['no chunk list', { totalSize: 10 }],
    ['null', null],
  ])('rejects %s with InvalidArgumentError', (_name, m) => {
    expect(() => encodeCompositeMetadata(m as CompositeBlobMetadata)).toThrow(InvalidArgumentError);
  });

  it('rejects more than MAX_COMPOSITE_CHUNKS with LimitExceededError', () => {
    const chunk: CompositeChunk = { blobId: id, size: 1 };
    const chunks = new Array<CompositeChunk>(MAX_COMPOSITE_CHUNKS + 1).fill(chunk);
    expect(() => encodeCompositeMetadata({ totalSize: chunks.length, chunks })).toThrow(LimitExceededError);
  });
});

describe('composite metadata decoding of untrusted bytes', () => {
  const a = chunkId();
  const b = chunkId();

  it('rejects rule violations', () => {
    expectDecodeError(handBuilt(0n, []), /no chunks/);
    expectDecodeError(handBuilt(10n, [{ size: 0, id: a.toBytes() }]), /size 0/);
    expectDecodeError(handBuilt(11n, [{ size: 10, id: a.toBytes() }]), /sum/);
    expectDecodeError(
      handBuilt(30n, [
        { size: 10, id: a.toBytes() },
        { size: 10, id: b.toBytes() },
      ]),
      /sum/,
    );
    expectDecodeError(handBuilt(10n, [{ size: 10, id: chunkId(BlobIdType.METADATA).toBytes() }]), /METADATA/);
    expectDecodeError(handBuilt(2n ** 60n, [{ size: 10, id: a.toBytes() }]), /totalSize/);
    expectDecodeError(handBuilt(10n, [], MAX_COMPOSITE_CHUNKS + 1), /over the limit/);
    expectDecodeError(handBuilt(10n, [{ size: 10, id: a.toBytes() }], 1000), /cannot fit/);
    expect(() => decodeCompositeMetadata(Buffer.from([0, 2, ...handBuilt(1n, []).subarray(2)]))).toThrow(
      UnsupportedVersionError,
    );
  });

  it('wraps a bad chunk id in a DecodeError', () => {
    const badId = a.toBytes();
    badId[1] = 0x03; // type 3
    const error = expectDecodeError(handBuilt(10n, [{ size: 10, id: badId }]), /chunk 0 id/);
    expect(error.cause).toBeInstanceOf(BadBlobIdError);
    const unknownVersion = a.toBytes();
    unknownVersion[0] = 9;
    expectDecodeError(handBuilt(10n, [{ size: 10, id: unknownVersion }]), /version 9/);
  });

  it('rejects every truncation and trailing bytes', () => {
    const bytes = encodeCompositeMetadata(metadata([5, 7, 9]));
    for (let n = 0; n < bytes.byteLength; n++) expectDecodeError(bytes.subarray(0, n));
    expectDecodeError(Buffer.concat([bytes, Buffer.from([1])]), /trailing/);
  });

  it('never throws anything but DecodeError on random or mutated bytes', () => {
    const valid = encodeCompositeMetadata(metadata([3, 4]));
    assertDecoderIsTotalAndCanonical(valid, decodeCompositeMetadata, encodeCompositeMetadata, 120);
  });
});

describe('chunksForRange', () => {
  /** Naive model: map every byte of the range to (chunk, offset in chunk), then group. */
  function naive(sizes: number[], start: number, end: number) {
    const byteOwner: Array<[number, number, number]> = []; // [chunk index, chunk start, offset in chunk]
    let chunkStart = 0;
    sizes.forEach((size, index) => {
      for (let i = 0; i < size; i++) byteOwner.push([index, chunkStart, i]);
      chunkStart += size;
    });
    const out: Array<{ index: number; chunkStart: number; from: number; to: number }> = [];
    for (let pos = start; pos <= end; pos++) {
      const [index, cs, offset] = byteOwner[pos]!;
      const last = out[out.length - 1];
      if (last && last.index === index) last.to = offset;
      else out.push({ index, chunkStart: cs, from: offset, to: offset });
    }
    return out;
  }

  const caseArb = fc
    .array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 12 })
    .chain((sizes) => {
      const total = sizes.reduce((a, b) => a + b, 0);
      return fc
        .tuple(fc.nat(total - 1), fc.nat(total - 1))
        .map(([x, y]) => ({ sizes, start: Math.min(x, y), end: Math.max(x, y) }));
    });

  it('agrees with a byte-by-byte model', () => {
    fc.assert(
      fc.property(caseArb, ({ sizes, start, end }) => {
        const m = metadata(sizes);
        const got = chunksForRange(m, start, end);
        expect(got.map(({ index, chunkStart, from, to }) => ({ index, chunkStart, from, to }))).toEqual(
          naive(sizes, start, end),
        );
        for (const r of got) expect(r.chunk).toBe(m.chunks[r.index]);
        // The pieces add up to the range length.
        expect(got.reduce((sum, r) => sum + r.to - r.from + 1, 0)).toBe(end - start + 1);
        const first = chunkIndexForOffset(m, start);
        expect(first.index).toBe(got[0]!.index);
        expect(first.chunkStart).toBe(got[0]!.chunkStart);
      }),
      { numRuns: 500 },
    );
  });

  it('handles 4 MiB chunks and a range inside one chunk', () => {
    const MiB4 = 4 * 1024 * 1024;
    const m = metadata([MiB4, MiB4, MiB4, 100]);
    expect(chunksForRange(m, MiB4 + 5, MiB4 + 9).map(({ index, from, to }) => [index, from, to])).toEqual([
      [1, 5, 9],
    ]);
    expect(chunksForRange(m, MiB4 - 1, 2 * MiB4).map(({ index, from, to }) => [index, from, to])).toEqual([
      [0, MiB4 - 1, MiB4 - 1],
      [1, 0, MiB4 - 1],
      [2, 0, 0],
    ]);
    expect(chunksForRange(m, 3 * MiB4 + 99, 3 * MiB4 + 99)[0]).toMatchObject({
      index: 3,
      chunkStart: 3 * MiB4,
      from: 99,
      to: 99,
    });
  });

  it('rejects ranges outside the blob', () => {
    const m = metadata([10, 10]);
    for (const [start, end] of [
      [-1, 5],
      [5, 4],
      [0, 20],
      [20, 20],
      [0.5, 3],
      [0, Number.NaN],
    ] as const) {
      expect(() => chunksForRange(m, start, end)).toThrow(InvalidArgumentError);
    }
    expect(() => chunkIndexForOffset(m, 20)).toThrow(InvalidArgumentError);
  });
});
