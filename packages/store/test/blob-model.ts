/**
 * The model of the store's model-based test: the life-cycle rules stated plainly over a Map, and the
 * operations the test draws. `decide` says what the store must answer to each operation.
 */
import type { BlobId, BlobProperties, UserMetadata } from '@ambry/protocol';
import { ErrorCode } from '@ambry/protocol';
import type { WriteResult } from '../src/index.js';

/** A replicated operation's life version relative to the stored one (null: a local operation). */
export type Rel = number | null;
export type Change = 'none' | 'bytes' | 'props' | 'meta';
export type Op =
  | { t: 'put'; k: number; fresh: boolean; size: number; ttl: number; ageS: number; change: Change; lv: Rel }
  | { t: 'get'; k: number; del: boolean; exp: boolean; range: { o: number; l: number } | null }
  | { t: 'info'; k: number; del: boolean; exp: boolean }
  | { t: 'delete'; k: number; lv: Rel }
  | { t: 'undelete'; k: number; lv: Rel }
  | { t: 'ttl'; k: number; inS: number; lv: Rel }
  | { t: 'advance'; ms: number }
  | { t: 'check' }
  | { t: 'reopen' }
  | { t: 'crash' };
export type KeyedOp = Extract<Op, { k: number }>;

export interface Entry {
  readonly id: BlobId;
  readonly bytes: Buffer;
  readonly properties: BlobProperties;
  readonly meta: UserMetadata;
  deleted: boolean;
  ttlUpdated: boolean;
  undeleted: boolean;
  lifeVersion: number;
  expiresAtMs: number;
  operationTimeMs: number;
}

export type Outcome<T> = { readonly ok: T } | { readonly code: ErrorCode };
export type Expected = Outcome<WriteResult>;

export async function outcome<T>(promise: Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: await promise };
  } catch (error) {
    // Only deliberate store errors carry a numeric code; anything else is a bug the test must surface.
    const code = (error as { code?: unknown }).code;
    if (typeof code !== 'number') throw error;
    return { code };
  }
}

/** An entry for a failure message (without its bytes). */
export function show(e: Entry | undefined): string {
  if (e === undefined) return 'ghost';
  const { id, bytes, properties, meta, ...state } = e;
  return `${id} (${bytes.length} bytes, ttl ${properties.ttlSeconds}) ${JSON.stringify(state)}`;
}

/** The life-cycle fields a read (minus `undeleted`) and a replication entry report. */
export function lifeOf(
  x: Pick<Entry, 'deleted' | 'ttlUpdated' | 'undeleted' | 'lifeVersion' | 'expiresAtMs' | 'operationTimeMs'>,
) {
  const { deleted, ttlUpdated, undeleted, lifeVersion, expiresAtMs, operationTimeMs } = x;
  return { deleted, ttlUpdated, undeleted, lifeVersion, expiresAtMs, operationTimeMs };
}

export const isExpired = (e: Entry, now: number) => e.expiresAtMs !== -1 && e.expiresAtMs <= now;
export const fail = (code: ErrorCode): Expected => ({ code });
export const ignored = (e: Entry): Expected => ({ ok: { lifeVersion: e.lifeVersion, applied: false } });

/**
 * The life-cycle rules as a user reads them. A replicated operation (life version given) older than the
 * stored life is ignored; one at the same life is ignored when it would change nothing; a newer one wins.
 * Local operations act on the current life and report conflicts as errors.
 */
export function decide(
  e: Entry,
  op: Extract<Op, { lv: Rel }>,
  lv: number | undefined,
  now: number,
  bufferMs: number,
) {
  let next: Partial<Entry> | undefined;
  let expected: Expected;
  const replicated = lv !== undefined;
  const life = lv ?? e.lifeVersion;
  const apply = (fields: Partial<Entry>): Expected => {
    next = { ...fields, lifeVersion: fields.lifeVersion ?? life, operationTimeMs: now };
    return { ok: { lifeVersion: next.lifeVersion!, applied: true } };
  };
  if (replicated && life < e.lifeVersion) expected = ignored(e);
  else if (op.t === 'delete') {
    if (e.deleted && life === e.lifeVersion)
      expected = replicated ? ignored(e) : fail(ErrorCode.BLOB_DELETED);
    else expected = apply({ deleted: true, undeleted: false });
  } else if (op.t === 'ttl') {
    const expiresAtMs = op.inS === -1 ? -1 : now + op.inS * 1000;
    if (replicated) {
      // A deleted blob ignores a replicated TTL update from any life: taking one from a newer life would
      // raise its life version and make that life's UNDELETE look already applied.
      expected =
        e.deleted || (life === e.lifeVersion && e.ttlUpdated)
          ? ignored(e)
          : apply({ ttlUpdated: true, expiresAtMs });
    } else if (e.deleted) expected = fail(ErrorCode.BLOB_DELETED);
    else if (e.ttlUpdated) expected = fail(ErrorCode.BLOB_ALREADY_UPDATED);
    else if (isExpired(e, now)) expected = fail(ErrorCode.BLOB_EXPIRED);
    else if (e.expiresAtMs !== -1 && e.expiresAtMs - now < bufferMs)
      expected = fail(ErrorCode.BLOB_UPDATE_NOT_ALLOWED);
    else expected = apply({ ttlUpdated: true, expiresAtMs });
  } else if (replicated) {
    expected = life <= e.lifeVersion ? ignored(e) : apply({ deleted: false, undeleted: true });
  } else if (!e.deleted) {
    expected = fail(e.undeleted ? ErrorCode.BLOB_ALREADY_UNDELETED : ErrorCode.BLOB_NOT_DELETED);
  } else if (isExpired(e, now)) expected = fail(ErrorCode.BLOB_EXPIRED);
  else expected = apply({ deleted: false, undeleted: true, lifeVersion: e.lifeVersion + 1 });
  return { expected, next };
}
