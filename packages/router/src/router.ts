/**
 * The router: put / get / delete / TTL update / undelete of blobs over the data nodes of a cluster map,
 * with quorums per operation and a failure detector fed by every replica answer. Blobs over `chunkBytes`
 * are chunked (chunked-put.ts, chunked-get.ts); updates of composite blobs reach their data chunks
 * (composite-update.ts). A not-found answer is remembered for a while (not-found-cache.ts).
 */
import type { ClusterMap } from '@ambry/clustermap';
import { BlobId, DataNodeClient, NEVER_EXPIRES, type Transport } from '@ambry/protocol';
import { type BackgroundStats, BackgroundWork } from './background-work.js';
import type { ChangeCapture } from './change-capture.js';
import { getBlob } from './chunked-get.js';
import { putBlob } from './chunked-put.js';
import { updateAnyBlob } from './composite-update.js';
import { type RouterConfig, type RouterConfigInput, resolveRouterConfig } from './config.js';
import { RouterError, RouterErrorCode, toRouterError } from './errors.js';
import { FailureDetector } from './failure-detector.js';
import type { GetBlobResult, GetOptions } from './get-operation.js';
import { checkHealth, type RouterHealth } from './health.js';
import { realTimers, type Timers } from './hedge-timer.js';
import { LatencyTrackers, latencyTrackerOptions } from './latency-tracker.js';
import { allowAnyListeners } from './listeners.js';
import { NotFoundCache } from './not-found-cache.js';
import type { PutInput } from './put-operation.js';
import type { RouterContext } from './replica-requests.js';
import type { UpdateOperation } from './update-operation.js';

export type { GetBlobResult, GetOptions } from './get-operation.js';

export interface RouterOptions {
  readonly clusterMap: ClusterMap;
  readonly config?: RouterConfigInput;
  /** Used as given and not closed by the router. Default: one built on `transport`. */
  readonly client?: DataNodeClient;
  /** For the client the router builds when none is given; default TCP. */
  readonly transport?: Transport;
  /** Milliseconds since the epoch; injected so tests control backoffs and operation times. */
  readonly clock?: () => number;
  /** In [0, 1): partition choice and replica shuffles. */
  readonly random?: () => number;
  /** The GET hedge timer; injected so tests fire hedges when they choose. Default: setTimeout. */
  readonly timers?: Timers;
  /** Told of every successful put, delete, TTL update and undelete (after the quorum answered). */
  readonly changeCapture?: ChangeCapture;
}

export interface PutOptions extends PutInput {
  readonly signal?: AbortSignal;
}

export interface SignalOptions {
  readonly signal?: AbortSignal;
}

export interface TtlUpdateOptions extends SignalOptions {
  /** Epoch ms, or -1 (the default): never expires. */
  readonly expiresAtMs?: number;
}

export type OperationName = 'put' | 'get' | 'delete' | 'ttlUpdate' | 'undelete';

export interface OperationEvent {
  readonly operation: OperationName;
  /** 'OK', or the code the caller's promise rejected with. */
  readonly outcome: 'OK' | RouterErrorCode;
  readonly durationMs: number;
}

export type OperationListener = (event: OperationEvent) => void;

/** Composite blobs whose data chunks are deleted at once, and how many more may wait. */
export const BACKGROUND_CONCURRENCY = 4;
export const BACKGROUND_MAX_QUEUED = 10_000;

export class Router {
  readonly config: RouterConfig;
  readonly clusterMap: ClusterMap;
  readonly #context: RouterContext;
  readonly #ownsClient: boolean;
  readonly #changes: ChangeCapture | undefined;
  readonly #notFound: NotFoundCache;
  #healthRound: Promise<RouterHealth> | undefined;
  readonly #operationListeners = new Set<OperationListener>();
  /** Data-chunk deletes of deleted composite blobs. */
  readonly #background = new BackgroundWork(BACKGROUND_CONCURRENCY, BACKGROUND_MAX_QUEUED);
  /** Aborted by close(): operations in flight end with ROUTER_CLOSED. */
  readonly #closing = new AbortController();

