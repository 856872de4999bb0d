import {
  AmbryError,
  BadBlobIdError,
  ClientBusyError,
  DecodeError,
  ErrorCode,
  InvalidArgumentError,
  LimitExceededError,
  RequestAbortedError,
  RequestTimeoutError,
  ServerError,
  TransportError,
} from '@ambry/protocol';

/**
 * What a router call can fail with. String values so logs, metrics labels and JSON error bodies read
 * the same as the code; the frontend turns each into the HTTP status Ambry uses (ambry.md 4.8).
 */
export enum RouterErrorCode {
  INVALID_BLOB_ID = 'INVALID_BLOB_ID',
  INVALID_ARGUMENT = 'INVALID_ARGUMENT',
  BLOB_NOT_FOUND = 'BLOB_NOT_FOUND',
  BLOB_DELETED = 'BLOB_DELETED',
  BLOB_EXPIRED = 'BLOB_EXPIRED',
  BLOB_TOO_LARGE = 'BLOB_TOO_LARGE',
  RANGE_NOT_SATISFIABLE = 'RANGE_NOT_SATISFIABLE',
  /** The operation's success target (quorum) could not be reached. */
  UNAVAILABLE = 'UNAVAILABLE',
  TIMEOUT = 'TIMEOUT',
  /** No writable partition has enough healthy replicas for a put. */
  INSUFFICIENT_CAPACITY = 'INSUFFICIENT_CAPACITY',
  BLOB_NOT_DELETED = 'BLOB_NOT_DELETED',
  BLOB_ALREADY_UNDELETED = 'BLOB_ALREADY_UNDELETED',
  BLOB_UPDATE_NOT_ALLOWED = 'BLOB_UPDATE_NOT_ALLOWED',
  BLOB_CORRUPT = 'BLOB_CORRUPT',
  ROUTER_CLOSED = 'ROUTER_CLOSED',
  /** The caller's AbortSignal fired. */
  ABORTED = 'ABORTED',
  INTERNAL = 'INTERNAL',
}

/**
 * HTTP status per code, after Ambry's RouterErrorCode → RestServiceErrorCode table. ABORTED uses nginx's
 * 499 (client closed request): the caller is gone, so the status is only ever seen in logs and metrics.
 */
export const ROUTER_ERROR_HTTP_STATUS: Readonly<Record<RouterErrorCode, number>> = Object.freeze({
  [RouterErrorCode.INVALID_BLOB_ID]: 400,
  [RouterErrorCode.INVALID_ARGUMENT]: 400,
  [RouterErrorCode.BLOB_NOT_FOUND]: 404,
  [RouterErrorCode.BLOB_DELETED]: 410,
  [RouterErrorCode.BLOB_EXPIRED]: 410,
  [RouterErrorCode.BLOB_TOO_LARGE]: 413,
  [RouterErrorCode.RANGE_NOT_SATISFIABLE]: 416,
  [RouterErrorCode.UNAVAILABLE]: 503,
  [RouterErrorCode.TIMEOUT]: 503,
  [RouterErrorCode.INSUFFICIENT_CAPACITY]: 507,
  [RouterErrorCode.BLOB_NOT_DELETED]: 409,
  [RouterErrorCode.BLOB_ALREADY_UNDELETED]: 409,
  [RouterErrorCode.BLOB_UPDATE_NOT_ALLOWED]: 405,
  [RouterErrorCode.BLOB_CORRUPT]: 500,
  [RouterErrorCode.ROUTER_CLOSED]: 503,
  [RouterErrorCode.ABORTED]: 499,
  [RouterErrorCode.INTERNAL]: 500,
});

/**
 * Codes worth retrying as they are: the cluster may reach quorum a moment later, and a closed router
 * means this process is shutting down while another frontend can serve the same request.
 */
const RETRYABLE: ReadonlySet<RouterErrorCode> = new Set([
  RouterErrorCode.UNAVAILABLE,
  RouterErrorCode.TIMEOUT,
  RouterErrorCode.ROUTER_CLOSED,
]);

/** Every failure a router call reports on purpose; anything else reaching a caller is a bug. */
export class RouterError extends AmbryError {
  readonly httpStatus: number;
  readonly retryable: boolean;

  constructor(
    readonly code: RouterErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.httpStatus = ROUTER_ERROR_HTTP_STATUS[code];
    this.retryable = RETRYABLE.has(code);
  }
}

