/**
 * The I/O loop shared by every operation: sends requests to the replicas an OperationTracker hands
 * out, reports each outcome back to it and to the failure detector, and stops when the tracker is
 * done, a replica gives a final answer, or the caller aborts.
 */
import type { ClusterMap, Replica } from '@ambry/clustermap';
import { type BlobId, type DataNodeClient, type Endpoint, ServerError } from '@ambry/protocol';
import type { RouterConfig } from './config.js';
import {
  classifyReplicaError,
  RouterError,
  RouterErrorCode,
  type RouterOperation,
  toRouterError,
} from './errors.js';
import type { FailureDetector } from './failure-detector.js';
import { type HedgePolicy, HedgeTimer, type Timers } from './hedge-timer.js';
import type { LatencyTrackers } from './latency-tracker.js';
import type { OperationTracker, ReplicaOutcome } from './operation-tracker.js';
import { orderReplicas } from './replica-order.js';

/** What one router operation needs from the router that runs it. */
export interface RouterContext {
  readonly clusterMap: ClusterMap;
  readonly config: RouterConfig;
  readonly client: DataNodeClient;
  readonly detector: FailureDetector;
  readonly clock: () => number;
  readonly random: () => number;
  /** GET latencies per datacenter: the hedge delay. */
  readonly latency: LatencyTrackers;
  readonly timers: Timers;
}

/** A replica's failed request, judged: an outcome for the tracker, or an answer that ends the operation. */
export type Judgement = ReplicaOutcome | { readonly final: RouterError };

export interface ReplicaRequestsOptions<T> {
  readonly context: RouterContext;
  readonly tracker: OperationTracker;
  readonly operation: RouterOperation;
  /** The operation's signal (caller abort and router close). */
  readonly signal: AbortSignal;
  readonly send: (endpoint: Endpoint, replica: Replica, signal: AbortSignal) => Promise<T>;
  readonly judge: (error: unknown) => Judgement;
  /**
   * Abort requests still outstanding when the operation is decided. Reads do; writes do not, since a
   * straggling put or delete that lands still makes the replica more complete.
   */
  readonly cancelStragglers: boolean;
  /**
   * After a success, wait up to this long for the requests still outstanding before returning. Updates
   * do: a caller that deletes and then reads must not be served by a replica whose delete is still on
   * its way. Failed or late stragglers do not change the result.
   */
  readonly stragglerGraceMs?: number;
  /**
   * Ask one more replica (`tracker.hedge()`) whenever the newest request has gone unanswered for the
   * policy's delay. Without it only the tracker's parallelism is used.
   */
  readonly hedge?: HedgePolicy;
}

export interface ReplicaRequestsResult<T> {
  /** 'final' when a replica's answer ended the operation (see `final`). */
  readonly status: ReplicaOutcome | 'final';
  readonly final?: RouterError;
  readonly values: ReadonlyArray<{ readonly replica: Replica; readonly value: T }>;
  readonly errors: ReadonlyArray<{ readonly replica: Replica; readonly error: unknown }>;
}

type Settled<T> =
  | { readonly replica: Replica; readonly ok: true; readonly value: T }
  | { readonly replica: Replica; readonly ok: false; readonly error: unknown };

export function endpointOf(replica: Replica): Endpoint {
  return { host: replica.node.host, port: replica.node.port };
}

/** Throws the RouterError an aborted operation signal stands for (its reason, set by the router). */
export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortError(signal);
}

export function abortError(signal: AbortSignal): RouterError {
  const reason: unknown = signal.reason;
  return reason instanceof RouterError
    ? reason
    : new RouterError(RouterErrorCode.ABORTED, 'operation aborted');
}

/**
 * Replicas worth sending to first: the map does not exclude them and the failure detector has them up,
 * or grants this operation the single probe of a path that is probing (so a recovered node gets traffic
 * again without every caller piling onto it).
 */
