import { ByteReader } from './binary.js';
import { BadBlobIdError, BlobId, BlobIdType } from './blob-id.js';
import { DecodeError, InvalidArgumentError, LimitExceededError, UnsupportedVersionError } from './errors.js';

/**
 * The content of a composite blob's metadata blob: the ordered chunk list of a large blob
 * (docs/formats.md, "Composite blob metadata").
 *
 * Version 1 layout (big-endian):
 *
 *   0   u16  version = 1
 *   2   u64  totalSize
 *   10  u32  chunkCount
 *   14  per chunk: u32 size (1..2^32-1), then the chunk's blob id bytes (length fixed by its version byte)
 *
 * Rules, checked by both encoder and decoder: 1..MAX_COMPOSITE_CHUNKS chunks, every size > 0, sizes
 * sum to totalSize, no chunk is itself a METADATA blob (no nesting). Chunk sizes may differ (stitched
 * uploads); the same chunk id may appear more than once.
 */

export interface CompositeChunk {
  readonly blobId: BlobId;
  /** Bytes of the blob stored in this chunk, 1..2^32-1. */
  readonly size: number;
}

export interface CompositeBlobMetadata {
  /** Sum of the chunk sizes: the logical size of the composite blob. */
  readonly totalSize: number;
  readonly chunks: readonly CompositeChunk[];
}

export const COMPOSITE_METADATA_VERSION = 1;
/** Most chunks in one composite blob: 4 TiB at the default 4 MiB chunk size. */
export const MAX_COMPOSITE_CHUNKS = 1_048_576;
export const MAX_COMPOSITE_CHUNK_SIZE = 0xffff_ffff;

const WHAT = 'composite blob metadata';
const HEADER_BYTES = 14;

/**
 * Encode `m`. Breaking a rule is an InvalidArgumentError; more than MAX_COMPOSITE_CHUNKS chunks is a
 * LimitExceededError.
 */
export function encodeCompositeMetadata(m: CompositeBlobMetadata): Buffer {
  if (typeof m !== 'object' || m === null || !Array.isArray(m.chunks)) {
    throw new InvalidArgumentError(`${WHAT}: expected { totalSize, chunks[] }`);
  }
  const { chunks, totalSize } = m;
  if (chunks.length === 0) throw new InvalidArgumentError(`${WHAT}: no chunks`);
  if (chunks.length > MAX_COMPOSITE_CHUNKS) {
    throw new LimitExceededError(`${WHAT} chunk count`, chunks.length, MAX_COMPOSITE_CHUNKS);
  }
  if (typeof totalSize !== 'number' || !Number.isSafeInteger(totalSize) || totalSize <= 0) {
    throw new InvalidArgumentError(
      `${WHAT}: totalSize must be a positive safe integer, got ${String(totalSize)}`,
    );
  }
  let sum = 0;
  let idBytes = 0;
  for (let index = 0; index < chunks.length; index++) {
    const { size, blobId } = chunks[index] ?? {};
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > MAX_COMPOSITE_CHUNK_SIZE) {
      throw new InvalidArgumentError(
        `${WHAT}: chunk ${index} size must be in 1..${MAX_COMPOSITE_CHUNK_SIZE}, got ${String(size)}`,
      );
    }
    if (!(blobId instanceof BlobId)) throw new InvalidArgumentError(`${WHAT}: chunk ${index} has no BlobId`);
    if (blobId.type === BlobIdType.METADATA) {
      throw new InvalidArgumentError(`${WHAT}: chunk ${index} is a METADATA blob (composites do not nest)`);
    }
    sum += size;
    idBytes += blobId.byteLength;
  }
  if (sum !== totalSize) {
    throw new InvalidArgumentError(`${WHAT}: chunk sizes sum to ${sum}, not totalSize ${totalSize}`);
  }

  const out = Buffer.allocUnsafe(HEADER_BYTES + chunks.length * 4 + idBytes);
  out.writeUInt16BE(COMPOSITE_METADATA_VERSION, 0);
  out.writeBigUInt64BE(BigInt(totalSize), 2);
  out.writeUInt32BE(chunks.length, 10);
  let offset = HEADER_BYTES;
  for (const chunk of chunks) {
    offset = out.writeUInt32BE(chunk.size, offset);
    offset += chunk.blobId.writeTo(out, offset);
  }
  return out;
}

/**
 * Decode untrusted bytes. Throws only DecodeError (UnsupportedVersionError for another version); a bad
 * chunk id is a DecodeError whose cause is the BadBlobIdError. The result and its chunk list are frozen.
 */