/**
 * Router code for one data-node answer. Exhaustive over ErrorCode so adding a wire code fails to
 * compile until it is placed. Node-local trouble (I/O, disks, busy, read-only, unknown partition,
 * version skew, ...) becomes UNAVAILABLE: another replica may well answer, and if none does the
 * quorum is what failed. OK and BLOB_ALREADY_UPDATED are successes (see isIdempotentSuccess), so
 * reaching them here is a router bug: INTERNAL.
 */
const FROM_SERVER_CODE: Readonly<Record<ErrorCode, RouterErrorCode>> = Object.freeze({
  [ErrorCode.OK]: RouterErrorCode.INTERNAL,
  [ErrorCode.IO_ERROR]: RouterErrorCode.UNAVAILABLE,
  [ErrorCode.BLOB_NOT_FOUND]: RouterErrorCode.BLOB_NOT_FOUND,
  [ErrorCode.BLOB_DELETED]: RouterErrorCode.BLOB_DELETED,
  [ErrorCode.BLOB_EXPIRED]: RouterErrorCode.BLOB_EXPIRED,
  // Ids are random, so a collision is a replica-level failure; the put retries elsewhere.
  [ErrorCode.BLOB_ALREADY_EXISTS]: RouterErrorCode.UNAVAILABLE,
  [ErrorCode.DATA_CORRUPT]: RouterErrorCode.BLOB_CORRUPT,
  [ErrorCode.PARTITION_UNKNOWN]: RouterErrorCode.UNAVAILABLE,
  [ErrorCode.DISK_UNAVAILABLE]: RouterErrorCode.UNAVAILABLE,
  [ErrorCode.PARTITION_READ_ONLY]: RouterErrorCode.UNAVAILABLE,
  [ErrorCode.UNKNOWN_ERROR]: RouterErrorCode.UNAVAILABLE,
  [ErrorCode.TEMPORARILY_DISABLED]: RouterErrorCode.UNAVAILABLE,
  [ErrorCode.BAD_REQUEST]: RouterErrorCode.INVALID_ARGUMENT,
  [ErrorCode.RETRY_AFTER_BACKOFF]: RouterErrorCode.UNAVAILABLE,
  [ErrorCode.BLOB_ALREADY_UPDATED]: RouterErrorCode.INTERNAL,
  [ErrorCode.BLOB_UPDATE_NOT_ALLOWED]: RouterErrorCode.BLOB_UPDATE_NOT_ALLOWED,
  [ErrorCode.REPLICA_UNAVAILABLE]: RouterErrorCode.UNAVAILABLE,
  [ErrorCode.BLOB_AUTHORIZATION_FAILURE]: RouterErrorCode.UNAVAILABLE,
  // Replicas disagree on the life version until replication converges: retryable, not the caller's fault.
  [ErrorCode.BLOB_LIFE_VERSION_CONFLICT]: RouterErrorCode.UNAVAILABLE,
  [ErrorCode.BLOB_NOT_DELETED]: RouterErrorCode.BLOB_NOT_DELETED,
  [ErrorCode.BLOB_ALREADY_UNDELETED]: RouterErrorCode.BLOB_ALREADY_UNDELETED,
  // Compacted away after deletion: to a reader it is just as gone as a deleted blob.
  [ErrorCode.BLOB_DELETED_PERMANENTLY]: RouterErrorCode.BLOB_DELETED,
  [ErrorCode.UNSUPPORTED_VERSION]: RouterErrorCode.UNAVAILABLE,
  [ErrorCode.UNKNOWN_REQUEST_TYPE]: RouterErrorCode.UNAVAILABLE,
  [ErrorCode.SERVER_BUSY]: RouterErrorCode.UNAVAILABLE,
  [ErrorCode.RANGE_NOT_SATISFIABLE]: RouterErrorCode.RANGE_NOT_SATISFIABLE,
  [ErrorCode.DISK_FULL]: RouterErrorCode.UNAVAILABLE,
});

/** The router code a data-node ErrorCode becomes (unknown numbers, from a newer node, are UNAVAILABLE). */
export function routerCodeForServerCode(code: ErrorCode): RouterErrorCode {
  return FROM_SERVER_CODE[code] ?? RouterErrorCode.UNAVAILABLE;
}

export function routerErrorFromServerCode(
  code: ErrorCode,
  detail: string,
  options?: { cause?: unknown },
): RouterError {
  const name = ErrorCode[code] ?? `error code ${code}`;
  return new RouterError(routerCodeForServerCode(code), detail ? `${name}: ${detail}` : name, options);
}

