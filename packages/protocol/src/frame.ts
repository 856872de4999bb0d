import { asBuffer } from './binary.js';
import { xxh64 } from './checksum.js';
import { ChecksumMismatchError, DecodeError, FrameTooLargeError, UnsupportedVersionError } from './errors.js';

/**
 * Length-prefixed frames, the unit of the wire protocol (docs/formats.md, "Frame"):
 *
 *   0   u32  frameLength     bytes after this field = 18 + headerLength + payloadLength
 *   4   u8   version         FRAME_VERSION
 *   5   u8   flags           bit 0: response; bit 1: payload self-checked; bits 2-7 reserved, zero
 *   6   u32  correlationId
 *   10  u32  headerLength
 *   14  u64  checksum        xxh64(payload, seed = xxh64(header, seed 0)); the header alone when bit 1
 *   22  header               protobuf message (opaque at this layer)
 *   ..  payload              raw bytes (blob contents), never inside the protobuf header
 *
 * All integers big-endian. Correlation ids live in the fixed prefix so multiplexing works without
 * decoding the protobuf header, and an undecodable header can still be answered.
 */

export const FRAME_VERSION = 1;
export const FRAME_PREFIX_BYTES = 22;
/** Bytes counted by `frameLength` besides header and payload. */
const FRAME_FIXED_AFTER_LENGTH = FRAME_PREFIX_BYTES - 4;
/** Default bound on a whole frame (prefix + header + payload): a 4 MiB chunk plus generous headroom. */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;
/** Hard ceiling: frameLength is a u32. */
export const MAX_FRAME_BYTES_LIMIT = 0xffff_ffff;
const FLAG_RESPONSE = 0x01;
const FLAG_PAYLOAD_SELF_CHECKED = 0x02;
const FLAGS_RESERVED = 0xfc;
const NO_PAYLOAD = new Uint8Array(0);

export type FrameKind = 'request' | 'response';

export interface Frame {
  readonly kind: FrameKind;
  /** Unsigned 32-bit; chosen by the requester, echoed by the responder. */
  readonly correlationId: number;
  readonly header: Uint8Array;
  readonly payload: Uint8Array;
  /**
   * The checksum covers the header only: the payload carries checksums over every one of its bytes
   * and the receiver verifies those (LOG_CHUNK's log records). Spares hashing it twice on each side.
   */
  readonly payloadSelfChecked?: boolean;
}

export function frameChecksum(header: Uint8Array, payload: Uint8Array): bigint {
  return xxh64(payload, xxh64(header));
}

/** Total bytes a frame with these parts occupies on the wire. */
export function encodedFrameSize(headerLength: number, payloadLength: number): number {
  return FRAME_PREFIX_BYTES + headerLength + payloadLength;
}

/**
 * Encode a frame as one or two buffers: prefix + header, then the payload untouched (no copy of blob
 * bytes). Write them in one corked batch.
 */
export function encodeFrame(frame: Frame, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): Buffer[] {
  const { header, payload, correlationId } = frame;
  const total = encodedFrameSize(header.byteLength, payload.byteLength);
  if (total > maxFrameBytes) throw new FrameTooLargeError(total, maxFrameBytes);
  if (!Number.isInteger(correlationId) || correlationId < 0 || correlationId > 0xffff_ffff) {
    throw new RangeError(`correlation id ${correlationId} is not an unsigned 32-bit integer`);
  }
  const head = Buffer.allocUnsafe(FRAME_PREFIX_BYTES + header.byteLength);
  head.writeUInt32BE(total - 4, 0);
  head.writeUInt8(FRAME_VERSION, 4);
  const selfChecked = frame.payloadSelfChecked === true;
  head.writeUInt8(
    (frame.kind === 'response' ? FLAG_RESPONSE : 0) | (selfChecked ? FLAG_PAYLOAD_SELF_CHECKED : 0),
    5,
  );
  head.writeUInt32BE(correlationId, 6);
  head.writeUInt32BE(header.byteLength, 10);
  head.writeBigUInt64BE(frameChecksum(header, selfChecked ? NO_PAYLOAD : payload), 14);
  head.set(header, FRAME_PREFIX_BYTES);
  return payload.byteLength > 0 ? [head, asBuffer(payload)] : [head];
}

export interface FrameDecoderOptions {
  /** Largest whole frame accepted (prefix included). Larger announcements fail at once. */
  readonly maxFrameBytes?: number;
  /**
   * Where a frame that spans several chunks is assembled: a buffer of at least `bytes` offered by the
   * receiver for that correlation id (reused across frames, it spares a fresh allocation per frame), or
   * undefined for a new one.
   */
  readonly frameBuffer?: (correlationId: number, bytes: number) => Buffer | undefined;
}

