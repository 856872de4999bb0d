import type { Duplex } from 'node:stream';
import { ConnectionClosedError, type Endpoint, ProtocolError } from '../errors.js';
import { encodeFrame, FrameDecoder } from '../frame.js';
import type { Logger } from '../logger.js';
import type { RpcReply } from './client.js';

/** A request as one connection sees it. The client owns timers, abort listeners and the promise. */
export interface PendingRequest {
  readonly header: Uint8Array;
  readonly payload: Uint8Array;
  /** The connection the request is in flight on, if any (maintained by the connection). */
  connection: ClientConnection | undefined;
  correlationId: number;
  /** Where the reply is assembled when it spans reads and fits (RpcRequestOptions.receiveInto). */
  receiveInto?: Buffer;
  /**
   * Settle the caller's promise, once; later calls are ignored. The connection has already dropped
   * the request when it calls this; when the client calls it, it also calls `connection.forget`.
   */
  finish(outcome: RpcReply | Error): void;
}

export interface ConnectionSettings {
  readonly maxInFlight: number;
  readonly maxBufferedBytes: number;
  readonly maxFrameBytes: number;
  readonly logger: Logger;
}

export interface ConnectionOwner {
  /** The connection can take more requests: a reply arrived or its write buffer drained. */
  onCapacity(connection: ClientConnection): void;
  /** The connection is gone (its in-flight requests have already been rejected). */
  onClosed(connection: ClientConnection): void;
}

export type ConnectionState = 'connecting' | 'open' | 'closed';

/**
 * One multiplexed connection of the client: correlation ids, the in-flight table, the frame decoder,
 * write backpressure. It never retries anything; the pool above it decides.
 */
export class ClientConnection {
  state: ConnectionState = 'connecting';
  /** Aborts the connect attempt when the client closes first. */
  readonly connectAbort = new AbortController();
  private socket: Duplex | undefined;
  private readonly decoder: FrameDecoder;
  private readonly inFlight = new Map<number, PendingRequest>();
  private nextId: number;
  private blocked = false;
  private lastError: unknown;
  private socketClosed: Promise<void> = Promise.resolve();

