import { AmbryError, ErrorCode } from '@ambry/protocol';

/**
 * Every failure the store reports on purpose is a StoreError carrying the wire ErrorCode the data node
 * answers with, so the datanode maps errors with one property read instead of a chain of instanceof.
 */
export class StoreError extends AmbryError {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class BlobNotFoundError extends StoreError {
  constructor(key: string) {
    super(ErrorCode.BLOB_NOT_FOUND, `blob ${key} not found`);
  }
}

export class BlobDeletedError extends StoreError {
  constructor(key: string) {
    super(ErrorCode.BLOB_DELETED, `blob ${key} is deleted`);
  }
}

export class BlobExpiredError extends StoreError {
  constructor(key: string) {
    super(ErrorCode.BLOB_EXPIRED, `blob ${key} has expired`);
  }
}

/** A PUT for a key that already holds a different blob (a retried identical PUT succeeds instead). */
export class BlobAlreadyExistsError extends StoreError {
  constructor(key: string) {
    super(ErrorCode.BLOB_ALREADY_EXISTS, `blob ${key} already exists with different content`);
  }
}

export class BlobAlreadyUpdatedError extends StoreError {
  constructor(key: string) {
    super(ErrorCode.BLOB_ALREADY_UPDATED, `blob ${key} already has its TTL updated`);
  }
}

export class BlobUpdateNotAllowedError extends StoreError {
  constructor(key: string, why: string) {
    super(ErrorCode.BLOB_UPDATE_NOT_ALLOWED, `TTL update of blob ${key} not allowed: ${why}`);
  }
}

export class BlobNotDeletedError extends StoreError {
  constructor(key: string) {
    super(ErrorCode.BLOB_NOT_DELETED, `blob ${key} is not deleted, so it cannot be undeleted`);
  }
}

export class BlobAlreadyUndeletedError extends StoreError {
  constructor(key: string) {
    super(ErrorCode.BLOB_ALREADY_UNDELETED, `blob ${key} is already undeleted`);
  }
}

/** The replica is sealed (past its fullness threshold, or after a full disk): PUTs are refused. */
export class StoreReadOnlyError extends StoreError {
  constructor(why: string) {
    super(ErrorCode.PARTITION_READ_ONLY, `store is read-only: ${why}`);
  }
}

/** The log has no room left for this record (capacity reached or ENOSPC from the file system). */
export class DiskFullError extends StoreError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super(ErrorCode.DISK_FULL, `no space for the write: ${detail}`, options);
  }
}

/** An I/O call failed; the operation did not happen (writes are cut back) or, for reads, can be retried elsewhere. */
export class StoreIoError extends StoreError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super(ErrorCode.IO_ERROR, `I/O error: ${detail}`, options);
  }
}

/**
 * The store stopped serving after an I/O failure it cannot reason past (a failed fsync, a write it could
 * not cut back) or because it was closed. Reopening it runs recovery.
 */
export class StoreUnavailableError extends StoreError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super(ErrorCode.REPLICA_UNAVAILABLE, `store unavailable: ${detail}`, options);
  }
}

/** Bytes on disk failed their checksum or layout checks; they are never served. */
export class DataCorruptError extends StoreError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super(ErrorCode.DATA_CORRUPT, `corrupt data: ${detail}`, options);
  }
}

/** A caller-supplied argument is wrong: a malformed token, a size that does not match the bytes, ... */
export class InvalidStoreArgumentError extends StoreError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super(ErrorCode.BAD_REQUEST, detail, options);
  }
}

export class RangeNotSatisfiableError extends StoreError {
  constructor(offset: number, length: number, blobSize: number) {
    super(
      ErrorCode.RANGE_NOT_SATISFIABLE,
      `range offset ${offset} length ${length} is outside a blob of ${blobSize} bytes`,
    );
  }
}

/** More writes are waiting than the configured byte bound allows; the caller should back off and retry. */
export class StoreBusyError extends StoreError {
  constructor(queuedBytes: number, limit: number) {
    super(ErrorCode.SERVER_BUSY, `store write queue holds ${queuedBytes} bytes, over the limit of ${limit}`);
  }
}

/** A read the caller has no room for right now (its memory budget said no); back off and retry. */
export class ReadBudgetExceededError extends StoreError {
  constructor(bytes: number) {
    super(ErrorCode.SERVER_BUSY, `no room for a ${bytes}-byte read right now`);
  }
}

/**
 * A failure from below (the file system, a decoder) as a StoreError: typed errors pass through, anything
 * else becomes an IO_ERROR naming what was being done, with the original as its cause.
 */
export function asStoreError(error: unknown, doing: string): StoreError {
  if (error instanceof StoreError) return error;
  const code =
    typeof error === 'object' && error !== null && 'code' in error
      ? String((error as { code: unknown }).code)
      : undefined;
  return new StoreIoError(`${doing} failed${code === undefined ? '' : ` (${code})`}: ${String(error)}`, {
    cause: error,
  });
}
