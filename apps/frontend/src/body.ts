import type { IncomingMessage } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { blobTooLarge, FrontendErrorCode, HttpError } from './errors.js';

export interface BodyLimits {
  /** Bytes the body must have, when declared (Content-Length or x-ambry-blob-size). */
  readonly declaredSize: number | undefined;
  readonly maxBlobBytes: number;
  /** A body that sends nothing for this long is cut off. */
  readonly idleTimeoutMs: number;
  /** Told the running byte count as bytes pass (for the request's log line, even if it is cut off). */
  readonly onBytes?: (bytes: number) => void;
}

/**
 * The upload body on its way to the router: counts bytes, refuses more than `maxBlobBytes` (413) or a
 * size other than the declared one (400), cuts off a body that stalls (408) and turns a client that goes
 * away mid-body into 400 BODY_INCOMPLETE. `failure` keeps the first such error, so the route reports it
 * whatever the router made of the broken stream. Bytes flow through untouched: nothing is buffered here
 * beyond the stream's own high-water mark.
 */
export class BodyMeter extends Transform {
  bytes = 0;
  failure: HttpError | undefined;
  readonly #limits: BodyLimits;
  readonly #request: IncomingMessage;
  #timer: NodeJS.Timeout | undefined;
  #complete = false;

  constructor(request: IncomingMessage, limits: BodyLimits) {
    super();
    this.#request = request;
    this.#limits = limits;
    this.#arm();
    request.on('data', (chunk: Buffer) => {
      // Once failed, the rest is discarded (the response closes the connection).
      if (this.destroyed || this.writableEnded) return;
      if (!this.write(chunk)) request.pause();
    });
    this.on('drain', () => request.resume());
    // Whoever ends the meter early (the router failing, a limit), the client must not stay blocked.
    this.on('close', () => {
      clearTimeout(this.#timer);
      if (!request.complete) request.resume();
    });
    request.on('end', () => {
      this.#complete = true;
      this.end();
    });
    request.on('error', () => this.#fail(this.#incomplete()));
    // 'close' without 'end': the client went away (or node gave up on the request) mid-body.
    request.on('close', () => {
      if (!this.#complete && !request.complete) this.#fail(this.#incomplete());
    });
  }

  #incomplete(): HttpError {
    const expected = this.#limits.declaredSize === undefined ? '' : ` of ${this.#limits.declaredSize}`;
    return new HttpError(
      400,
      FrontendErrorCode.BODY_INCOMPLETE,
      `the request body ended early (${this.bytes}${expected} bytes received)`,
    );
  }

  #arm(): void {
    // Once per chunk on a busy upload: restarting the one timer is cheaper than a new one each time.
    if (this.#timer !== undefined) {
      this.#timer.refresh();
      return;
    }
    this.#timer = setTimeout(() => {
      this.#fail(
        new HttpError(
          408,
          FrontendErrorCode.BODY_TIMEOUT,
          `no body bytes for ${this.#limits.idleTimeoutMs} ms (bodyIdleTimeoutMs)`,
        ),
      );
    }, this.#limits.idleTimeoutMs);
    this.#timer.unref();
  }

  #fail(error: HttpError): void {
    clearTimeout(this.#timer);
    if (this.failure !== undefined || this.destroyed) return;
    this.failure = error;
    this.#request.resume();
    this.destroy(error);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.byteLength;
    this.#limits.onBytes?.(this.bytes);
    const { declaredSize, maxBlobBytes } = this.#limits;
    if (this.bytes > maxBlobBytes) {
      this.#fail(blobTooLarge(this.bytes, maxBlobBytes));
      return;
    }
    if (declaredSize !== undefined && this.bytes > declaredSize) {
      this.#fail(sizeMismatch(this.bytes, declaredSize, 'more than'));
      return;
    }
    this.#arm();
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    clearTimeout(this.#timer);
    const { declaredSize } = this.#limits;
    if (declaredSize !== undefined && this.bytes !== declaredSize) {
      const error = sizeMismatch(this.bytes, declaredSize, 'only');
      this.failure ??= error;
      callback(error);
      return;
    }
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.#timer);
    callback(error);
  }
}

function sizeMismatch(received: number, declared: number, how: string): HttpError {
  return new HttpError(
    400,
    FrontendErrorCode.SIZE_MISMATCH,
    `the body has ${how} ${received} bytes but x-ambry-blob-size says ${declared}`,
  );
}
