/**
 * PUT of a simple blob: one chunk, stored on a quorum of the local replicas of a random writable
 * partition, retried on another partition (with a new id) when that quorum fails.
 *
 * Blobs larger than `chunkBytes` are split by chunked-put.ts, which stores each piece with `putChunk`.
 */
import type { Readable } from 'node:stream';
import type { Partition } from '@ambry/clustermap';
import { BlobId, BlobIdType, type BlobProperties, type UserMetadata } from '@ambry/protocol';
import { RouterError, RouterErrorCode, toRouterError } from './errors.js';
import { OperationTracker } from './operation-tracker.js';
import { orderReplicas } from './replica-order.js';
import {
  operationError,
  type RouterContext,
  runReplicaRequests,
  throwIfAborted,
  usableReplica,
} from './replica-requests.js';

export interface PutInput {
  /** `blobSize` must be the number of bytes in `blob`. */
  readonly properties: BlobProperties;
  readonly userMetadata?: UserMetadata;
  readonly blob: Buffer | Uint8Array | Readable;
}

/** The declared size of the blob to put, checked. */
export function declaredBlobSize(input: PutInput): number {
  const size = input.properties?.blobSize;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new RouterError(
      RouterErrorCode.INVALID_ARGUMENT,
      `blobSize must be a safe integer >= 0, got ${String(size)}`,
    );
  }
  return size;
}

export async function putSimpleBlob(
  context: RouterContext,
  input: PutInput,
  signal: AbortSignal,
): Promise<BlobId> {
  const { chunkBytes } = context.config;
  const size = declaredBlobSize(input);
  if (size > chunkBytes) throw tooLarge(size, chunkBytes);
  const blob = await readBlob(input.blob, size, signal);
  return putChunk(context, input, blob, BlobIdType.SIMPLE, signal);
}

/**
 * One blob of `type` (a simple blob, a data chunk or a metadata blob) whose bytes are `blob`, on a
 * random writable partition, retried on others. `input.blob` is ignored.
 */
export async function putChunk(
  context: RouterContext,
  input: PutInput,
  blob: Buffer,
  type: BlobIdType,
  signal: AbortSignal,
): Promise<BlobId> {
  const { properties } = input;
  const { maxPutAttempts } = context.config;
  const tried = new Set<number>();
  let lastError: RouterError | undefined;
  for (let attempt = 0; attempt < maxPutAttempts; attempt++) {
    throwIfAborted(signal);
    const partition = choosePartition(context, tried);
    if (partition === undefined) break;
    tried.add(partition.id);
    const id = BlobId.generate({
      type,
      partitionId: partition.id,
      datacenterId: context.clusterMap.localDatacenter.id,
      accountId: properties.accountId,
      containerId: properties.containerId,
    });
    const result = await putOnPartition(context, partition, id, input, blob, signal);
    if (result === undefined) return id;
    lastError = result;
    // The caller's request is at fault, not the partition: another partition would refuse it too.
    if (result.code === RouterErrorCode.INVALID_ARGUMENT) break;
  }
  throw (
    lastError ?? new RouterError(RouterErrorCode.INSUFFICIENT_CAPACITY, 'no writable partition is available')
  );
}

/** undefined on success, else why the quorum failed. */
async function putOnPartition(
  context: RouterContext,
  partition: Partition,
  id: BlobId,
  input: PutInput,
  blob: Buffer,
  signal: AbortSignal,
): Promise<RouterError | undefined> {
  const { clusterMap, config, client } = context;
  const replicas = orderReplicas(clusterMap.replicas(partition.id), {
    localDatacenter: clusterMap.localDatacenter.name,
    crossDatacenter: false,
    random: context.random,
    usable: usableReplica(context, (r) => clusterMap.isReplicaWritable(r)),
  });
  const tracker = new OperationTracker({
    replicas,
    parallelism: config.putParallelism,
    successTarget: config.putSuccessTarget,
  });
  const request = { blobId: id, properties: input.properties, userMetadata: input.userMetadata ?? {}, blob };
  const result = await runReplicaRequests({
    context,
    tracker,
    operation: 'put',
    signal,
    cancelStragglers: false,
    send: (endpoint, _replica, requestSignal) =>
      client.put(endpoint, request, { timeoutMs: config.requestTimeoutMs, signal: requestSignal }),
    judge: () => 'failure',
  });
  if (result.status === 'success') return undefined;
  // Best effort: copies of an id that failed would otherwise sit there until compaction; nobody can
  // read them anyway since the id is never returned.
  for (const { replica } of result.values) {
    const endpoint = { host: replica.node.host, port: replica.node.port };
    client
      .delete(
        endpoint,
        { blobId: id, operationTimeMs: context.clock() },
        { timeoutMs: config.requestTimeoutMs },
      )
      .catch(() => undefined);
  }
  return operationError(result, `put to partition ${partition.id}`);
}

function choosePartition(context: RouterContext, tried: ReadonlySet<number>): Partition | undefined {
  const candidates = context.clusterMap.writablePartitions().filter((p) => !tried.has(p.id));
  if (candidates.length === 0) return undefined;
  const index = Math.min(candidates.length - 1, Math.floor(context.random() * candidates.length));
  return candidates[index];
}

function tooLarge(size: number, chunkBytes: number): RouterError {
  return new RouterError(
    RouterErrorCode.BLOB_TOO_LARGE,
    `blob of ${size} bytes exceeds the chunk size ${chunkBytes}: it must be put as a chunked blob`,
  );
}

/** The whole blob (at most one chunk) in memory; a stream is read only up to a byte past `size`. */
async function readBlob(
  blob: Buffer | Uint8Array | Readable,
  size: number,
  signal: AbortSignal,
): Promise<Buffer> {
  if (blob instanceof Uint8Array) {
    if (blob.byteLength !== size) throw sizeMismatch(blob.byteLength, size);
    return Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  }
  if (blob === null || typeof blob !== 'object' || typeof blob[Symbol.asyncIterator] !== 'function') {
    throw new RouterError(RouterErrorCode.INVALID_ARGUMENT, 'blob must be a Buffer or a Readable');
  }
  const parts: Buffer[] = [];
  let total = 0;
  const onAbort = () => blob.destroy();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const part of blob) {
      const bytes = typeof part === 'string' ? Buffer.from(part) : Buffer.from(part as Uint8Array);
      total += bytes.byteLength;
      if (total > size) throw sizeMismatch(total, size, 'at least ');
      parts.push(bytes);
    }
  } catch (error) {
    blob.destroy();
    throwIfAborted(signal);
    throw error instanceof RouterError
      ? error
      : new RouterError(
          RouterErrorCode.INVALID_ARGUMENT,
          `reading the blob failed: ${toRouterError(error).message}`,
          {
            cause: error,
          },
        );
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  throwIfAborted(signal);
  if (total !== size) throw sizeMismatch(total, size);
  return Buffer.concat(parts, total);
}

export function sizeMismatch(actual: number, declared: number, atLeast = ''): RouterError {
  return new RouterError(
    RouterErrorCode.INVALID_ARGUMENT,
    `blob has ${atLeast}${actual} bytes but properties.blobSize says ${declared}`,
  );
}
