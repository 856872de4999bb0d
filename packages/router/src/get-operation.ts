/**
 * GET of a simple blob: replicas of the id's partition tried local → originating datacenter → the
 * rest, until one answers. NOT_FOUND only once the originating datacenter agrees (a local miss may be
 * replication lag); a replica saying deleted or expired is believed at once.
 */
import { Readable } from 'node:stream';
import {
  type BlobId,
  type BlobProperties,
  type BlobState,
  type ByteRange,
  ErrorCode,
  GetPart,
  type GetResult,
  ServerError,
  type UserMetadata,
} from '@ambry/protocol';
import { RouterError, RouterErrorCode, toRouterError } from './errors.js';
import { sizeClassOf } from './latency-tracker.js';
import { OperationTracker } from './operation-tracker.js';
import {
  type Judgement,
  operationError,
  type RouterContext,
  replicasOfBlob,
  runReplicaRequests,
} from './replica-requests.js';

export interface GetOptions {
  /** 'info': properties, user metadata and state without the bytes. Default 'all'. */
  readonly part?: 'all' | 'info';
  readonly range?: ByteRange;
  readonly includeDeleted?: boolean;
  readonly includeExpired?: boolean;
  readonly signal?: AbortSignal;
}

export interface GetBlobResult {
  readonly properties: BlobProperties;
  readonly userMetadata: UserMetadata;
  /** Of the whole blob, whatever the range. */
  readonly blobSize: number;
  readonly state: BlobState;
  /** The slice in `blob`, when a range was asked for (its length clamped to the blob's end). */
  readonly range?: ByteRange;
  /** Empty for part 'info'. */
  readonly blob: Readable;
}

/** Answers that end the operation: another replica would only say the same or be behind. */
const FINAL_CODES: ReadonlySet<ErrorCode> = new Set([
  ErrorCode.BLOB_DELETED,
  ErrorCode.BLOB_DELETED_PERMANENTLY,
  ErrorCode.BLOB_EXPIRED,
  ErrorCode.RANGE_NOT_SATISFIABLE,
]);

function judgeGet(error: unknown): Judgement {
  if (!(error instanceof ServerError)) return 'failure';
  if (error.code === ErrorCode.BLOB_NOT_FOUND) return 'not-found';
  if (FINAL_CODES.has(error.code)) return { final: toRouterError(error) };
  return 'failure';
}

export async function getSimpleBlob(
  context: RouterContext,
  id: BlobId,
  options: GetOptions,
  signal: AbortSignal,
): Promise<GetBlobResult> {
  return toBlobResult(await fetchBlob(context, id, options, signal), id);
}

/** One replica's answer for the blob (or its range), the bytes in memory: one chunk at most. */
/**
 * `expectedBytes`, when known (a data chunk's size from its metadata), picks the latencies the hedge
 * delay is learned from; a blob of unknown size is taken for a small one.
 */
export async function fetchBlob(
  context: RouterContext,
  id: BlobId,
  options: GetOptions,
  signal: AbortSignal,
  expectedBytes?: number,
): Promise<GetResult> {
  const { config, client, clock, latency } = context;
  const expected = sizeClassOf(options.part === 'info' ? 0 : expectedBytes);
  const replicas = replicasOfBlob(context, id, config.getCrossDatacenter);
  // Hedging starts with only as many requests as answers are needed and adds replicas as they prove slow,
  // instead of loading getParallelism replicas with every GET.
  const hedged = config.hedgeGets;
  const tracker = new OperationTracker({
    replicas,
    parallelism: hedged ? config.getSuccessTarget : config.getParallelism,
    ...(hedged ? { maxInFlight: config.hedgeMaxInFlight } : {}),
    successTarget: config.getSuccessTarget,
    notFoundNeedsAllOriginating: true,
    originatingDatacenterId: id.datacenterId,
  });
  const request = {
    blobId: id,
    part: options.part === 'info' ? GetPart.INFO : GetPart.ALL,
    includeDeleted: options.includeDeleted ?? false,
    includeExpired: options.includeExpired ?? false,
    ...(options.range === undefined ? {} : { range: options.range }),
  };
  const result = await runReplicaRequests<GetResult>({
    context,
    tracker,
    operation: 'get',
    signal,
    cancelStragglers: true,
    send: async (endpoint, replica, requestSignal) => {
      const started = clock();
      const answer = await client.get(endpoint, request, {
        timeoutMs: config.requestTimeoutMs,
        signal: requestSignal,
      });
      // Only answers: a timeout or error says nothing about how long a healthy GET takes.
      latency.for(replica.node.datacenter, sizeClassOf(answer.blob.byteLength)).record(clock() - started);
      return answer;
    },
    judge: judgeGet,
    ...(hedged ? { hedge: { delayMs: (r) => latency.for(r.node.datacenter, expected).delayMs() } } : {}),
  });
  const first = result.values[0];
  if (result.status !== 'success' || first === undefined) {
    if (result.status === 'failure' && result.final === undefined) {
      throw new RouterError(RouterErrorCode.UNAVAILABLE, `get ${id}: no replica answered`, {
        cause: operationError(result, `get ${id}`),
      });
    }
    throw operationError(result, `get ${id}`);
  }
  return first.value;
}

function toBlobResult(answer: GetResult, id: BlobId): GetBlobResult {
  if (answer.properties === undefined) {
    throw new RouterError(RouterErrorCode.INTERNAL, `get ${id}: replica answered without properties`);
  }
  const bytes = Buffer.from(answer.blob.buffer, answer.blob.byteOffset, answer.blob.byteLength);
  return {
    properties: answer.properties,
    userMetadata: answer.userMetadata ?? {},
    blobSize: answer.blobSize,
    state: answer.state,
    ...(answer.range === undefined ? {} : { range: answer.range }),
    blob: Readable.from(bytes.byteLength === 0 ? [] : [bytes]),
  };
}
