import {
  type BlobId,
  type DataNodeClient,
  type Endpoint,
  ErrorCode,
  GetPart,
  type GetResult,
  type Logger,
  type MessageInfo,
  NEVER_EXPIRES,
} from '@ambry/protocol';
import type { BlobStore, WriteResult } from '@ambry/store';
import { type FetchGate, mapLimited } from './limiter.js';
import type { ClassCounters } from './metrics.js';
import { type LocalState, type PlannedOp, planUpdates, putLifeVersion, type RemoteState } from './plan.js';
import type { Throttle } from './throttle.js';

/** The part of a BlobStore replication uses. */
export type ReplicaStore = Pick<
  BlobStore,
  | 'put'
  | 'getInfo'
  | 'delete'
  | 'updateTtl'
  | 'undelete'
  | 'findMissingKeys'
  | 'stats'
  | 'incarnationId'
  | 'appendLogChunk'
>;

export interface ApplyContext {
  readonly client: DataNodeClient;
  readonly peer: Endpoint;
  readonly store: ReplicaStore;
  readonly counters: ClassCounters;
  readonly throttle: Throttle;
  readonly fetchParallelism: number;
  /** Shared by the partitions a peer loop applies at once: fetch slots and bytes of fetched blobs. */
  readonly gate: FetchGate;
  readonly requestTimeoutMs: number;
  readonly clock: () => number;
  readonly signal: AbortSignal;
  readonly logger: Logger;
}

/** The local store refused a write for a reason that is not about one blob: the partition is skipped. */
export class LocalStoreProblem extends Error {
  constructor(
    readonly code: ErrorCode | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LocalStoreProblem';
  }
}

/** Outcome of one partition's entries: `complete` means every entry is applied and the token may move. */
export interface ApplyOutcome {
  readonly complete: boolean;
  /** Why not, when not. */
  readonly problem?: string;
}

// Store refusals that concern one blob, not the replica: the entry is counted and skipped.
const BLOB_LEVEL = new Set<ErrorCode>([
  ErrorCode.BLOB_ALREADY_EXISTS,
  ErrorCode.BAD_REQUEST,
  ErrorCode.BLOB_LIFE_VERSION_CONFLICT,
]);

/**
 * Applies one partition's metadata entries to the local store: fetches the blobs it lacks (GET with
 * deleted and expired included), writes them with the peer's life version and operation time, and
 * appends the DELETE / TTL_UPDATE / UNDELETE records that bring every blob to the peer's state.
 *
 * Durability: every write is awaited, and a BlobStore resolves a write only once it is fsynced (group
 * commit, the default policy). So when this resolves with `complete`, everything the entries describe is
 * durable here, and the caller may advance - and persist - the token (once the partition's earlier
 * answers are applied too). A failure leaves `complete` false and the token where it was: the same
 * entries come again and are applied idempotently. Fetches and reconciliations go through `ctx.gate`,
 * shared with the other partitions the peer loop applies at the same time.
 */
