/**
 * GET of any blob. A METADATA id names a composite blob: its chunk list is fetched, and the bytes come
 * from a Readable that fetches the data chunks in order as the consumer reads, never holding more than
 * `chunksInFlight` chunks fetched-but-unread or in flight (the memory bound, whatever the consumer's
 * speed). A range fetches only the chunks it touches, and only their part of them.
 */
import { Readable } from 'node:stream';
import {
  type BlobId,
  BlobIdType,
  type ChunkRange,
  type CompositeBlobMetadata,
  chunksForRange,
  decodeCompositeMetadata,
  type GetResult,
} from '@ambry/protocol';
import { RouterError, RouterErrorCode, toRouterError } from './errors.js';
import { fetchBlob, type GetBlobResult, type GetOptions, getSimpleBlob } from './get-operation.js';
import { allowListeners } from './listeners.js';
import type { RouterContext } from './replica-requests.js';

/**
 * `signal` is the operation's (it ends when this returns); `closing` is the router's, which must also
 * stop a composite blob's stream that is still being read after that.
 */
export async function getBlob(
  context: RouterContext,
  id: BlobId,
  options: GetOptions,
  signal: AbortSignal,
  closing: AbortSignal,
): Promise<GetBlobResult> {
  if (id.type !== BlobIdType.METADATA) return getSimpleBlob(context, id, options, signal);
  const base = {
    ...(options.includeDeleted === undefined ? {} : { includeDeleted: options.includeDeleted }),
    ...(options.includeExpired === undefined ? {} : { includeExpired: options.includeExpired }),
  };
  // Fetched whole even for 'info': the total size is in the chunk list, not in the stored properties.
  const answer = await fetchBlob(context, id, base, signal);
  const metadata = decodeMetadata(answer, id);
  const properties = { ...checkedProperties(answer, id), blobSize: metadata.totalSize };
  if (options.part === 'info') {
    return {
      properties,
      userMetadata: answer.userMetadata ?? {},
      blobSize: metadata.totalSize,
      state: answer.state,
      blob: Readable.from([]),
    };
  }
  const range = options.range === undefined ? undefined : clampRange(options.range, metadata.totalSize);
  const pieces =
    range === undefined
      ? chunksForRange(metadata, 0, metadata.totalSize - 1)
      : chunksForRange(metadata, range.offset, range.offset + range.length - 1);
  return {
    properties,
    userMetadata: answer.userMetadata ?? {},
    blobSize: metadata.totalSize,
    state: answer.state,
    ...(range === undefined ? {} : { range }),
    blob: new ChunkStream(context, pieces, base, [closing, options.signal]),
  };
}

function checkedProperties(answer: GetResult, id: BlobId): NonNullable<GetResult['properties']> {
  if (answer.properties === undefined) {
    throw new RouterError(RouterErrorCode.INTERNAL, `get ${id}: replica answered without properties`);
  }
  return answer.properties;
}

export function decodeMetadata(answer: GetResult, id: BlobId): CompositeBlobMetadata {
  try {
    return decodeCompositeMetadata(answer.blob);
  } catch (error) {
    throw new RouterError(RouterErrorCode.BLOB_CORRUPT, `get ${id}: bad composite metadata`, {
      cause: error,
    });
  }
}

/** As a data node does for a simple blob: the offset must fall in the blob, the length is clamped. */
function clampRange(range: { offset: number; length: number }, total: number) {
  const { offset, length } = range;
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 1 ||
    offset >= total
  ) {
    throw new RouterError(
      RouterErrorCode.RANGE_NOT_SATISFIABLE,
      `range offset ${offset} length ${length} is outside a blob of ${total} bytes`,
    );
  }
  return { offset, length: Math.min(length, total - offset) };
}

const ignore = () => undefined;

/**
 * Pull-based: a fetch starts only in `_read`, i.e. when the consumer has taken everything pushed so
 * far (highWaterMark 1 byte keeps at most one chunk in the stream's own buffer). Then
 * started-but-unpushed ≤ chunksInFlight, and after a push ≤ chunksInFlight − 1 plus the pushed one.
 */
class ChunkStream extends Readable {
  readonly #context: RouterContext;
  readonly #pieces: readonly ChunkRange[];
  readonly #options: GetOptions;
  readonly #controller = new AbortController();
  readonly #unlink: () => void;
  /** Fetches started and not yet pushed, in chunk order. */
  readonly #pending: Array<Promise<Buffer>> = [];
  #next = 0;
  #waiting = false;

  constructor(
    context: RouterContext,
    pieces: readonly ChunkRange[],
    options: GetOptions,
    signals: ReadonlyArray<AbortSignal | undefined>,
  ) {
    super({ highWaterMark: 1 });
    this.#context = context;
    this.#pieces = pieces;
    this.#options = options;
    this.#unlink = linkSignals(this.#controller, signals);
    const { chunksInFlight, getParallelism } = context.config;
    allowListeners(this.#controller.signal, chunksInFlight * (getParallelism + 2) + 10);
    // A caller's abort or the router's close ends the stream, not only the requests under way.
    this.#controller.signal.addEventListener(
      'abort',
      () => {
        if (!this.destroyed) this.destroy(toRouterError(this.#controller.signal.reason));
      },
      { once: true },
    );
  }

  override _read(): void {
    if (this.#waiting) return;
    const limit = this.#context.config.chunksInFlight;
    while (this.#next < this.#pieces.length && this.#pending.length < limit) {
      const fetched = this.#fetch(this.#pieces[this.#next]!);
      fetched.catch(ignore);
      this.#pending.push(fetched);
      this.#next += 1;
    }
    const head = this.#pending[0];
    if (head === undefined) {
      this.push(null);
      return;
    }
    this.#waiting = true;
    head.then(
      (bytes) => {
        this.#waiting = false;
        this.#pending.shift();
        if (!this.destroyed) this.push(bytes);
      },
      (error: unknown) => {
        this.#waiting = false;
        this.destroy(toRouterError(error));
      },
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#unlink();
    // Cancels the chunk requests still outstanding when the consumer gives up.
    this.#controller.abort(new RouterError(RouterErrorCode.ABORTED, 'the blob stream was closed'));
    callback(error);
  }

  async #fetch(piece: ChunkRange): Promise<Buffer> {
    const { chunk, from, to } = piece;
    const whole = from === 0 && to === chunk.size - 1;
    const length = to - from + 1;
    const answer = await fetchBlob(
      this.#context,
      chunk.blobId,
      whole ? this.#options : { ...this.#options, range: { offset: from, length } },
      this.#controller.signal,
      length,
    );
    if (answer.blob.byteLength !== length) {
      throw new RouterError(
        RouterErrorCode.BLOB_CORRUPT,
        `chunk ${piece.index} (${chunk.blobId}) gave ${answer.blob.byteLength} bytes, expected ${length}`,
      );
    }
    return Buffer.from(answer.blob.buffer, answer.blob.byteOffset, answer.blob.byteLength);
  }
}

/** Aborts `controller` when any of `signals` aborts; returns the unlinking function. */
function linkSignals(controller: AbortController, signals: ReadonlyArray<AbortSignal | undefined>) {
  const links: Array<() => void> = [];
  for (const signal of signals) {
    if (signal === undefined) continue;
    const onAbort = () => {
      const reason: unknown = signal.reason;
      controller.abort(
        reason instanceof RouterError
          ? reason
          : new RouterError(RouterErrorCode.ABORTED, 'aborted by the caller'),
      );
    };
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    links.push(() => signal.removeEventListener('abort', onAbort));
  }
  return () => {
    for (const unlink of links) unlink();
  };
}
