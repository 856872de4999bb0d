import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { xxh64 } from '../src/checksum.js';
import {
  ChecksumMismatchError,
  DecodeError,
  FrameTooLargeError,
  UnsupportedVersionError,
} from '../src/errors.js';
import { encodeFrame, FRAME_PREFIX_BYTES, type Frame, FrameDecoder } from '../src/frame.js';

const frameArb = fc.record({
  kind: fc.constantFrom<'request' | 'response'>('request', 'response'),
  correlationId: fc.nat({ max: 0xffff_ffff }),
  header: fc.uint8Array({ maxLength: 300 }),
  payload: fc.uint8Array({ maxLength: 5000 }),
});

function wire(frame: Frame): Buffer {
  return Buffer.concat(encodeFrame(frame));
}

function plain(frame: Frame) {
  return {
    kind: frame.kind,
    correlationId: frame.correlationId,
    header: Buffer.from(frame.header).toString('hex'),
    payload: Buffer.from(frame.payload).toString('hex'),
  };
}

/** Split `bytes` at the given cut points (sorted, deduplicated, inside the buffer). */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let start = 0;
  for (const point of points) {
    pieces.push(bytes.subarray(start, point));
    start = point;
  }
  pieces.push(bytes.subarray(start));
  return pieces;
}

describe('frame layout', () => {
  it('writes the documented prefix: length, version, flags, correlation id, header length, checksum', () => {
    const header = Buffer.from('hdr');
    const payload = Buffer.from('payload!');
    const bytes = wire({ kind: 'response', correlationId: 0x01020304, header, payload });
    expect(bytes.length).toBe(FRAME_PREFIX_BYTES + 3 + 8);
    expect(bytes.readUInt32BE(0)).toBe(bytes.length - 4);
    expect(bytes[4]).toBe(1);
    expect(bytes[5]).toBe(1);
    expect(bytes.readUInt32BE(6)).toBe(0x01020304);
    expect(bytes.readUInt32BE(10)).toBe(3);
    expect(bytes.readBigUInt64BE(14)).toBe(xxh64(payload, xxh64(header)));
    expect(bytes.subarray(22, 25).toString()).toBe('hdr');
    expect(bytes.subarray(25).toString()).toBe('payload!');
  });

  it('keeps the payload buffer itself instead of copying it', () => {
    const payload = Buffer.alloc(1024, 7);
    const parts = encodeFrame({ kind: 'request', correlationId: 1, header: Buffer.from('h'), payload });
    expect(parts).toHaveLength(2);
    expect(parts[1]).toBe(payload);
  });

  it('refuses to encode a frame over the limit', () => {
    expect(() =>
      encodeFrame(
        { kind: 'request', correlationId: 1, header: new Uint8Array(10), payload: new Uint8Array(100) },
        64,
      ),
    ).toThrow(FrameTooLargeError);
  });
});

