/**
 * The Redis Streams sink of change capture, and the helper consumers read the stream with.
 */
import { Redis } from 'ioredis';
import {
  ChangeCaptureError,
  type ChangeErrorHandler,
  type ChangeEvent,
  type ChangeSink,
  decodeChangeEntry,
  encodeChangeFields,
  report,
} from './change-capture.js';

export interface ChangeEntry {
  /** The stream entry id, e.g. "1700000000000-0"; pass `(${entryId}` as fromId to read after it. */
  entryId: string;
  event: ChangeEvent;
}

/** Reads up to `count` entries from `fromId` (inclusive; "-" = the start) with XRANGE. */
export async function readChanges(
  redis: Redis,
  stream: string,
  fromId = '-',
  count = 1000,
): Promise<ChangeEntry[]> {
  const entries = await redis.xrange(stream, fromId, '+', 'COUNT', count);
  return entries.map(([entryId, fields]) => ({ entryId, event: decodeChangeEntry(fields) }));
}

export interface RedisStreamChangeSinkOptions {
  /** Either a URL (the sink owns and closes the connection) or a client the caller owns. */
  url?: string;
  redis?: Redis;
  stream: string;
  /** XADD MAXLEN ~ cap: Redis trims approximately, so the stream stays near (not exactly at) this. */
  maxLength: number;
  /** Events held while Redis is unreachable; beyond this the oldest are dropped. Default 10,000. */
  maxPending?: number;
  /** XADDs per pipelined round trip. Default 100. */
  batchSize?: number;
  /** Retry back-off: doubles from the first to the cap. Defaults 50 ms and 2 s. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** flush() rejects after this; default 10 s. */
  flushTimeoutMs?: number;
  /** How long close() waits for pending events before giving them up; default 2 s. */
  closeTimeoutMs?: number;
  onError?: ChangeErrorHandler;
}

interface Waiter {
  seq: number;
  settle: (error?: Error) => void;
}

/**
 * Appends events to a Redis stream in publish order, at least once: an event stays queued until an
 * XADD of it succeeds, so a retry after a lost reply can write one twice, but none is lost unless the
 * bounded queue overflows (then the oldest go, counted in `dropped`). Problems are reported once per
 * outage / overflow so a long outage does not flood onError.
 */
export class RedisStreamChangeSink implements ChangeSink {
  readonly #redis: Redis;
  readonly #ownsRedis: boolean;
  readonly #pending: { seq: number; fields: string[] }[] = [];
  readonly #waiters: Waiter[] = [];
  readonly #o: Required<Omit<RedisStreamChangeSinkOptions, 'url' | 'redis' | 'onError'>>;
  #nextSeq = 0;
  #dropped = 0;
  #draining = false;
  #timer: NodeJS.Timeout | undefined;
  #delayMs: number;
  #failureReported = false;
  #dropReported = false;
  #closed = false;
  #stopped = false;
  readonly #onReady = () => this.#retryNow();

  constructor(private readonly options: RedisStreamChangeSinkOptions) {
    if ((options.url === undefined) === (options.redis === undefined)) {
      throw new TypeError('RedisStreamChangeSink needs exactly one of url and redis');
    }
    this.#o = {
      stream: options.stream,
      maxLength: options.maxLength,
      maxPending: options.maxPending ?? 10_000,
      batchSize: options.batchSize ?? 100,
      retryInitialMs: options.retryInitialMs ?? 50,
      retryMaxMs: options.retryMaxMs ?? 2000,
      flushTimeoutMs: options.flushTimeoutMs ?? 10_000,
      closeTimeoutMs: options.closeTimeoutMs ?? 2000,
    };
    this.#delayMs = this.#o.retryInitialMs;
    this.#ownsRedis = options.redis === undefined;
    this.#redis =
      options.redis ??
      new Redis(options.url as string, {
        // Our queue is the buffer: a command while disconnected must fail now, not wait inside ioredis.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        retryStrategy: (attempt) => Math.min(attempt * 50, 1000),
      });
    // Without a listener ioredis prints every connection error; failed XADDs are reported instead.
    if (this.#ownsRedis) this.#redis.on('error', () => {});
    this.#redis.on('ready', this.#onReady);
  }

  /** Events dropped, oldest first, because the pending queue was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Events not yet confirmed by Redis. */
  get pending(): number {
    return this.#pending.length;
  }

