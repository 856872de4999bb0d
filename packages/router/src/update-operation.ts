/**
 * DELETE, TTL update and UNDELETE: sent to replicas in every datacenter (local first), because an
 * update applied in one place reaches the others only by replication. Undelete needs a quorum in each
 * datacenter; the others `updateSuccessTarget` replicas anywhere.
 */
import { type BlobId, ErrorCode, ServerError } from '@ambry/protocol';
import { isIdempotentSuccess } from './errors.js';
import { OperationTracker } from './operation-tracker.js';
import {
  type Judgement,
  operationError,
  type RouterContext,
  replicasOfBlob,
  runReplicaRequests,
} from './replica-requests.js';

export type UpdateOperation =
  | { readonly kind: 'delete' }
  | { readonly kind: 'ttlUpdate'; readonly expiresAtMs: number }
  | { readonly kind: 'undelete' };

export async function updateBlob(
  context: RouterContext,
  id: BlobId,
  update: UpdateOperation,
  signal: AbortSignal,
): Promise<void> {
  const { config, client } = context;
  const replicas = replicasOfBlob(context, id, true);
  const tracker =
    update.kind === 'undelete'
      ? new OperationTracker({
          replicas,
          parallelism: config.updateParallelism,
          mode: 'quorum-per-datacenter',
        })
      : new OperationTracker({
          replicas,
          parallelism: config.updateParallelism,
          successTarget: config.updateSuccessTarget,
        });
  const operationTimeMs = context.clock();
  const result = await runReplicaRequests<unknown>({
    context,
    tracker,
    operation: update.kind,
    signal,
    cancelStragglers: false,
    stragglerGraceMs: config.updateStragglerGraceMs,
    send: (endpoint, _replica, requestSignal) => {
      const call = { timeoutMs: config.requestTimeoutMs, signal: requestSignal };
      switch (update.kind) {
        case 'delete':
          return client.delete(endpoint, { blobId: id, operationTimeMs }, call);
        case 'ttlUpdate':
          return client.ttlUpdate(
            endpoint,
            { blobId: id, expiresAtMs: update.expiresAtMs, operationTimeMs },
            call,
          );
        case 'undelete':
          return client.undelete(endpoint, { blobId: id, operationTimeMs }, call);
      }
    },
    judge: (error): Judgement => {
      if (!(error instanceof ServerError)) return 'failure';
      if (isIdempotentSuccess(error.code, update.kind)) return 'success';
      return error.code === ErrorCode.BLOB_NOT_FOUND ? 'not-found' : 'failure';
    },
  });
  if (result.status !== 'success') throw operationError(result, `${update.kind} ${id}`);
}
