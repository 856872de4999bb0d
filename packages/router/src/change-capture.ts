/**
 * Change capture: after every successful put / delete / TTL update / undelete the router publishes a
 * ChangeEvent to its sinks. Publishing is fire-and-forget: a slow or broken sink must never fail or
 * delay a blob operation, so sinks buffer, retry and report problems through `onError` instead.
 */
import type { BlobProperties } from '@ambry/protocol';

export type ChangeOperation = 'put' | 'delete' | 'ttlUpdate' | 'undelete';

export interface ChangeEvent {
  operation: ChangeOperation;
  blobId: string;
  timeMs: number;
  /** put only. */
  properties?: BlobProperties;
  /** ttlUpdate only; absent = the blob no longer expires. */
  expiresAtMs?: number;
}

export interface ChangeSink {
  /** Never throws, never waits. */
  publish(event: ChangeEvent): void;
  /** Resolves once everything published so far has been delivered (or dropped). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export type ChangeErrorKind = 'listener' | 'delivery' | 'dropped' | 'closed';

export class ChangeCaptureError extends Error {
  override readonly name = 'ChangeCaptureError';
  constructor(
    readonly kind: ChangeErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type ChangeErrorHandler = (error: ChangeCaptureError) => void;

export function report(
  onError: ChangeErrorHandler | undefined,
  kind: ChangeErrorKind,
  message: string,
  cause?: unknown,
) {
  try {
    onError?.(new ChangeCaptureError(kind, message, cause === undefined ? undefined : { cause }));
  } catch {
    // A throwing error handler must not turn into a failed blob operation.
  }
}

export interface InProcessChangeSinkOptions {
  onError?: ChangeErrorHandler;
}

/**
 * Calls a listener with each event, in order, on a later microtask so the operation that published it
 * is not held up; an async listener is awaited before the next event.
 */
export class InProcessChangeSink implements ChangeSink {
  readonly #queue: ChangeEvent[] = [];
  #draining: Promise<void> | undefined;
  #closed = false;

  constructor(
    private readonly listener: (event: ChangeEvent) => void | Promise<void>,
    private readonly options: InProcessChangeSinkOptions = {},
  ) {}

  publish(event: ChangeEvent): void {
    if (this.#closed) {
      report(
        this.options.onError,
        'closed',
        `change ${event.operation} ${event.blobId} published after close`,
      );
      return;
    }
    this.#queue.push(event);
    this.#draining ??= this.#drain().finally(() => {
      this.#draining = undefined;
    });
  }

  async #drain(): Promise<void> {
    await Promise.resolve();
    for (let event = this.#queue.shift(); event; event = this.#queue.shift()) {
      try {
        await this.listener(event);
      } catch (error) {
        report(
          this.options.onError,
          'listener',
          `change listener failed on ${event.operation} ${event.blobId}`,
          error,
        );
      }
    }
  }

  async flush(): Promise<void> {
    await this.#draining;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
  }
}

export function encodeChangeFields(event: ChangeEvent): string[] {
  const fields = ['op', event.operation, 'id', event.blobId, 'time', String(event.timeMs)];
  if (event.properties) fields.push('properties', JSON.stringify(event.properties));
  if (event.expiresAtMs !== undefined) fields.push('expiresAtMs', String(event.expiresAtMs));
  return fields;
}

const OPERATIONS: ReadonlySet<string> = new Set<ChangeOperation>(['put', 'delete', 'ttlUpdate', 'undelete']);

function parseInteger(value: string, what: string): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(n)) {
    throw new Error(`change entry: bad ${what} ${JSON.stringify(value)}`);
  }
  return n;
}

/** Decodes the flat [field, value, ...] list of one stream entry; throws on a malformed entry. */
export function decodeChangeEntry(fields: string[]): ChangeEvent {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i] as string, fields[i + 1] as string);
  const operation = map.get('op');
  const blobId = map.get('id');
  const time = map.get('time');
  if (operation === undefined || !OPERATIONS.has(operation)) {
    throw new Error(`change entry: bad op ${JSON.stringify(operation)}`);
  }
  if (!blobId) throw new Error('change entry: missing id');
  if (time === undefined) throw new Error('change entry: missing time');
  const event: ChangeEvent = {
    operation: operation as ChangeOperation,
    blobId,
    timeMs: parseInteger(time, 'time'),
  };
  const properties = map.get('properties');
  if (properties !== undefined) {
    const parsed: unknown = JSON.parse(properties);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new Error('change entry: properties is not an object');
    }
    event.properties = parsed as BlobProperties;
  }
  const expires = map.get('expiresAtMs');
  if (expires !== undefined) event.expiresAtMs = parseInteger(expires, 'expiresAtMs');
  return event;
}

/** Fans each event out to every sink; the router calls it after each successful mutation. */
export class ChangeCapture implements ChangeSink {
  constructor(
    private readonly sinks: readonly ChangeSink[],
    private readonly now: () => number = Date.now,
  ) {}

  publish(event: ChangeEvent): void {
    for (const sink of this.sinks) {
      try {
        sink.publish(event);
      } catch {
        // A sink breaking the never-throws contract must still not fail the blob operation.
      }
    }
  }

  put(blobId: string, properties: BlobProperties): void {
    this.publish({ operation: 'put', blobId, timeMs: this.now(), properties });
  }

  delete(blobId: string): void {
    this.publish({ operation: 'delete', blobId, timeMs: this.now() });
  }

  /** `expiresAtMs` undefined = the blob no longer expires. */
  ttlUpdate(blobId: string, expiresAtMs: number | undefined): void {
    const event: ChangeEvent = { operation: 'ttlUpdate', blobId, timeMs: this.now() };
    if (expiresAtMs !== undefined) event.expiresAtMs = expiresAtMs;
    this.publish(event);
  }

  undelete(blobId: string): void {
    this.publish({ operation: 'undelete', blobId, timeMs: this.now() });
  }

  async flush(): Promise<void> {
    await settleAll(this.sinks.map((s) => s.flush()));
  }

  async close(): Promise<void> {
    await settleAll(this.sinks.map((s) => s.close()));
  }
}

/** Waits for all, so one failing sink does not cut the others short; then rethrows the first failure. */
async function settleAll(promises: Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
}