export async function applyEntries(ctx: ApplyContext, batch: readonly MessageInfo[]): Promise<ApplyOutcome> {
  if (batch.length === 0) return { complete: true };
  const { store, counters } = ctx;
  counters.entries += batch.length;
  // The journal returns one entry per record (PUT, DELETE, ...), each with the key's current state:
  // one per key is enough.
  const entries = [...new Map(batch.map((e) => [e.blobId.toString(), e])).values()];
  const missing = new Set(
    (await localCall(() => store.findMissingKeys(entries.map((e) => e.blobId)))).map((id) => id.toString()),
  );
  const now = ctx.clock();
  const toFetch: MessageInfo[] = [];
  const toReconcile: MessageInfo[] = [];
  for (const entry of entries) {
    if (!missing.has(entry.blobId.toString())) {
      // A blob here is at least at the peer's first state (a fresh PUT: life 0, never updated), so
      // there is nothing to compare: no store read for the common case of a blob every replica got.
      if (!isFreshPut(entry)) toReconcile.push(entry);
    } else if (entry.deleted) counters.skippedDeleted += 1;
    else if (isExpired(entry.expiresAtMs, now)) counters.skippedExpired += 1;
    else toFetch.push(entry);
  }

  let problem: string | undefined;
  const fail = (why: string) => {
    problem ??= why;
  };
  // The blob's bytes stay held from its GET until its write resolved (durable): that bounds memory.
  await mapLimited(toFetch, ctx.fetchParallelism, async (entry) => {
    if (ctx.signal.aborted) return fail('stopped');
    const release = await ctx.gate.acquire(entry.size);
    try {
      if (ctx.signal.aborted) return fail('stopped');
      await fetchAndWrite(ctx, entry);
    } catch (error) {
      if (error instanceof LocalStoreProblem) throw error;
      fail(`fetching ${entry.blobId}: ${String(error)}`);
    } finally {
      release();
    }
  });
  // Reconciling present blobs needs no peer round trip; a few at a time keeps the store's queue short.
  await mapLimited(toReconcile, ctx.fetchParallelism, async (entry) => {
    if (ctx.signal.aborted) return fail('stopped');
    const release = await ctx.gate.acquire(0);
    try {
      await reconcile(ctx, entry.blobId, remoteFromInfo(entry));
    } finally {
      release();
    }
  });
  return problem === undefined ? { complete: true } : { complete: false, problem };
}

async function fetchAndWrite(ctx: ApplyContext, entry: MessageInfo): Promise<void> {
  const { counters, store } = ctx;
  await ctx.throttle.take(entry.size, ctx.signal);
  let fetched: GetResult;
  try {
    fetched = await ctx.client.get(
      ctx.peer,
      { blobId: entry.blobId, part: GetPart.ALL, includeDeleted: true, includeExpired: true },
      { timeoutMs: ctx.requestTimeoutMs, signal: ctx.signal },
    );
  } catch (error) {
    const code = errorCode(error);
    // Gone since the metadata was read (compacted away) or unreadable there: another peer may have it.
    if (code === ErrorCode.BLOB_NOT_FOUND || code === ErrorCode.BLOB_DELETED_PERMANENTLY) {
      counters.skippedGone += 1;
      return;
    }
    if (code === ErrorCode.DATA_CORRUPT) {
      counters.blobErrors += 1;
      ctx.logger.warn(
        { blobId: entry.blobId.toString(), peer: ctx.peer },
        'peer holds a corrupt copy; skipped',
      );
      return;
    }
    throw error;
  }
  counters.blobsFetched += 1;
  counters.bytesFetched += fetched.blob.byteLength;
  if (fetched.properties === undefined) throw new Error('GET answered without blob properties');
  // The GET is newer than the metadata: a DELETE or TTL update that raced the copy is in its state.
  const remote: RemoteState = {
    deleted: fetched.state.deleted,
    ttlUpdated: fetched.state.ttlUpdated,
    lifeVersion: fetched.state.lifeVersion,
    expiresAtMs: fetched.state.expiresAtMs,
    operationTimeMs: fetched.state.operationTimeMs,
  };
  const lifeVersion = putLifeVersion(remote);
  const unchanged = remote.lifeVersion === 0 && !remote.deleted && !remote.ttlUpdated;
  let written: WriteResult;
  try {
    written = await localCall(() =>
      store.put({
        id: entry.blobId,
        // The peer's exact encodings when the GET carries them: unknown extensions survive the copy.
        properties: fetched.propertiesBytes ?? fetched.properties!,
        userMetadata: fetched.userMetadataBytes ?? fetched.userMetadata ?? {},
        blob: fetched.blob,
        blobChecksum: fetched.blobChecksum,
        lifeVersion,
        operationTimeMs: putOperationTime(remote, fetched.properties!.creationTimeMs, unchanged),
      }),
    );
  } catch (error) {
    if (!(error instanceof BlobProblem)) throw error;
    counters.blobErrors += 1;
    ctx.logger.warn({ err: error.cause, blobId: entry.blobId.toString() }, 'replicated PUT refused; skipped');
    return;
  }
  if (written.applied) {
    counters.putsWritten += 1;
    await applyOps(
      ctx,
      entry.blobId,
      planUpdates({ deleted: false, ttlUpdated: false, lifeVersion }, remote),
      remote,
    );
  } else {
    // Another peer's copy landed first: bring whatever is there to this peer's state.
    counters.putsAlreadyPresent += 1;
    await reconcile(ctx, entry.blobId, remote);
  }
}

