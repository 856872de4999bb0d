/**
 * DELETE, TTL update and UNDELETE of any blob. A composite blob (a METADATA id) is its metadata blob
 * plus the data chunks it lists (ambry.md 4.5):
 * - TTL update and undelete go to every data chunk first, then to the metadata blob, so that when the
 *   caller hears "done" no chunk can expire, or stay deleted, under a readable blob;
 * - delete goes to the metadata blob only, which makes the blob unreadable at once; its data chunks are
 *   deleted afterwards, in the background (background-work.ts), unless an undelete comes first.
 */
import { type BlobId, BlobIdType, type BlobState } from '@ambry/protocol';
import type { BackgroundWork } from './background-work.js';
import { forEachBounded } from './bounded.js';
import { decodeMetadata } from './chunked-get.js';
import { RouterError, RouterErrorCode } from './errors.js';
import { fetchBlob } from './get-operation.js';
import { allowListeners } from './listeners.js';
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
  const key = id.toString();
  if (update.kind === 'delete') {
    await updateBlob(context, id, update, signal);
    background.submit(key, (stop) => deleteDataChunks(context, id, stop));
    return;
  }
  // A chunk delete of this blob still waiting or running would land after the chunks' undelete.
  await background.cancel(key);
  const { chunks, state } = await compositeOf(context, id, signal);
  if (update.kind === 'ttlUpdate') refuseTtlUpdate(context, id, state);
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

/**
 * A deleted or expired blob's TTL cannot change: refused before any chunk is touched, or chunks no
 * longer referenced by anything (their cleanup may have failed) would be made permanent.
 */
function refuseTtlUpdate(context: RouterContext, id: BlobId, state: BlobState): void {
  if (state.deleted) throw new RouterError(RouterErrorCode.BLOB_DELETED, `blob ${id} is deleted`);
  if (state.expiresAtMs !== -1 && state.expiresAtMs <= context.clock()) {
    throw new RouterError(RouterErrorCode.BLOB_EXPIRED, `blob ${id} has expired`);
  }
}

/** The chunk ids listed by a composite blob's metadata, and its state, whatever that is. */
async function compositeOf(
  context: RouterContext,
  id: BlobId,
  signal: AbortSignal,
): Promise<{ chunks: BlobId[]; state: BlobState }> {
  const answer = await fetchBlob(context, id, { includeDeleted: true, includeExpired: true }, signal);
  return { chunks: decodeMetadata(answer, id).chunks.map((chunk) => chunk.blobId), state: answer.state };
}

async function deleteDataChunks(context: RouterContext, id: BlobId, signal: AbortSignal): Promise<void> {
  const { chunks, state } = await compositeOf(context, id, signal);
  // Undeleted since (through another router): its chunks stay.
  if (!state.deleted) return;
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
  allowListeners(signal, chunksInFlight * (updateParallelism + 2) + 10);
}
