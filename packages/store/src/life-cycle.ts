import {
  BlobAlreadyUndeletedError,
  BlobAlreadyUpdatedError,
  BlobDeletedError,
  BlobExpiredError,
  BlobNotDeletedError,
  BlobNotFoundError,
  BlobUpdateNotAllowedError,
  InvalidStoreArgumentError,
} from './errors.js';
import {
  FLAG_DELETED,
  FLAG_TTL_UPDATED,
  FLAG_UNDELETED,
  type IndexValue,
  isDeleted,
  isExpired,
  NEVER_EXPIRES,
} from './index-value.js';
import { type RecordHeader, RecordType } from './record.js';

/**
 * The life-cycle rules of a blob: which DELETE / TTL_UPDATE / UNDELETE is accepted, ignored or refused,
 * and what state a record leaves behind. `decide` runs before a record is written (live requests);
 * `applyRecord` replays a written record (live writes and recovery alike), so both agree by construction.
 *
 * Operations from replication carry the source's life version: one older than the stored one is ignored
 * (the replica already moved past it). Local operations carry none and act on the current life.
 */

export const MAX_LIFE_VERSION = 0xffff;

export type UpdateType = RecordType.DELETE | RecordType.TTL_UPDATE | RecordType.UNDELETE;

export interface UpdateRequest {
  readonly type: UpdateType;
  readonly keyText: string;
  readonly operationTimeMs: number;
  /** TTL_UPDATE only: the new expiry (epoch ms or -1). */
  readonly expiresAtMs?: number;
  /** Set by replication; absent for a local request. */
  readonly lifeVersion?: number;
}

export type Decision =
  | { readonly kind: 'append'; readonly lifeVersion: number; readonly expiresAtMs: number }
  | { readonly kind: 'ignore'; readonly lifeVersion: number };

export interface DecideContext {
  readonly nowMs: number;
  /** A local TTL update is refused when the blob expires sooner than this (Ambry: 1 day). */
  readonly ttlUpdateBufferMs: number;
}

export function decideUpdate(
  current: IndexValue | undefined,
  request: UpdateRequest,
  ctx: DecideContext,
): Decision {
  if (current === undefined) throw new BlobNotFoundError(request.keyText);
  const replicated = request.lifeVersion !== undefined;
  const incoming = request.lifeVersion ?? current.lifeVersion;
  const ignore: Decision = { kind: 'ignore', lifeVersion: current.lifeVersion };
  if (replicated && incoming < current.lifeVersion) return ignore;
  const deleted = isDeleted(current);

  switch (request.type) {
    case RecordType.DELETE:
      if (deleted && incoming === current.lifeVersion) {
        if (replicated) return ignore;
        throw new BlobDeletedError(request.keyText);
      }
      return { kind: 'append', lifeVersion: incoming, expiresAtMs: current.expiresAtMs };

    case RecordType.TTL_UPDATE: {
      const expiresAtMs = request.expiresAtMs ?? NEVER_EXPIRES;
      if (replicated) {
        // A deleted blob takes no TTL update at any life version: applying one from a newer life would
        // raise the stored life version and make the UNDELETE of that same life look already applied.
        if (deleted || (incoming === current.lifeVersion && (current.flags & FLAG_TTL_UPDATED) !== 0)) {
          return ignore;
        }
        return { kind: 'append', lifeVersion: incoming, expiresAtMs };
      }
      if (deleted) throw new BlobDeletedError(request.keyText);
      if ((current.flags & FLAG_TTL_UPDATED) !== 0) throw new BlobAlreadyUpdatedError(request.keyText);
      if (isExpired(current, ctx.nowMs)) throw new BlobExpiredError(request.keyText);
      if (current.expiresAtMs !== NEVER_EXPIRES && current.expiresAtMs - ctx.nowMs < ctx.ttlUpdateBufferMs) {
        throw new BlobUpdateNotAllowedError(request.keyText, 'it expires within the update buffer time');
      }
      return { kind: 'append', lifeVersion: current.lifeVersion, expiresAtMs };
    }

    case RecordType.UNDELETE: {
      if (replicated) {
        if (incoming <= current.lifeVersion) return ignore;
        return { kind: 'append', lifeVersion: incoming, expiresAtMs: current.expiresAtMs };
      }
      if (!deleted) {
        if ((current.flags & FLAG_UNDELETED) !== 0) throw new BlobAlreadyUndeletedError(request.keyText);
        throw new BlobNotDeletedError(request.keyText);
      }
      if (isExpired(current, ctx.nowMs)) throw new BlobExpiredError(request.keyText);
      if (current.lifeVersion >= MAX_LIFE_VERSION) {
        throw new InvalidStoreArgumentError(`blob ${request.keyText} reached the maximum life version`);
      }
      return { kind: 'append', lifeVersion: current.lifeVersion + 1, expiresAtMs: current.expiresAtMs };
    }
  }
}

/**
 * The state after a record at `position` of `length` bytes. Returns undefined for an update whose PUT is
 * unknown (it cannot happen through `decideUpdate`; recovery skips such a record).
 */
export type AppliedFields = Pick<
  RecordHeader,
  'type' | 'lifeVersion' | 'accountId' | 'containerId' | 'operationTimeMs' | 'expiresAtMs'
>;

export function applyRecord(
  current: IndexValue | undefined,
  header: AppliedFields,
  position: number,
  length: number,
): IndexValue | undefined {
  if (header.type === RecordType.PUT) {
    return {
      flags: 0,
      lifeVersion: header.lifeVersion,
      accountId: header.accountId,
      containerId: header.containerId,
      putPosition: position,
      putSize: length,
      lastPosition: position,
      expiresAtMs: header.expiresAtMs,
      operationTimeMs: header.operationTimeMs,
    };
  }
  if (current === undefined) return undefined;
  const base = {
    ...current,
    lifeVersion: header.lifeVersion,
    lastPosition: position,
    operationTimeMs: header.operationTimeMs,
  };
  switch (header.type) {
    case RecordType.DELETE:
      return { ...base, flags: (current.flags | FLAG_DELETED) & ~FLAG_UNDELETED };
    case RecordType.TTL_UPDATE:
      return { ...base, flags: current.flags | FLAG_TTL_UPDATED, expiresAtMs: header.expiresAtMs };
    case RecordType.UNDELETE:
      return { ...base, flags: (current.flags & ~FLAG_DELETED) | FLAG_UNDELETED };
  }
}