async function reconcile(ctx: ApplyContext, id: BlobId, remote: RemoteState): Promise<void> {
  let local: LocalState;
  try {
    const info = await localCall(() => ctx.store.getInfo(id, { includeDeleted: true, includeExpired: true }));
    local = info.state;
  } catch (error) {
    if (!(error instanceof BlobProblem)) throw error;
    ctx.counters.blobErrors += 1;
    ctx.logger.warn({ err: error.cause, blobId: id.toString() }, 'local copy unreadable; not reconciled');
    return;
  }
  await applyOps(ctx, id, planUpdates(local, remote), remote);
}

async function applyOps(
  ctx: ApplyContext,
  id: BlobId,
  ops: readonly PlannedOp[],
  remote: RemoteState,
): Promise<void> {
  if (ops.length === 0) return;
  const options = (lifeVersion: number) => ({ lifeVersion, operationTimeMs: remote.operationTimeMs });
  // Submitted together, without yielding in between: they queue in order and normally commit in one
  // group-commit batch, so no reader sees an intermediate state (an UNDELETE before its DELETE).
  const pending = ops.map((op) =>
    localCall(() => {
      switch (op.kind) {
        case 'ttlUpdate':
          return ctx.store.updateTtl(id, op.expiresAtMs, options(op.lifeVersion));
        case 'delete':
          return ctx.store.delete(id, options(op.lifeVersion));
        case 'undelete':
          return ctx.store.undelete(id, options(op.lifeVersion));
      }
    }),
  );
  const results = await Promise.allSettled(pending);
  for (const result of results) {
    if (result.status === 'fulfilled') {
      if (result.value.applied) ctx.counters.updatesApplied += 1;
      else ctx.counters.updatesIgnored += 1;
    } else if (result.reason instanceof BlobProblem) {
      ctx.counters.blobErrors += 1;
      ctx.logger.warn({ err: result.reason.cause, blobId: id.toString() }, 'replicated update refused');
    } else {
      throw result.reason;
    }
  }
}

/** A store refusal about one blob (skipped and counted), as opposed to a LocalStoreProblem. */
class BlobProblem extends Error {}

/** Runs a local store call, sorting its failure into a blob-level problem or a replica-level one. */
async function localCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const code = errorCode(error);
    if (code !== undefined && BLOB_LEVEL.has(code)) throw new BlobProblem(String(error), { cause: error });
    throw new LocalStoreProblem(code, `local store: ${String(error)}`, { cause: error });
  }
}

function remoteFromInfo(entry: MessageInfo): RemoteState {
  return {
    deleted: entry.deleted,
    ttlUpdated: entry.ttlUpdated,
    lifeVersion: entry.lifeVersion,
    expiresAtMs: entry.expiresAtMs,
    operationTimeMs: entry.operationTimeMs,
  };
}

/**
 * The wire carries the blob's latest operation time, not its PUT's: that is exact for a blob never
 * updated; otherwise the PUT happened no later than its creation time or the latest update.
 */
function putOperationTime(remote: RemoteState, creationTimeMs: number, unchanged: boolean): number {
  if (unchanged) return remote.operationTimeMs;
  return Math.min(creationTimeMs, remote.operationTimeMs);
}

/** The state of a blob right after its PUT: `planUpdates` from any local state yields nothing. */
export function isFreshPut(state: RemoteState): boolean {
  return state.lifeVersion === 0 && !state.deleted && !state.ttlUpdated;
}

function isExpired(expiresAtMs: number, nowMs: number): boolean {
  return expiresAtMs !== NEVER_EXPIRES && expiresAtMs <= nowMs;
}

export function errorCode(error: unknown): ErrorCode | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    if (typeof code === 'number') return code as ErrorCode;
  }
  return undefined;
}