  publish(event: ChangeEvent): void {
    if (this.#closed) {
      report(
        this.options.onError,
        'closed',
        `change ${event.operation} ${event.blobId} published after close`,
      );
      return;
    }
    this.#pending.push({ seq: this.#nextSeq++, fields: encodeChangeFields(event) });
    if (this.#pending.length > this.#o.maxPending) {
      this.#pending.shift();
      this.#dropped++;
      if (!this.#dropReported) {
        this.#dropReported = true;
        report(
          this.options.onError,
          'dropped',
          `change queue full (${this.#o.maxPending}): dropping the oldest events`,
        );
      }
      this.#settleWaiters();
    }
    // While backing off, the timer drives the next attempt.
    if (!this.#timer) void this.#drain();
  }

  flush(): Promise<void> {
    const seq = this.#nextSeq - 1;
    if (this.#done(seq)) return Promise.resolve();
    if (this.#stopped) return Promise.reject(new ChangeCaptureError('closed', 'change sink is closed'));
    this.#retryNow();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        const message = `change flush timed out after ${this.#o.flushTimeoutMs} ms, ${this.#pending.length} pending`;
        reject(new ChangeCaptureError('delivery', message));
      }, this.#o.flushTimeoutMs);
      const waiter: Waiter = {
        seq,
        settle: (error) => {
          clearTimeout(timer);
          if (error) reject(error);
          else resolve();
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /** Flushes for at most closeTimeoutMs, then stops retrying and disconnects a connection it made. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    let deadline: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => {
      deadline = setTimeout(resolve, this.#o.closeTimeoutMs);
    });
    await Promise.race([this.flush().catch(() => {}), timedOut]);
    clearTimeout(deadline);
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#redis.off('ready', this.#onReady);
    if (this.#pending.length > 0) {
      report(
        this.options.onError,
        'delivery',
        `change sink closed with ${this.#pending.length} events undelivered`,
      );
    }
    for (const waiter of this.#waiters.splice(0))
      waiter.settle(new ChangeCaptureError('closed', 'change sink closed'));
    if (this.#ownsRedis) {
      if (this.#redis.status === 'ready') await this.#redis.quit().catch(() => this.#redis.disconnect());
      else this.#redis.disconnect();
    }
  }

  /** Whether every event up to `seq` has left the queue (written or dropped). */
  #done(seq: number): boolean {
    const head = this.#pending[0];
    return head === undefined || head.seq > seq;
  }

  #settleWaiters(): void {
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      const waiter = this.#waiters[i];
      if (waiter && this.#done(waiter.seq)) {
        this.#waiters.splice(i, 1);
        waiter.settle();
      }
    }
  }

  #retryNow(): void {
    if (this.#stopped || !this.#timer) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    void this.#drain();
  }

  async #drain(): Promise<void> {
    if (this.#draining || this.#stopped) return;
    this.#draining = true;
    try {
      while (this.#pending.length > 0 && !this.#stopped) {
        // A passed-in client may queue commands offline; checking first keeps our back-off in charge.
        if (this.#redis.status !== 'ready') return this.#fail(new Error(`redis is ${this.#redis.status}`));
        const batch = this.#pending.slice(0, this.#o.batchSize);
        const pipeline = this.#redis.pipeline();
        for (const { fields } of batch) {
          pipeline.xadd(this.#o.stream, 'MAXLEN', '~', this.#o.maxLength, '*', ...fields);
        }
        let results: [Error | null, unknown][];
        try {
          results = (await pipeline.exec()) ?? [];
        } catch (error) {
          return this.#fail(error);
        }
        const failed = results.findIndex(([error]) => error !== null);
        const written = failed < 0 ? Math.min(results.length, batch.length) : failed;
        const last = batch[written - 1];
        // Drops may have taken part of this batch off the head while it was in flight.
        while (last && this.#pending[0] && this.#pending[0].seq <= last.seq) this.#pending.shift();
        this.#settleWaiters();
        if (written < batch.length)
          return this.#fail(results[failed]?.[0] ?? new Error('XADD returned no result'));
        this.#delayMs = this.#o.retryInitialMs;
        this.#failureReported = false;
        this.#dropReported = false;
      }
    } finally {
      this.#draining = false;
    }
  }

  #fail(cause: unknown): void {
    if (!this.#failureReported) {
      this.#failureReported = true;
      const message = `change stream ${this.#o.stream}: XADD failed, ${this.#pending.length} events kept for retry`;
      report(this.options.onError, 'delivery', message, cause);
    }
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#drain();
    }, this.#delayMs);
    this.#timer.unref();
    this.#delayMs = Math.min(this.#delayMs * 2, this.#o.retryMaxMs);
  }
}