describe('FrameDecoder', () => {
  it('decodes frames split at arbitrary byte boundaries, many frames per chunk', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (frames, cuts) => {
          const stream = Buffer.concat(frames.map(wire));
          const decoder = new FrameDecoder();
          const out: Frame[] = [];
          for (const piece of split(stream, cuts)) out.push(...decoder.push(piece));
          expect(out.map(plain)).toEqual(frames.map(plain));
          expect(decoder.bufferedBytes).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('decodes a stream delivered one byte at a time', () => {
    const frames: Frame[] = [
      { kind: 'request', correlationId: 5, header: Buffer.from('a'), payload: Buffer.alloc(0) },
      { kind: 'response', correlationId: 6, header: Buffer.alloc(0), payload: Buffer.from('xyz') },
    ];
    const stream = Buffer.concat(frames.map(wire));
    const decoder = new FrameDecoder();
    const out: Frame[] = [];
    for (let i = 0; i < stream.length; i++) out.push(...decoder.push(stream.subarray(i, i + 1)));
    expect(out.map(plain)).toEqual(frames.map(plain));
  });

  it('rejects a flipped byte anywhere in header or payload with a checksum error', () => {
    fc.assert(
      fc.property(frameArb, fc.nat(), (frame, at) => {
        const bytes = Buffer.from(wire(frame));
        const body = bytes.length - FRAME_PREFIX_BYTES;
        fc.pre(body > 0);
        bytes[FRAME_PREFIX_BYTES + (at % body)]! ^= 0xff;
        expect(() => new FrameDecoder().push(bytes)).toThrow(ChecksumMismatchError);
      }),
      { numRuns: 200 },
    );
  });

  it('rejects an oversized announcement as soon as the length is readable', () => {
    const decoder = new FrameDecoder({ maxFrameBytes: 1024 });
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(5000, 0);
    expect(() => decoder.push(prefix)).toThrow(FrameTooLargeError);
  });

  it('rejects a wrong version, reserved flags, an impossible header length and a too-short length', () => {
    const good = wire({
      kind: 'request',
      correlationId: 1,
      header: Buffer.from('hh'),
      payload: Buffer.from('p'),
    });
    const badVersion = Buffer.from(good);
    badVersion[4] = 2;
    expect(() => new FrameDecoder().push(badVersion)).toThrow(UnsupportedVersionError);
    const badFlags = Buffer.from(good);
    badFlags[5] = 0x04;
    expect(() => new FrameDecoder().push(badFlags)).toThrow(DecodeError);
    const badHeaderLength = Buffer.from(good);
    badHeaderLength.writeUInt32BE(1000, 10);
    expect(() => new FrameDecoder().push(badHeaderLength)).toThrow(DecodeError);
    const tooShort = Buffer.alloc(FRAME_PREFIX_BYTES);
    tooShort.writeUInt32BE(3, 0);
    expect(() => new FrameDecoder().push(tooShort)).toThrow(DecodeError);
  });

  it('leaves a self-checked payload out of the checksum, and still checks the header', () => {
    const frame = {
      kind: 'response' as const,
      correlationId: 5,
      header: Buffer.from('head'),
      payload: Buffer.from('records with checksums of their own'),
      payloadSelfChecked: true,
    };
    const bytes = wire(frame);
    expect(bytes[5]).toBe(0x03);
    expect(bytes.readBigUInt64BE(14)).toBe(xxh64(new Uint8Array(0), xxh64(frame.header)));
    const [decoded] = new FrameDecoder().push(bytes);
    expect(decoded!.payloadSelfChecked).toBe(true);
    expect(plain(decoded!)).toEqual(plain(frame));
    const payloadFlipped = Buffer.from(bytes);
    payloadFlipped[bytes.length - 1]! ^= 1;
    expect(new FrameDecoder().push(payloadFlipped)[0]!.payload).toEqual(payloadFlipped.subarray(-35));
    const headerFlipped = Buffer.from(bytes);
    headerFlipped[FRAME_PREFIX_BYTES]! ^= 1;
    expect(() => new FrameDecoder().push(headerFlipped)).toThrow(ChecksumMismatchError);
    // Without the bit, the same bytes are checked whole.
    expect(
      new FrameDecoder().push(wire({ ...frame, payloadSelfChecked: false }))[0]!.payloadSelfChecked,
    ).toBe(undefined);
  });

  it('throws only DecodeError subclasses on random garbage, and stays failed afterwards', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 2000 }), (garbage) => {
        const decoder = new FrameDecoder({ maxFrameBytes: 4096 });
        let failed: unknown;
        try {
          decoder.push(garbage);
        } catch (error) {
          failed = error;
        }
        if (failed !== undefined) {
          expect(failed).toBeInstanceOf(DecodeError);
          expect(() => decoder.push(Buffer.alloc(1))).toThrow(DecodeError);
        } else {
          // Garbage that parses as an incomplete frame is simply buffered (bounded by the limit).
          expect(decoder.bufferedBytes).toBeLessThanOrEqual(4096);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('returns zero-copy views when a frame arrives inside one chunk', () => {
    const frame = {
      kind: 'request' as const,
      correlationId: 9,
      header: Buffer.from('h'),
      payload: Buffer.from('pp'),
    };
    const chunk = wire(frame);
    const [decoded] = new FrameDecoder().push(chunk);
    expect(decoded!.payload.buffer).toBe(chunk.buffer);
  });

  it('assembles a frame split across chunks in the buffer offered for its correlation id, if it fits', () => {
    const offered = Buffer.alloc(4096);
    const asked: [number, number][] = [];
    const decoder = new FrameDecoder({
      frameBuffer: (correlationId, bytes) => {
        asked.push([correlationId, bytes]);
        return correlationId === 7 ? offered : correlationId === 8 ? Buffer.alloc(10) : undefined;
      },
    });
    const frames = [7, 8, 9].map((correlationId) => ({
      kind: 'response' as const,
      correlationId,
      header: Buffer.from('head'),
      payload: Buffer.alloc(1000, correlationId),
    }));
    const decoded = frames.flatMap((frame) => {
      const bytes = wire(frame);
      return [...decoder.push(bytes.subarray(0, 500)), ...decoder.push(bytes.subarray(500))];
    });
    expect(decoded.map(plain)).toEqual(frames.map(plain));
    expect(asked.map(([id]) => id)).toEqual([7, 8, 9]);
    expect(asked[0]![1]).toBe(wire(frames[0]!).length);
    expect(decoded[0]!.payload.buffer).toBe(offered.buffer); // used
    expect(decoded[1]!.payload.buffer).not.toBe(offered.buffer); // too small: a buffer of its own
  });
});