export function decodeCompositeMetadata(bytes: Uint8Array): CompositeBlobMetadata {
  if (!(bytes instanceof Uint8Array)) throw new DecodeError(`${WHAT}: input is not a Uint8Array`);
  const reader = new ByteReader(bytes, WHAT);
  const version = reader.readU16('version');
  if (version !== COMPOSITE_METADATA_VERSION) throw new UnsupportedVersionError(WHAT, version);
  const totalSize = reader.readU64('totalSize');
  const count = reader.readU32('chunk count');
  if (count === 0) throw new DecodeError(`${WHAT}: no chunks`);
  if (count > MAX_COMPOSITE_CHUNKS) {
    throw new DecodeError(`${WHAT}: ${count} chunks, over the limit of ${MAX_COMPOSITE_CHUNKS}`);
  }
  // Cheap bound before allocating: every chunk takes at least 4 + 1 bytes.
  if (reader.remaining < count * 5) {
    throw new DecodeError(`${WHAT}: ${count} chunks cannot fit in ${reader.remaining} bytes`);
  }
  const chunks: CompositeChunk[] = new Array(count);
  let sum = 0;
  for (let i = 0; i < count; i++) {
    const size = reader.readU32(`chunk ${i} size`);
    if (size === 0) throw new DecodeError(`${WHAT}: chunk ${i} has size 0`);
    const at = reader.offset;
    let decoded: { blobId: BlobId; byteLength: number };
    try {
      decoded = BlobId.decodeFrom(bytes, at);
    } catch (error) {
      if (error instanceof BadBlobIdError) {
        throw new DecodeError(`${WHAT}: chunk ${i} id at offset ${at}: ${error.message}`, { cause: error });
      }
      throw error;
    }
    reader.readBytes(decoded.byteLength, `chunk ${i} id`);
    if (decoded.blobId.type === BlobIdType.METADATA) {
      throw new DecodeError(`${WHAT}: chunk ${i} is a METADATA blob (composites do not nest)`);
    }
    sum += size;
    chunks[i] = Object.freeze({ blobId: decoded.blobId, size });
  }
  reader.expectEnd();
  if (sum !== totalSize)
    throw new DecodeError(`${WHAT}: chunk sizes sum to ${sum}, not totalSize ${totalSize}`);
  return Object.freeze({ totalSize, chunks: Object.freeze(chunks) });
}

export interface ChunkRange {
  /** Position of the chunk in `chunks`. */
  readonly index: number;
  readonly chunk: CompositeChunk;
  /** Offset of the chunk's first byte within the composite blob. */
  readonly chunkStart: number;
  /** First byte wanted, relative to the chunk (inclusive). */
  readonly from: number;
  /** Last byte wanted, relative to the chunk (inclusive). */
  readonly to: number;
}

function checkRange(m: CompositeBlobMetadata, start: number, endInclusive: number): void {
  if (
    !Number.isInteger(start) ||
    !Number.isInteger(endInclusive) ||
    start < 0 ||
    start > endInclusive ||
    endInclusive >= m.totalSize
  ) {
    throw new InvalidArgumentError(
      `byte range ${start}-${endInclusive} is not within the composite blob of ${m.totalSize} bytes`,
    );
  }
}

/**
 * The chunks holding bytes `start..endInclusive` of the composite blob (both inclusive, as in an HTTP
 * Range), in order, each with the byte range to read from it. A range outside 0..totalSize-1 (or
 * start > end) is an InvalidArgumentError: clamping is the caller's policy. O(number of chunks up to
 * the last one touched).
 */
export function chunksForRange(m: CompositeBlobMetadata, start: number, endInclusive: number): ChunkRange[] {
  checkRange(m, start, endInclusive);
  const result: ChunkRange[] = [];
  let chunkStart = 0;
  for (let index = 0; index < m.chunks.length && chunkStart <= endInclusive; index++) {
    const chunk = m.chunks[index]!;
    const chunkEnd = chunkStart + chunk.size - 1;
    if (chunkEnd >= start) {
      result.push({
        index,
        chunk,
        chunkStart,
        from: Math.max(start, chunkStart) - chunkStart,
        to: Math.min(endInclusive, chunkEnd) - chunkStart,
      });
    }
    chunkStart = chunkEnd + 1;
  }
  return result;
}

/** The chunk holding byte `offset` of the composite blob, and where that chunk starts. */
export function chunkIndexForOffset(
  m: CompositeBlobMetadata,
  offset: number,
): { index: number; chunkStart: number } {
  const [hit] = chunksForRange(m, offset, offset);
  return { index: hit!.index, chunkStart: hit!.chunkStart };
}