export function usableReplica(
  context: RouterContext,
  allowedByMap: (replica: Replica) => boolean,
): (replica: Replica) => boolean {
  return (replica) => {
    if (!allowedByMap(replica)) return false;
    const { key } = replica.node;
    const disk = replica.disk.mountPath;
    return context.detector.isUsable(key, disk) || context.detector.tryAcquireProbe(key, disk);
  };
}

/** Every outcome, stragglers included, tells the failure detector something about the replica's path. */
function recordHealth(context: RouterContext, settled: Settled<unknown>, operation: RouterOperation): void {
  const { detector } = context;
  const node = settled.replica.node.key;
  const disk = settled.replica.disk.mountPath;
  if (settled.ok) {
    detector.recordSuccess(node, disk);
    return;
  }
  switch (classifyReplicaError(settled.error, operation)) {
    case 'node':
      detector.recordFailure('node', node);
      return;
    case 'disk':
      detector.recordSuccess(node);
      detector.recordFailure('disk', node, disk);
      return;
    case 'replica':
      detector.recordSuccess(node);
      return;
    case 'none':
      // Only a real answer proves health; our own abort or a full client queue proves nothing.
      if (settled.error instanceof ServerError) detector.recordSuccess(node, disk);
      return;
  }
}

/**
 * The reason stragglers are cancelled with. One shared value: `abort()` without a reason builds a
 * DOMException, stack trace included, on every operation.
 */
const DECIDED = Object.freeze({ reason: 'the operation was decided' });

export async function runReplicaRequests<T>(
  options: ReplicaRequestsOptions<T>,
): Promise<ReplicaRequestsResult<T>> {
  const { context, tracker, operation, judge } = options;
  // With cancelStragglers the requests listen to `decided`, which the operation's signal aborts too.
  // (Forwarded by hand: AbortSignal.any costs more than the rest of a small GET's bookkeeping.)
  const decided = options.cancelStragglers ? new AbortController() : undefined;
  const forward = () => decided?.abort(options.signal.reason);
  if (decided !== undefined) {
    if (options.signal.aborted) forward();
    else options.signal.addEventListener('abort', forward, { once: true });
  }
  const requestSignal = decided?.signal ?? options.signal;
  const queue: Settled<T>[] = [];
  let wake: (() => void) | undefined;
  let inFlight = 0;
  let newest: Replica | undefined;
  const hedge = options.hedge;
  const timer = new HedgeTimer(context.timers, () => wake?.());
  const values: Array<{ replica: Replica; value: T }> = [];
  const errors: Array<{ replica: Replica; error: unknown }> = [];

  const launch = (replica: Replica): void => {
    inFlight += 1;
    newest = replica;
    timer.cancel();
    let request: Promise<T>;
    try {
      request = options.send(endpointOf(replica), replica, requestSignal);
    } catch (error) {
      request = Promise.reject(error);
    }
    void request
      .then(
        (value): Settled<T> => ({ replica, ok: true, value }),
        (error: unknown): Settled<T> => ({ replica, ok: false, error }),
      )
      .then((settled) => {
        recordHealth(context, settled, operation);
        queue.push(settled);
        wake?.();
      });
  };

  try {
    // Bounded: each pass consumes at least one response or one fired hedge deadline; each replica is
    // sent to at most once, and a refused hedge disarms the timer until a response arrives.
    for (;;) {
      throwIfAborted(options.signal);
      for (const replica of tracker.nextReplicas()) launch(replica);
      if (timer.takeDue()) {
        const extra = tracker.hedge();
        if (extra === undefined) timer.block();
        else launch(extra);
      }
      if (tracker.isDone || inFlight === 0) break;
      if (hedge !== undefined && newest !== undefined && tracker.counts.pending > 0) {
        timer.ensureArmed(hedge.delayMs(newest));
      }
      await nextEvent(
        options.signal,
        () => queue.length > 0 || timer.due,
        (resume) => {
          wake = resume;
        },
      );
      throwIfAborted(options.signal);
      for (let settled = queue.shift(); settled !== undefined; settled = queue.shift()) {
        inFlight -= 1;
        timer.unblock();
        if (settled.ok) {
          values.push({ replica: settled.replica, value: settled.value });
          tracker.onResponse(settled.replica, 'success');
          continue;
        }
        errors.push({ replica: settled.replica, error: settled.error });
        const judgement = judge(settled.error);
        if (typeof judgement === 'object') return { status: 'final', final: judgement.final, values, errors };
        tracker.onResponse(settled.replica, judgement);
      }
    }
    const grace = options.stragglerGraceMs ?? 0;
    if (grace > 0 && inFlight > 0 && tracker.result?.status === 'success') {
      let expired = false;
      const deadline = setTimeout(() => {
        expired = true;
        wake?.();
      }, grace);
      try {
        while (inFlight > 0 && !expired) {
          await nextEvent(
            options.signal,
            () => queue.length > 0 || expired,
            (resume) => {
              wake = resume;
            },
          );
          throwIfAborted(options.signal);
          for (let settled = queue.shift(); settled !== undefined; settled = queue.shift()) {
            inFlight -= 1;
            if (settled.ok) values.push({ replica: settled.replica, value: settled.value });
            else errors.push({ replica: settled.replica, error: settled.error });
          }
        }
      } finally {
        clearTimeout(deadline);
      }
    }
  } finally {
    wake = undefined;
    timer.cancel();
    if (decided !== undefined) {
      options.signal.removeEventListener('abort', forward);
      decided.abort(DECIDED);
    }
  }
  const status = tracker.result?.status ?? 'failure';
  return { status, values, errors };
}

