/**
 * What a replica must append so a blob's state matches the peer's (ambry.md 3.2). States are compared
 * by life version: an older remote state changes nothing; at the same life version a missing TTL update
 * and a missing DELETE are added (a DELETE is final for its life); a newer life is reached with an
 * UNDELETE or a DELETE carrying the remote life version, plus the TTL update the new life has.
 *
 * Every record carries the remote life version and the remote operation time, so the final state is the
 * peer's, field for field, whatever order peers' updates arrive in: the store ignores a replicated
 * record older than what it holds.
 */

export interface LocalState {
  readonly deleted: boolean;
  readonly ttlUpdated: boolean;
  readonly lifeVersion: number;
}

export interface RemoteState extends LocalState {
  /** Epoch ms or -1 (never). */
  readonly expiresAtMs: number;
  readonly operationTimeMs: number;
}

export type PlannedOp =
  | { readonly kind: 'ttlUpdate'; readonly lifeVersion: number; readonly expiresAtMs: number }
  | { readonly kind: 'delete'; readonly lifeVersion: number }
  | { readonly kind: 'undelete'; readonly lifeVersion: number };

export function planUpdates(local: LocalState, remote: RemoteState): PlannedOp[] {
  const lifeVersion = remote.lifeVersion;
  const ttl: PlannedOp = { kind: 'ttlUpdate', lifeVersion, expiresAtMs: remote.expiresAtMs };
  const needsTtl = remote.ttlUpdated && !local.ttlUpdated;
  if (lifeVersion < local.lifeVersion) return [];
  if (lifeVersion === local.lifeVersion) {
    const ops: PlannedOp[] = [];
    // A deleted blob takes no TTL update (the store ignores it): the flag can differ on a blob that is
    // deleted here and was TTL-updated there before its delete. It is carried over if it is undeleted.
    if (needsTtl && !local.deleted) ops.push(ttl);
    if (remote.deleted && !local.deleted) ops.push({ kind: 'delete', lifeVersion });
    return ops;
  }
  if (remote.deleted) {
    // The TTL update must land while the blob is live: when it is deleted here, the UNDELETE, TTL update
    // and DELETE are submitted together and commit in one group-commit batch (readers see the result).
    if (!needsTtl) return [{ kind: 'delete', lifeVersion }];
    const revive: PlannedOp[] = local.deleted ? [{ kind: 'undelete', lifeVersion }] : [];
    return [...revive, ttl, { kind: 'delete', lifeVersion }];
  }
  return needsTtl ? [{ kind: 'undelete', lifeVersion }, ttl] : [{ kind: 'undelete', lifeVersion }];
}

/**
 * The life version to write a fetched PUT with, so that `planUpdates` from a fresh PUT reaches the remote
 * state exactly: a live blob past life 0 was undeleted, so its PUT goes in one life earlier and the
 * UNDELETE that follows sets the undeleted flag as the peer has it.
 */
export function putLifeVersion(remote: RemoteState): number {
  if (!remote.deleted && remote.lifeVersion > 0) return remote.lifeVersion - 1;
  return remote.lifeVersion;
}
