/**
 * PUT of a blob larger than `chunkBytes`: its bytes are cut into DATA_CHUNK blobs as the source yields
 * them, up to `chunksInFlight` pieces buffered or being stored at once (the memory bound), then a
 * METADATA blob listing the chunks is stored and its id is the blob's id. The metadata blob has the
 * caller's properties except blobSize, which must be its own length for the data node to take it. Any failure deletes the chunks
 * already written (best effort): nobody could read them, since no id naming them is ever returned.
 */
import type { Readable } from 'node:stream';
import { type BlobId, BlobIdType, type CompositeChunk, encodeCompositeMetadata } from '@ambry/protocol';
import { forEachBounded } from './bounded.js';
import { RouterError, RouterErrorCode, toRouterError } from './errors.js';
import { allowListeners } from './listeners.js';
import {
  declaredBlobSize,
  type PutInput,
  putChunk,
  putSimpleBlob,
  sizeMismatch,
  withSize,
} from './put-operation.js';
import { type RouterContext, throwIfAborted } from './replica-requests.js';
import { updateBlob } from './update-operation.js';

/** What a put stored: the blob's id and its size (as declared, or as counted when undeclared). */
export interface StoredBlob {
  readonly id: BlobId;
  readonly blobSize: number;
}

/** Any blob: a simple one when it fits in one chunk, else chunks plus a metadata blob. */
export async function putBlob(
  context: RouterContext,
  input: PutInput,
  signal: AbortSignal,
): Promise<StoredBlob> {
  const { chunkBytes } = context.config;
  const declared = declaredBlobSize(input);
  if (declared !== undefined && declared <= chunkBytes) {
    return { id: await putSimpleBlob(context, input, declared, signal), blobSize: declared };
  }
  const source = pieces(input.blob, declared, chunkBytes, signal)[Symbol.asyncIterator]();
  if (declared !== undefined) return putChunkedBlob(context, input, source, signal);
  // Size unknown: a blob that ends within its first chunk is a simple blob. Knowing that takes
  // reading one piece past the first (two pieces in memory, within the chunksInFlight bound).
  const first = await source.next();
  const second = first.done ? first : await source.next();
  if (second.done) {
    const blob = first.done ? Buffer.alloc(0) : first.value;
    const id = await putChunk(context, withSize(input, blob.byteLength), blob, BlobIdType.SIMPLE, signal);
    return { id, blobSize: blob.byteLength };
  }
  return putChunkedBlob(context, input, prepend([first.value, second.value], source), signal);
}

async function* prepend(head: readonly Buffer[], rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  yield* head;
  // yield* over the iterator itself, so an early return() reaches the source and releases it.
  yield* { [Symbol.asyncIterator]: () => rest };
}

async function putChunkedBlob(
  context: RouterContext,
  input: PutInput,
  source: AsyncIterator<Buffer>,
  signal: AbortSignal,
): Promise<StoredBlob> {
  const { chunksInFlight, putParallelism } = context.config;
  // Every replica request of every chunk in flight listens to the one operation signal.
  allowListeners(signal, chunksInFlight * (putParallelism + 2) + 10);
  const chunks: Array<CompositeChunk | undefined> = [];
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let totalSize = 0;
  try {
    for await (const piece of { [Symbol.asyncIterator]: () => source }) {
      const index = chunks.length;
      chunks.push(undefined);
      totalSize += piece.byteLength;
      const chunkInput = withSize(input, piece.byteLength);
      const stored: Promise<void> = putChunk(context, chunkInput, piece, BlobIdType.DATA_CHUNK, signal).then(
        (blobId) => {
          chunks[index] = { blobId, size: piece.byteLength };
        },
        (error: unknown) => {
          failure ??= error;
        },
      );
      const tracked = stored.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
      // The next piece is read only when a slot is free: pieces buffered + stored ≤ chunksInFlight.
      while (inFlight.size >= chunksInFlight && failure === undefined) await Promise.race(inFlight);
      if (failure !== undefined) break;
    }
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
    throwIfAborted(signal);
    const stored = chunks.filter((chunk) => chunk !== undefined);
    if (stored.length !== chunks.length)
      throw new RouterError(RouterErrorCode.INTERNAL, 'a chunk went missing');
    const metadata = encodeCompositeMetadata({ totalSize, chunks: stored });
    // A data node checks blobSize against the bytes it stores; a get reports the total again.
    const metadataInput = withSize(input, metadata.byteLength);
    const id = await putChunk(context, metadataInput, metadata, BlobIdType.METADATA, signal);
    return { id, blobSize: totalSize };
  } catch (error) {
    await Promise.all(inFlight);
    await deleteChunks(context, chunks);
    throw toRouterError(error);
  }
}