  constructor(
    readonly endpoint: Endpoint,
    private readonly settings: ConnectionSettings,
    private readonly owner: ConnectionOwner,
    firstCorrelationId = 0,
  ) {
    this.decoder = new FrameDecoder({
      maxFrameBytes: settings.maxFrameBytes,
      // Offered once: a second frame with the same id (a misbehaving peer) must not overwrite the first.
      frameBuffer: (correlationId) => {
        const request = this.inFlight.get(correlationId);
        const buffer = request?.receiveInto;
        if (request !== undefined) request.receiveInto = undefined;
        return buffer;
      },
    });
    this.nextId = firstCorrelationId >>> 0;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Open (its socket not destroyed), not over its write-buffer limit and below its in-flight limit. */
  get available(): boolean {
    return (
      this.state === 'open' &&
      !this.blocked &&
      this.inFlight.size < this.settings.maxInFlight &&
      this.socket?.destroyed === false
    );
  }

  /** Resolves once the socket has emitted 'close' (at once if there never was a socket). */
  get closed(): Promise<void> {
    return this.socketClosed;
  }

  /** Take ownership of the socket the transport connected. */
  attach(socket: Duplex): void {
    if (this.state !== 'connecting') {
      socket.destroy();
      return;
    }
    this.socket = socket;
    this.state = 'open';
    this.socketClosed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Uint8Array) => this.onData(chunk));
    socket.on('error', (error: Error) => {
      this.lastError = error;
      this.settings.logger.debug({ endpoint: this.endpoint, err: error }, 'rpc connection error');
    });
    socket.on('end', () => this.close(() => this.closedError('connection closed by the peer')));
    socket.on('close', () => this.close(() => this.closedError('connection closed')));
    socket.on('drain', () => {
      if (!this.blocked) return;
      this.blocked = false;
      if (this.state === 'open') this.owner.onCapacity(this);
    });
    if (socket.destroyed) {
      this.socketClosed = Promise.resolve();
      this.close(() => this.closedError('connection closed'));
    }
  }

  /** Write `request` as one frame. The caller checked `available`. */
  send(request: PendingRequest): void {
    const socket = this.socket;
    if (this.state !== 'open' || !socket) {
      request.finish(this.closedError('connection closed'));
      return;
    }
    const correlationId = this.allocateId();
    let buffers: Buffer[];
    try {
      buffers = encodeFrame(
        { kind: 'request', correlationId, header: request.header, payload: request.payload },
        this.settings.maxFrameBytes,
      );
    } catch (error) {
      request.finish(error as Error);
      return;
    }
    this.inFlight.set(correlationId, request);
    request.connection = this;
    request.correlationId = correlationId;
    // One corked batch per frame: the in-memory transport sees (and faults) whole frames.
    socket.cork();
    for (const buffer of buffers) socket.write(buffer);
    socket.uncork();
    if (socket.writableLength > this.settings.maxBufferedBytes && socket.writableNeedDrain) {
      this.blocked = true;
    }
  }

  /** Drop a request that timed out or was aborted; a late response for its id is then ignored. */
  forget(request: PendingRequest): void {
    if (request.connection !== this) return;
    if (this.inFlight.get(request.correlationId) === request) this.inFlight.delete(request.correlationId);
    request.connection = undefined;
  }

  /**
   * Close the connection (idempotent): reject every in-flight request with `makeError()`, destroy the
   * socket, tell the owner.
   */
  close(makeError: () => Error): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.connectAbort.abort();
    const pending = [...this.inFlight.values()];
    this.inFlight.clear();
    for (const request of pending) {
      request.connection = undefined;
      request.finish(makeError());
    }
    this.socket?.destroy();
    this.owner.onClosed(this);
  }

  private allocateId(): number {
    // u32 counter, wrapping, skipping ids still in flight. Terminates within inFlight.size + 1 steps
    // because inFlight.size < maxInFlight <= 2^32.
    for (;;) {
      const id = this.nextId;
      this.nextId = (id + 1) >>> 0;
      if (!this.inFlight.has(id)) return id;
    }
  }

  private onData(chunk: Uint8Array): void {
    if (this.state !== 'open') return;
    let frames: ReturnType<FrameDecoder['push']>;
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      this.protocolFailure(`undecodable frame: ${(error as Error).message}`, error);
      return;
    }
    let answered = false;
    for (const frame of frames) {
      if (frame.kind !== 'response') {
        this.protocolFailure(`received a ${frame.kind} frame (correlation id ${frame.correlationId})`);
        return;
      }
      const request = this.inFlight.get(frame.correlationId);
      if (!request) {
        this.settings.logger.debug(
          { endpoint: this.endpoint, correlationId: frame.correlationId },
          'ignoring a response for an expired or unknown correlation id',
        );
        continue;
      }
      this.inFlight.delete(frame.correlationId);
      request.connection = undefined;
      answered = true;
      request.finish({
        header: frame.header,
        payload: frame.payload,
        ...(frame.payloadSelfChecked === true ? { payloadSelfChecked: true } : {}),
      });
    }
    if (answered && this.state === 'open') this.owner.onCapacity(this);
  }

  private protocolFailure(reason: string, cause?: unknown): void {
    this.settings.logger.warn(
      { endpoint: this.endpoint, reason, err: cause },
      'rpc protocol violation by the peer; closing the connection',
    );
    this.close(() => new ProtocolError(`protocol violation: ${reason}`, this.endpoint, { cause }));
  }

  private closedError(message: string): ConnectionClosedError {
    return new ConnectionClosedError(
      message,
      this.endpoint,
      this.lastError === undefined ? undefined : { cause: this.lastError },
    );
  }
}