/**
 * Incremental decoder: feed it whatever the socket delivers (frames split at any byte, many frames per
 * chunk) and it returns every complete frame. Bytes of an incomplete frame are kept as the original
 * chunks and copied once, when the frame completes; a frame that arrives inside one chunk is a
 * zero-copy view of it. After a DecodeError the stream is out of sync: the decoder stays failed and
 * the caller must close the connection.
 */
export class FrameDecoder {
  readonly maxFrameBytes: number;
  private readonly frameBuffer: FrameDecoderOptions['frameBuffer'];
  private chunks: Buffer[] = [];
  private buffered = 0;
  private failure: DecodeError | undefined;

  constructor(options: FrameDecoderOptions = {}) {
    const max = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isInteger(max) || max < FRAME_PREFIX_BYTES || max > MAX_FRAME_BYTES_LIMIT + 4) {
      throw new RangeError(`maxFrameBytes ${max} out of range`);
    }
    this.maxFrameBytes = max;
    this.frameBuffer = options.frameBuffer;
  }

  /** Bytes held for a frame that is not complete yet. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Decode every frame completed by `chunk`. Throws a DecodeError subclass on malformed input. */
  push(chunk: Uint8Array): Frame[] {
    if (this.failure) throw this.failure;
    if (chunk.byteLength > 0) {
      this.chunks.push(asBuffer(chunk));
      this.buffered += chunk.byteLength;
    }
    const frames: Frame[] = [];
    try {
      for (;;) {
        const frame = this.next();
        if (!frame) break;
        frames.push(frame);
      }
    } catch (error) {
      this.failure = error as DecodeError;
      this.chunks = [];
      this.buffered = 0;
      throw error;
    }
    return frames;
  }

  private next(): Frame | undefined {
    if (this.buffered < FRAME_PREFIX_BYTES) {
      // Reject an oversized announcement as soon as the length is readable.
      if (this.buffered >= 4) this.checkLength(this.peek(4).readUInt32BE(0));
      return undefined;
    }
    const prefix = this.peek(FRAME_PREFIX_BYTES);
    const frameLength = prefix.readUInt32BE(0);
    this.checkLength(frameLength);
    const version = prefix.readUInt8(4);
    if (version !== FRAME_VERSION) throw new UnsupportedVersionError('frame', version);
    const flags = prefix.readUInt8(5);
    if ((flags & FLAGS_RESERVED) !== 0) {
      throw new DecodeError(`frame has reserved flag bits set (0x${flags.toString(16)})`);
    }
    const headerLength = prefix.readUInt32BE(10);
    if (headerLength > frameLength - FRAME_FIXED_AFTER_LENGTH) {
      throw new DecodeError(`frame header length ${headerLength} exceeds frame length ${frameLength}`);
    }
    const total = frameLength + 4;
    if (this.buffered < total) return undefined;

    const bytes = this.take(total, prefix.readUInt32BE(6));
    const header = bytes.subarray(FRAME_PREFIX_BYTES, FRAME_PREFIX_BYTES + headerLength);
    const payload = bytes.subarray(FRAME_PREFIX_BYTES + headerLength, total);
    const selfChecked = (flags & FLAG_PAYLOAD_SELF_CHECKED) !== 0;
    const expected = bytes.readBigUInt64BE(14);
    const actual = frameChecksum(header, selfChecked ? NO_PAYLOAD : payload);
    if (expected !== actual) throw new ChecksumMismatchError('frame', expected, actual);
    return {
      kind: flags & FLAG_RESPONSE ? 'response' : 'request',
      correlationId: bytes.readUInt32BE(6),
      header,
      payload,
      ...(selfChecked ? { payloadSelfChecked: true } : {}),
    };
  }

  private checkLength(frameLength: number): void {
    if (frameLength < FRAME_FIXED_AFTER_LENGTH) {
      throw new DecodeError(`frame length ${frameLength} is shorter than the fixed prefix`);
    }
    if (frameLength + 4 > this.maxFrameBytes)
      throw new FrameTooLargeError(frameLength + 4, this.maxFrameBytes);
  }

  /** The first `n` buffered bytes (n <= buffered), copying only when they span chunks. */
  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.byteLength >= n) return first;
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    for (const chunk of this.chunks) {
      const count = Math.min(chunk.byteLength, n - filled);
      chunk.copy(out, filled, 0, count);
      filled += count;
      if (filled === n) break;
    }
    return out;
  }

  /** Remove and return exactly `n` buffered bytes (n <= buffered). */
  private take(n: number, correlationId: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0]!;
    if (first.byteLength >= n) {
      if (first.byteLength === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const offered = this.frameBuffer?.(correlationId, n);
    const out = offered !== undefined && offered.byteLength >= n ? offered : Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0]!;
      const count = Math.min(chunk.byteLength, n - filled);
      chunk.copy(out, filled, 0, count);
      filled += count;
      if (count === chunk.byteLength) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(count);
    }
    return out;
  }
}
