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

/**
 * The properties of a blob to put. `blobSize`, when given, must be the number of bytes in `blob`; it
 * may be left out when `blob` is a Readable of unknown length (an HTTP body sent chunked): the router
 * then reads to the end and stores the size it counted.
 */
export type PutProperties = Omit<BlobProperties, 'blobSize'> & { readonly blobSize?: number };

export interface PutInput {
  readonly properties: PutProperties;
  readonly userMetadata?: UserMetadata;
  readonly blob: Buffer | Uint8Array | Readable;
}

/** What one stored blob (simple, data chunk or metadata) is made of, besides its bytes. */
export interface ChunkInput {
  readonly properties: BlobProperties;
  readonly userMetadata?: UserMetadata;
}

/** The properties with the size the router counted. */
export function withSize(input: PutInput, blobSize: number): ChunkInput {
  return { properties: { ...input.properties, blobSize }, userMetadata: input.userMetadata ?? {} };
}

/**
 * The declared size of the blob to put, checked; undefined when a Readable comes without one. A
 * Buffer without a declared size has its own length.
 */
export function declaredBlobSize(input: PutInput): number | undefined {
  const size = input.properties?.blobSize;
  if (size === undefined) {
    if (input.blob instanceof Uint8Array) return input.blob.byteLength;
    return undefined;
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new RouterError(
      RouterErrorCode.INVALID_ARGUMENT,
      `blobSize must be a safe integer >= 0, got ${String(size)}`,
    );
  }
  return size;
}

/** A blob of known `size`, at most one chunk. */
export async function putSimpleBlob(
  context: RouterContext,
  input: PutInput,
  size: number,
  signal: AbortSignal,
): Promise<BlobId> {
  const { chunkBytes } = context.config;
  if (size > chunkBytes) throw tooLarge(size, chunkBytes);
  const blob = await readBlob(input.blob, size, signal);
  return putChunk(context, withSize(input, size), blob, BlobIdType.SIMPLE, signal);
}

/**
 * One blob of `type` (a simple blob, a data chunk or a metadata blob) whose bytes are `blob`, on a
 * random writable partition, retried on others. `input.blob` is ignored.
 */
export async function putChunk(
  context: RouterContext,
  input: ChunkInput,
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
  input: ChunkInput,
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

/**
 * A random writable partition not tried yet, preferring those whose put quorum sits on nodes and disks
 * the failure detector has up. When none does, any writable one: its replicas that are due a probe get
 * it, so the router finds out when they are back instead of refusing every put until the backoff ends.
 */
function choosePartition(context: RouterContext, tried: ReadonlySet<number>): Partition | undefined {
  const candidates = context.clusterMap.writablePartitions().filter((p) => !tried.has(p.id));
  if (candidates.length === 0) return undefined;
  const healthy = candidates.filter((p) => hasHealthyQuorum(context, p));
  const pool = healthy.length > 0 ? healthy : candidates;
  const index = Math.min(pool.length - 1, Math.floor(context.random() * pool.length));
  return pool[index];
}

function hasHealthyQuorum(context: RouterContext, partition: Partition): boolean {
  const { clusterMap, config, detector } = context;
  const local = clusterMap
    .replicas(partition.id)
    .filter((r) => r.node.datacenterId === clusterMap.localDatacenter.id);
  const healthy = local.filter(
    (r) => clusterMap.isReplicaWritable(r) && detector.state(r.node.key, r.disk.mountPath) !== 'down',
  );
  return healthy.length >= Math.min(config.putSuccessTarget, local.length);
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