function nextEvent(
  signal: AbortSignal,
  ready: () => boolean,
  setWake: (resume: () => void) => void,
): Promise<void> {
  if (ready() || signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const resume = () => {
      signal.removeEventListener('abort', resume);
      resolve();
    };
    signal.addEventListener('abort', resume, { once: true });
    setWake(resume);
  });
}

/** Router codes that merely say "this replica could not"; anything else a replica answers is definite. */
const INDEFINITE: ReadonlySet<RouterErrorCode> = new Set([
  RouterErrorCode.UNAVAILABLE,
  RouterErrorCode.INTERNAL,
  RouterErrorCode.BLOB_NOT_FOUND,
  RouterErrorCode.TIMEOUT,
]);

/**
 * What an undecided or failed operation reports. A definite answer from some replica (a TTL update of a
 * deleted blob: BLOB_DELETED) beats UNAVAILABLE, which is left for when replicas just could not answer.
 */
export function operationError(result: ReplicaRequestsResult<unknown>, what: string): RouterError {
  if (result.final !== undefined) return result.final;
  if (result.status === 'not-found')
    return new RouterError(RouterErrorCode.BLOB_NOT_FOUND, `${what}: blob not found`);
  for (const { error } of result.errors) {
    if (!(error instanceof ServerError)) continue;
    const routerError = toRouterError(error);
    if (!INDEFINITE.has(routerError.code)) return routerError;
  }
  const last = result.errors.at(-1)?.error;
  return new RouterError(
    RouterErrorCode.UNAVAILABLE,
    `${what}: quorum not reached (${result.values.length} succeeded, ${result.errors.length} failed)`,
    last === undefined ? undefined : { cause: last },
  );
}

/**
 * The replicas of a blob's partition in the order to ask them: local, then the datacenter that took the
 * PUT, then (when `crossDatacenter`) the rest, down ones last. An id naming an unknown partition is a bad id.
 */
export function replicasOfBlob(context: RouterContext, id: BlobId, crossDatacenter: boolean): Replica[] {
  const { clusterMap } = context;
  if (clusterMap.partition(id.partitionId) === undefined) {
    throw new RouterError(
      RouterErrorCode.INVALID_BLOB_ID,
      `blob id names unknown partition ${id.partitionId}`,
    );
  }
  return orderReplicas(clusterMap.replicas(id.partitionId), {
    localDatacenter: clusterMap.localDatacenter.name,
    originatingDatacenterId: id.datacenterId,
    crossDatacenter,
    random: context.random,
    usable: usableReplica(context, (r) => clusterMap.isReplicaReadable(r)),
  });
}