/**
 * Not tied to the operation's signal: a caller's abort is one of the failures that must clean up.
 * Awaited so that the caller's error means the chunks are gone (or could not be deleted now).
 */
async function deleteChunks(
  context: RouterContext,
  chunks: ReadonlyArray<CompositeChunk | undefined>,
): Promise<void> {
  const cleanup = new AbortController().signal;
  allowListeners(cleanup, context.config.chunksInFlight * (context.config.updateParallelism + 2) + 10);
  const stored = chunks.filter((chunk) => chunk !== undefined);
  // As many at once as the put itself had: a multi-GiB upload failing late must not fire them all.
  await forEachBounded(stored, context.config.chunksInFlight, (chunk) =>
    updateBlob(context, chunk.blobId, { kind: 'delete' }, cleanup).catch(() => undefined),
  );
}

/** The source in pieces of `chunkBytes` (the last one shorter), checked against the declared size. */
async function* pieces(
  blob: PutInput['blob'],
  size: number | undefined,
  chunkBytes: number,
  signal: AbortSignal,
): AsyncGenerator<Buffer> {
  if (blob instanceof Uint8Array) {
    // declaredBlobSize gives a Buffer without a declared size its own length.
    if (size === undefined || blob.byteLength !== size) throw sizeMismatch(blob.byteLength, size ?? -1);
    const bytes = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
    for (let offset = 0; offset < size; offset += chunkBytes) {
      throwIfAborted(signal);
      yield bytes.subarray(offset, Math.min(size, offset + chunkBytes));
    }
    return;
  }
  if (blob === null || typeof blob !== 'object' || typeof blob[Symbol.asyncIterator] !== 'function') {
    throw new RouterError(RouterErrorCode.INVALID_ARGUMENT, 'blob must be a Buffer or a Readable');
  }
  yield* readablePieces(blob, size, chunkBytes, signal);
}

async function* readablePieces(
  blob: Readable,
  size: number | undefined,
  chunkBytes: number,
  signal: AbortSignal,
): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let buffered = 0;
  let total = 0;
  const onAbort = () => blob.destroy();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const part of blob) {
      const bytes = typeof part === 'string' ? Buffer.from(part) : Buffer.from(part as Uint8Array);
      total += bytes.byteLength;
      if (size !== undefined && total > size) throw sizeMismatch(total, size, 'at least ');
      parts.push(bytes);
      buffered += bytes.byteLength;
      while (buffered >= chunkBytes) {
        const joined = Buffer.concat(parts, buffered);
        // A copy: the remainder must not pin the whole joined buffer while the piece is stored.
        const rest = Buffer.from(joined.subarray(chunkBytes));
        parts = rest.byteLength === 0 ? [] : [rest];
        buffered = rest.byteLength;
        yield joined.subarray(0, chunkBytes);
      }
    }
  } catch (error) {
    blob.destroy();
    throwIfAborted(signal);
    if (error instanceof RouterError) throw error;
    throw new RouterError(
      RouterErrorCode.INVALID_ARGUMENT,
      `reading the blob failed: ${toRouterError(error).message}`,
      { cause: error },
    );
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  throwIfAborted(signal);
  if (size !== undefined && total !== size) throw sizeMismatch(total, size);
  if (buffered > 0) yield Buffer.concat(parts, buffered);
}