  private constructor(context: RouterContext, ownsClient: boolean, changes: ChangeCapture | undefined) {
    this.#context = context;
    this.#changes = changes;
    this.#notFound = new NotFoundCache(context.config.notFoundCacheMs, context.clock);
    // Every operation in flight listens for close(): as many listeners as operations, by design.
    allowAnyListeners(this.#closing.signal);
    this.config = context.config;
    this.clusterMap = context.clusterMap;
    this.#ownsClient = ownsClient;
  }

  /** Throws RouterConfigError (INVALID_ARGUMENT) for a bad config. */
  static create(options: RouterOptions): Router {
    const config = resolveRouterConfig(options.config);
    const clock = options.clock ?? Date.now;
    const client =
      options.client ??
      new DataNodeClient({
        clientId: 'router',
        requestTimeoutMs: config.requestTimeoutMs,
        ...(options.transport === undefined ? {} : { transport: options.transport }),
      });
    const detector = new FailureDetector({
      nodeFailureThreshold: config.nodeFailureThreshold,
      nodeBackoffMs: config.nodeBackoffMs,
      diskFailureThreshold: config.diskFailureThreshold,
      diskBackoffMs: config.diskBackoffMs,
      clock,
    });
    const context: RouterContext = {
      clusterMap: options.clusterMap,
      config,
      client,
      detector,
      clock,
      random: options.random ?? Math.random,
      latency: new LatencyTrackers(latencyTrackerOptions(config)),
      timers: options.timers ?? realTimers,
    };
    return new Router(context, options.client === undefined, options.changeCapture);
  }

  /** Node and disk health as learned from replica answers; for metrics and tests. */
  get failureDetector(): FailureDetector {
    return this.#context.detector;
  }

  /** Recent GET latencies per datacenter (the hedge delay); for metrics and tests. */
  get latencyTrackers(): LatencyTrackers {
    return this.#context.latency;
  }

  get closed(): boolean {
    return this.#closing.signal.aborted;
  }

  /** Stores the blob and returns its new id. */
  async put(options: PutOptions): Promise<BlobId> {
    const stored = await this.#run('put', options.signal, (signal) =>
      putBlob(this.#context, options, signal),
    );
    this.#notFound.forget(stored.id.toString());
    this.#changes?.put(stored.id.toString(), { ...options.properties, blobSize: stored.blobSize });
    return stored.id;
  }

  get(id: BlobId | string, options: GetOptions = {}): Promise<GetBlobResult> {
    return this.#run('get', options.signal, async (signal) => {
      const blobId = parseId(id);
      const key = blobId.toString();
      if (this.#notFound.has(key)) {
        throw new RouterError(RouterErrorCode.BLOB_NOT_FOUND, `blob ${key} not found (remembered)`);
      }
      try {
        return await getBlob(this.#context, blobId, options, signal, this.#closing.signal);
      } catch (error) {
        if (error instanceof RouterError && error.code === RouterErrorCode.BLOB_NOT_FOUND) {
          this.#notFound.add(key);
        }
        throw error;
      }
    });
  }

  delete(id: BlobId | string, options: SignalOptions = {}): Promise<void> {
    return this.#update(id, { kind: 'delete' }, options.signal);
  }

  updateTtl(id: BlobId | string, options: TtlUpdateOptions = {}): Promise<void> {
    const expiresAtMs = options.expiresAtMs ?? NEVER_EXPIRES;
    if (!Number.isSafeInteger(expiresAtMs) || expiresAtMs < NEVER_EXPIRES) {
      return Promise.reject(
        new RouterError(
          RouterErrorCode.INVALID_ARGUMENT,
          `expiresAtMs must be epoch ms or -1, got ${expiresAtMs}`,
        ),
      );
    }
    return this.#update(id, { kind: 'ttlUpdate', expiresAtMs }, options.signal);
  }

  undelete(id: BlobId | string, options: SignalOptions = {}): Promise<void> {
    return this.#update(id, { kind: 'undelete' }, options.signal);
  }

  /**
   * Whether a put can reach its quorum now, from a round of health probes to the local data nodes
   * (health.ts). Concurrent calls share one round; `signal` only stops this caller's wait.
   */
  health(options: SignalOptions = {}): Promise<RouterHealth> {
    if (this.closed) return Promise.reject(new RouterError(RouterErrorCode.ROUTER_CLOSED, 'router closed'));
    if (this.#healthRound === undefined) {
      const round = checkHealth(this.#context, this.#closing.signal).finally(() => {
        this.#healthRound = undefined;
      });
      this.#healthRound = round;
    }
    return untilAborted(this.#healthRound, options.signal);
  }

  /** Background work (data-chunk deletes of deleted composite blobs): counts, for metrics. */
  backgroundStats(): BackgroundStats {
    return this.#background.stats();
  }