/** The five operations whose replica answers are tracked (chunk gets included). */
export type RouterOperation = 'put' | 'get' | 'delete' | 'ttlUpdate' | 'undelete';

/**
 * A replica answer that counts towards the success target although it is not OK: the state the caller
 * asked for already holds there (a retried or replicated TTL update; a delete that replication or an
 * earlier attempt already applied, including one compacted away since). BLOB_ALREADY_EXISTS is not one:
 * the store already accepts an identical retried put, so that code means different content.
 * BLOB_ALREADY_UNDELETED is not one either: Ambry reports it to the caller as 409.
 */
export function isIdempotentSuccess(code: ErrorCode, operation: RouterOperation): boolean {
  switch (operation) {
    case 'ttlUpdate':
      return code === ErrorCode.BLOB_ALREADY_UPDATED;
    case 'delete':
      return code === ErrorCode.BLOB_DELETED || code === ErrorCode.BLOB_DELETED_PERMANENTLY;
    default:
      return false;
  }
}

/**
 * What a failed (or answered) request says about the health of the resources behind the replica, for
 * the failure detector (ambry.md 4.6): `node` = the node did not answer properly, `disk` = the node
 * answered that the replica's disk failed, `replica` = this replica cannot serve the operation right now,
 * `none` = a real answer (or our own doing) that says nothing bad about the node.
 */
export type FailureKind = 'node' | 'disk' | 'replica' | 'none';

/**
 * Classifies a response code (a number), a ServerError, or an error thrown by the data-node client.
 * Deliberately not marked: SERVER_BUSY / RETRY_AFTER_BACKOFF (the node answered; marking it down for
 * minutes would turn load into an outage), ClientBusyError (our own queue is full), a caller's abort,
 * and errors that are not transport errors (bugs on our side must not take nodes out).
 */
export function classifyReplicaError(failure: unknown, operation: RouterOperation): FailureKind {
  if (typeof failure === 'number') return classifyServerCode(failure, operation);
  if (failure instanceof ServerError) return classifyServerCode(failure.code, operation);
  if (failure instanceof RequestAbortedError || failure instanceof ClientBusyError) return 'none';
  // Timeouts, refused and dropped connections, and a peer that breaks the protocol all say the node is
  // unhealthy, whatever the replica.
  if (failure instanceof TransportError) return 'node';
  return 'none';
}

function classifyServerCode(code: ErrorCode, operation: RouterOperation): FailureKind {
  switch (code) {
    case ErrorCode.IO_ERROR:
    case ErrorCode.DISK_UNAVAILABLE:
      return 'disk';
    case ErrorCode.REPLICA_UNAVAILABLE:
    case ErrorCode.TEMPORARILY_DISABLED:
      return 'replica';
    // Only puts are refused by a sealed or full replica; it still serves reads and updates.
    case ErrorCode.PARTITION_READ_ONLY:
    case ErrorCode.DISK_FULL:
      return operation === 'put' ? 'replica' : 'none';
    default:
      return 'none';
  }
}

/**
 * Any error from a data-node call, a codec or our own code, as a RouterError: the one type a router call
 * rejects with. Keeps an existing RouterError as it is and the original error as `cause` otherwise.
 * Codec errors are judged by where they arise in the router: a bad id or argument came from the caller,
 * and bytes that fail to decode came from a replica (a transport-level ProtocolError is a TransportError,
 * so it is checked first and stays UNAVAILABLE).
 */
export function toRouterError(error: unknown): RouterError {
  if (error instanceof RouterError) return error;
  const wrap = (code: RouterErrorCode, message: string) => new RouterError(code, message, { cause: error });
  if (error instanceof ServerError)
    return routerErrorFromServerCode(error.code, error.detail, { cause: error });
  if (error instanceof RequestAbortedError) return wrap(RouterErrorCode.ABORTED, error.message);
  if (error instanceof RequestTimeoutError) return wrap(RouterErrorCode.TIMEOUT, error.message);
  if (error instanceof TransportError) return wrap(RouterErrorCode.UNAVAILABLE, error.message);
  if (error instanceof BadBlobIdError) return wrap(RouterErrorCode.INVALID_BLOB_ID, error.message);
  if (error instanceof InvalidArgumentError || error instanceof LimitExceededError)
    return wrap(RouterErrorCode.INVALID_ARGUMENT, error.message);
  if (error instanceof DecodeError) return wrap(RouterErrorCode.BLOB_CORRUPT, error.message);
  return wrap(RouterErrorCode.INTERNAL, error instanceof Error ? error.message : String(error));
}
