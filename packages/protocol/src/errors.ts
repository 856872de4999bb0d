/**
 * Every error @ambry/protocol throws is an AmbryError subclass, so callers can tell our typed failures
 * from bugs with one `instanceof`. The wire `ErrorCode` values are part of the protocol: they are
 * written into response headers and must never be renumbered (docs/formats.md, "Error codes").
 */

export class AmbryError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bytes in one of our documented formats could not be decoded: truncated, out of range, garbage. */
export class DecodeError extends AmbryError {}

/** A format or protocol version this build does not understand. */
export class UnsupportedVersionError extends DecodeError {
  constructor(
    readonly what: string,
    readonly version: number,
  ) {
    super(`unsupported ${what} version ${version}`);
  }
}

/** Stored or received bytes do not match their xxh64 checksum. */
export class ChecksumMismatchError extends DecodeError {
  constructor(
    readonly what: string,
    readonly expected: bigint,
    readonly actual: bigint,
  ) {
    super(
      `${what} checksum mismatch: expected ${expected.toString(16).padStart(16, '0')}, got ${actual
        .toString(16)
        .padStart(16, '0')}`,
    );
  }
}

/** A frame announced more bytes than the configured limit; the stream cannot be trusted past it. */
export class FrameTooLargeError extends DecodeError {
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(`frame of ${size} bytes exceeds the limit of ${limit} bytes`);
  }
}

/** A value is larger than a documented limit (user metadata, strings, chunk counts, ...). */
export class LimitExceededError extends AmbryError {
  constructor(
    readonly what: string,
    readonly size: number,
    readonly limit: number,
  ) {
    super(`${what} is ${size}, over the limit of ${limit}`);
  }
}

/** A value handed to an encoder breaks the format's rules (negative size, bad enum, ...). */
export class InvalidArgumentError extends AmbryError {}

// ---------------------------------------------------------------------------------------------------
// Transport and RPC errors: what a caller of the data-node client can see.

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export function formatEndpoint(endpoint: Endpoint): string {
  return endpoint.host.includes(':')
    ? `[${endpoint.host}]:${endpoint.port}`
    : `${endpoint.host}:${endpoint.port}`;
}

/** Base of everything that went wrong between us and a peer. */
export class TransportError extends AmbryError {
  constructor(
    message: string,
    readonly endpoint: Endpoint | undefined,
    options?: { cause?: unknown },
  ) {
    super(endpoint ? `${message} (${formatEndpoint(endpoint)})` : message, options);
  }
}

/** No connection could be made (refused, unreachable, connect timeout, still backing off). */
export class ConnectionRefusedError extends TransportError {}

/** The connection died while the request was in flight; the request may or may not have been applied. */
export class ConnectionClosedError extends TransportError {}

/** No response within the request timeout; the request may or may not have been applied. */
export class RequestTimeoutError extends TransportError {
  constructor(
    readonly timeoutMs: number,
    endpoint: Endpoint | undefined,
  ) {
    super(`no response within ${timeoutMs} ms`, endpoint);
  }
}

/** The local client refused the request because its bounded queues are full (backpressure). */
export class ClientBusyError extends TransportError {}

/** The peer broke the protocol (bad frame, undecodable header, unexpected correlation id). */
export class ProtocolError extends TransportError {}

/** The caller's AbortSignal fired before the request completed. */
export class RequestAbortedError extends AmbryError {
  constructor(options?: { cause?: unknown }) {
    super('request aborted by the caller', options);
  }
}

// ---------------------------------------------------------------------------------------------------
// Wire error codes. Numbers are stable forever; add new codes at the end. Mirrors `ErrorCode` in
// proto/ambry.proto (a test keeps the two in step). The first 22 follow Ambry's ServerErrorCode order.

export enum ErrorCode {
  OK = 0,
  IO_ERROR = 1,
  BLOB_NOT_FOUND = 2,
  BLOB_DELETED = 3,
  BLOB_EXPIRED = 4,
  BLOB_ALREADY_EXISTS = 5,
  DATA_CORRUPT = 6,
  PARTITION_UNKNOWN = 7,
  DISK_UNAVAILABLE = 8,
  PARTITION_READ_ONLY = 9,
  UNKNOWN_ERROR = 10,
  TEMPORARILY_DISABLED = 11,
  BAD_REQUEST = 12,
  RETRY_AFTER_BACKOFF = 13,
  BLOB_ALREADY_UPDATED = 14,
  BLOB_UPDATE_NOT_ALLOWED = 15,
  REPLICA_UNAVAILABLE = 16,
  BLOB_AUTHORIZATION_FAILURE = 17,
  BLOB_LIFE_VERSION_CONFLICT = 18,
  BLOB_NOT_DELETED = 19,
  BLOB_ALREADY_UNDELETED = 20,
  BLOB_DELETED_PERMANENTLY = 21,
  UNSUPPORTED_VERSION = 22,
  UNKNOWN_REQUEST_TYPE = 23,
  SERVER_BUSY = 24,
  RANGE_NOT_SATISFIABLE = 25,
  DISK_FULL = 26,
}

/** The data node answered with an error code. */
export class ServerError extends AmbryError {
  constructor(
    readonly code: ErrorCode,
    /** The explanation without the code name: what travels in the response's error message. */
    readonly detail: string,
    readonly endpoint?: Endpoint,
  ) {
    super(
      `${ErrorCode[code] ?? `error code ${code}`}${detail ? `: ${detail}` : ''}${
        endpoint ? ` (${formatEndpoint(endpoint)})` : ''
      }`,
    );
  }
}