  /** Resolves when no background work runs or waits (tests, and a shutdown that wants it done). */
  backgroundIdle(): Promise<void> {
    return this.#background.idle();
  }

  /**
   * Ends operations in flight with ROUTER_CLOSED, drops background work that has not started, lets the
   * running tasks finish (bounded by request timeouts), and closes the client the router built.
   * Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.#closing.abort(new RouterError(RouterErrorCode.ROUTER_CLOSED, 'router closed'));
    await this.#background.stop();
    if (this.#ownsClient) await this.#context.client.close();
  }

  async #update(
    id: BlobId | string,
    update: UpdateOperation,
    callerSignal: AbortSignal | undefined,
  ): Promise<void> {
    const blobId = await this.#run(update.kind, callerSignal, async (signal) => {
      const parsed = parseId(id);
      await updateAnyBlob(this.#context, parsed, update, signal, this.#background);
      return parsed;
    });
    const text = blobId.toString();
    if (update.kind === 'undelete') this.#notFound.forget(text);
    if (update.kind === 'delete') this.#changes?.delete(text);
    else if (update.kind === 'undelete') this.#changes?.undelete(text);
    else
      this.#changes?.ttlUpdate(text, update.expiresAtMs === NEVER_EXPIRES ? undefined : update.expiresAtMs);
  }

  /**
   * `listener` hears of every operation when it ends (a GET when its stream is handed over, not when
   * the stream is drained). Returns the function that unsubscribes. For metrics (metrics.ts).
   */
  onOperation(listener: OperationListener): () => void {
    this.#operationListeners.add(listener);
    return () => this.#operationListeners.delete(listener);
  }

  /** Ids remembered as not found right now. */
  get notFoundCacheSize(): number {
    return this.#notFound.size;
  }

  async #run<T>(
    name: OperationName,
    callerSignal: AbortSignal | undefined,
    operation: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const started = performance.now();
    let outcome: OperationEvent['outcome'] = 'OK';
    try {
      return await this.#runSignalled(callerSignal, operation);
    } catch (error) {
      outcome = error instanceof RouterError ? error.code : RouterErrorCode.INTERNAL;
      throw error;
    } finally {
      const event: OperationEvent = { operation: name, outcome, durationMs: performance.now() - started };
      for (const listener of this.#operationListeners) {
        try {
          listener(event);
        } catch {
          // A broken metrics listener must not fail the caller's operation.
        }
      }
    }
  }

  async #runSignalled<T>(
    callerSignal: AbortSignal | undefined,
    operation: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    if (this.closed) throw new RouterError(RouterErrorCode.ROUTER_CLOSED, 'router closed');
    if (callerSignal === undefined) {
      // Only close() can end it: the router's own signal serves, with no controller per operation.
      try {
        return await operation(this.#closing.signal);
      } catch (error) {
        if (this.#closing.signal.aborted) throw this.#closing.signal.reason;
        throw toRouterError(error);
      }
    }
    const aborted = new AbortController();
    const onAbort = () => aborted.abort(new RouterError(RouterErrorCode.ABORTED, 'aborted by the caller'));
    const onClose = () => aborted.abort(this.#closing.signal.reason);
    if (callerSignal?.aborted) onAbort();
    callerSignal?.addEventListener('abort', onAbort, { once: true });
    this.#closing.signal.addEventListener('abort', onClose, { once: true });
    try {
      if (aborted.signal.aborted) throw aborted.signal.reason;
      return await operation(aborted.signal);
    } catch (error) {
      // An abort can surface as the client's RequestAbortedError; report it as what caused it.
      if (aborted.signal.aborted) throw aborted.signal.reason;
      throw toRouterError(error);
    } finally {
      callerSignal?.removeEventListener('abort', onAbort);
      this.#closing.signal.removeEventListener('abort', onClose);
    }
  }
}

function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work;
  const aborted = () => new RouterError(RouterErrorCode.ABORTED, 'aborted by the caller');
  if (signal.aborted) return Promise.reject(aborted());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(aborted());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function parseId(id: BlobId | string): BlobId {
  if (id instanceof BlobId) return id;
  const parsed = BlobId.tryParse(id);
  if (parsed === undefined) {
    throw new RouterError(RouterErrorCode.INVALID_BLOB_ID, `not a valid blob id: ${String(id).slice(0, 80)}`);
  }
  return parsed;
}
