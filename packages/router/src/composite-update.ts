/**
 * DELETE, TTL update and UNDELETE of any blob. A composite blob (a METADATA id) is its metadata blob
 * plus the data chunks it lists (ambry.md 4.5):
 * - TTL update and undelete go to every data chunk first, then to the metadata blob, so that when the
 *   caller hears "done" no chunk can expire, or stay deleted, under a readable blob;
 * - delete goes to the metadata blob only, which makes the blob unreadable at once; its data chunks are
 *   deleted afterwards, in the background (background-work.ts).
 */
import { setMaxListeners } from 'node:events';
import { type BlobId, BlobIdType } from '@ambry/protocol';
import type { BackgroundWork } from './background-work.js';
import { decodeMetadata } from './chunked-get.js';
import { RouterError, RouterErrorCode } from './errors.js';
import { fetchBlob } from './get-operation.js';
import type { RouterContext } from './replica-requests.js';
import { type UpdateOperation, updateBlob } from './update-operation.js';

export async function updateAnyBlob(
  context: RouterContext,
  id: BlobId,
  update: UpdateOperation,
  signal: AbortSignal,
  background: BackgroundWork,
): Promise<void> {
  if (id.type !== BlobIdType.METADATA) return updateBlob(context, id, update, signal);
  if (update.kind === 'delete') {
    await updateBlob(context, id, update, signal);
    // Not tied to the caller's signal: the caller has its answer and may well go away now.
    background.submit(() => deleteDataChunks(context, id, new AbortController().signal));
    return;
  }
  const chunks = await dataChunksOf(context, id, signal);
  listenForEveryRequest(context, signal);
  await forEachBounded(chunks, context.config.chunksInFlight, (chunk) =>
    updateBlob(context, chunk, update, signal).catch((error: unknown) => {
      // A chunk the background deleter never reached was not deleted: nothing to undelete there.
      if (
        update.kind === 'undelete' &&
        error instanceof RouterError &&
        error.code === RouterErrorCode.BLOB_NOT_DELETED
      )
        return;
      throw error;
    }),
  );
  await updateBlob(context, id, update, signal);
}

/** The chunk ids listed by a composite blob's metadata, whatever its state. */
async function dataChunksOf(context: RouterContext, id: BlobId, signal: AbortSignal): Promise<BlobId[]> {
  const answer = await fetchBlob(context, id, { includeDeleted: true, includeExpired: true }, signal);
  return decodeMetadata(answer, id).chunks.map((chunk) => chunk.blobId);
}

async function deleteDataChunks(context: RouterContext, id: BlobId, signal: AbortSignal): Promise<void> {
  const chunks = await dataChunksOf(context, id, signal);
  listenForEveryRequest(context, signal);
  let failures = 0;
  await forEachBounded(chunks, context.config.chunksInFlight, (chunk) =>
    updateBlob(context, chunk, { kind: 'delete' }, signal).catch(() => {
      failures += 1;
    }),
  );
  if (failures > 0) {
    throw new RouterError(RouterErrorCode.UNAVAILABLE, `${failures} data chunks of ${id} were not deleted`);
  }
}

/** Every request of every chunk update in flight listens to the one signal. */
function listenForEveryRequest(context: RouterContext, signal: AbortSignal): void {
  const { chunksInFlight, updateParallelism } = context.config;
  setMaxListeners(chunksInFlight * (updateParallelism + 2) + 10, signal);
}

async function forEachBounded<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < items.length && !failed) {
      const item = items[next] as T;
      next += 1;
      await work(item).catch((error: unknown) => {
        failed = true;
        throw error;
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
