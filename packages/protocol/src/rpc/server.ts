import { setMaxListeners } from 'node:events';
import type { Duplex } from 'node:stream';
import { type Endpoint, formatEndpoint, InvalidArgumentError, TransportError } from '../errors.js';
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame, type Frame, FrameDecoder } from '../frame.js';
import { type Logger, silentLogger } from '../logger.js';
import { tcpTransport } from '../transport/tcp.js';
import type { Transport, TransportListener } from '../transport/transport.js';
import type { RpcMessage, RpcReply } from './client.js';
import { positiveInteger, timeout } from './validate.js';

export interface RpcRequestContext {
  /** The peer, as `host:port` when the transport knows it. */
  readonly remote: string;
  readonly correlationId: number;
  /** Aborted when the connection closes: the response could not be delivered any more. */
  readonly signal: AbortSignal;
}

/**
 * Answers one request. The typed layer above always resolves (errors travel as error codes in the
 * response header); a rejection or an unencodable response is treated as a bug: logged, and the
 * connection is closed.
 */
export type RpcHandler = (request: RpcReply, context: RpcRequestContext) => Promise<RpcMessage>;

export interface RpcServerOptions {
  handler: RpcHandler;
  /** Default: TCP. */
  transport?: Transport;
  /** Largest frame accepted or sent. Default DEFAULT_MAX_FRAME_BYTES. */
  maxFrameBytes?: number;
  /** Handlers running at once per connection; at the limit the server stops reading it. Default 64. */
  maxInFlightPerConnection?: number;
  /** Connections beyond this are destroyed as they arrive. Default 1024. */
  maxConnections?: number;
  logger?: Logger;
}

export interface RpcServerCloseOptions {
  /** How long to wait for in-flight handlers and their responses before destroying. Default 10000. */
  timeoutMs?: number;
}

const EMPTY = new Uint8Array(0);

/**
 * The data-node side: a frame reader per connection, concurrent dispatch to the handler, responses
 * in completion order, backpressure both ways (bounded handlers per connection; no reading while the
 * peer does not read our responses).
 */
export class RpcServer {
  private readonly handler: RpcHandler;
  private readonly transport: Transport;
  private readonly maxFrameBytes: number;
  private readonly maxInFlight: number;
  private readonly maxConnections: number;
  private readonly logger: Logger;
  private readonly listeners = new Set<TransportListener>();
  private readonly connections = new Set<ServerConnection>();
  private closing: Promise<void> | undefined;

  constructor(options: RpcServerOptions) {
    if (typeof options?.handler !== 'function') throw new InvalidArgumentError('RpcServer needs a handler');
    this.handler = options.handler;
    this.transport = options.transport ?? tcpTransport;
    this.maxFrameBytes = positiveInteger('maxFrameBytes', options.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES);
    this.maxInFlight = positiveInteger('maxInFlightPerConnection', options.maxInFlightPerConnection, 64);
    this.maxConnections = positiveInteger('maxConnections', options.maxConnections, 1024);
    this.logger = options.logger ?? silentLogger;
    // Fail at construction on a bad limit rather than on the first connection.
    new FrameDecoder({ maxFrameBytes: this.maxFrameBytes });
  }

  /** Start accepting on `endpoint`; resolves with the endpoint actually bound (port 0 -> real port). */
  async listen(endpoint: Endpoint): Promise<Endpoint> {
    if (this.closing) throw new TransportError('server closed', endpoint);
    const listener = await this.transport.listen(endpoint, (socket) => this.accept(socket));
    if (this.closing) {
      await listener.close();
      throw new TransportError('server closed', endpoint);
    }
    this.listeners.add(listener);
    this.logger.info({ endpoint: formatEndpoint(listener.endpoint) }, 'rpc server listening');
    return listener.endpoint;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /**
   * Stop accepting, stop reading new requests, wait (at most `timeoutMs`) for in-flight handlers and
   * their responses to flush, then end every connection and destroy the stragglers.
   */
  close(options: RpcServerCloseOptions = {}): Promise<void> {
    if (this.closing) return this.closing;
    const timeoutMs = timeout('timeoutMs', options.timeoutMs, 10_000);
    this.closing = this.shutdown(timeoutMs);
    return this.closing;
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    const listeners = [...this.listeners];
    this.listeners.clear();
    await Promise.all(
      listeners.map((listener) =>
        listener.close().catch((error: unknown) => {
          this.logger.warn({ err: error }, 'rpc server: closing a listener failed');
        }),
      ),
    );
    for (const connection of this.connections) connection.beginShutdown();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([Promise.all([...this.connections].map((c) => c.closed)), expired]);
    clearTimeout(timer);
    const stragglers = [...this.connections];
    if (stragglers.length > 0) {
      this.logger.warn({ connections: stragglers.length }, 'rpc server: destroying connections at close');
    }
    for (const connection of stragglers) connection.destroy();
    await Promise.all(stragglers.map((c) => c.closed));
  }

  private accept(socket: Duplex): void {
    const remote = remoteOf(socket);
    if (this.closing) {
      socket.on('error', ignore);
      socket.destroy();
      return;
    }
    if (this.connections.size >= this.maxConnections) {
      this.logger.warn(
        { remote, limit: this.maxConnections },
        'rpc server: too many connections; refusing a new one',
      );
      socket.on('error', ignore);
      socket.destroy();
      return;
    }
    const connection = new ServerConnection(socket, remote, this.handler, {
      maxFrameBytes: this.maxFrameBytes,
      maxInFlight: this.maxInFlight,
      logger: this.logger,
    });
    this.connections.add(connection);
    void connection.closed.then(() => this.connections.delete(connection));
  }
}

interface ServerConnectionSettings {
  readonly maxFrameBytes: number;
  readonly maxInFlight: number;
  readonly logger: Logger;
}

class ServerConnection {
  readonly closed: Promise<void>;
  private readonly decoder: FrameDecoder;
  private readonly abort = new AbortController();
  /** Decoded requests not yet handed to the handler (one read's worth at most: we pause first). */
  private backlog: Array<Frame | undefined> = [];
  private backlogHead = 0;
  private inFlight = 0;
  private waitingForDrain = false;
  private shuttingDown = false;
  private gone = false;
  private paused = false;

  constructor(
    private readonly socket: Duplex,
    private readonly remote: string,
    private readonly handler: RpcHandler,
    private readonly settings: ServerConnectionSettings,
  ) {
    this.decoder = new FrameDecoder({ maxFrameBytes: settings.maxFrameBytes });
    // Every concurrent handler may listen to the signal; warn only beyond that (a real leak).
    setMaxListeners(settings.maxInFlight + 10, this.abort.signal);
    this.closed = new Promise<void>((resolve) => {
      socket.once('close', () => {
        this.onGone();
        resolve();
      });
    });
    socket.on('error', (error: Error) => {
      settings.logger.debug({ remote, err: error }, 'rpc server connection error');
    });
    socket.on('drain', () => {
      if (!this.waitingForDrain) return;
      this.waitingForDrain = false;
      this.dispatch();
    });
    socket.on('end', () => {
      // The peer sends no more requests; answer what is running, then finish our side.
      this.dropBacklog();
      this.shuttingDown = true;
      this.maybeEnd();
    });
    socket.on('data', (chunk: Uint8Array) => this.onData(chunk));
    if (socket.destroyed) this.onGone();
  }

  /** Server close: no new requests (incoming bytes are discarded), end once in-flight work is flushed. */
  beginShutdown(): void {
    if (this.shuttingDown) {
      this.maybeEnd();
      return;
    }
    this.shuttingDown = true;
    this.dropBacklog();
    // Keep reading (and discarding) so the peer's FIN is seen and the socket can close cleanly.
    this.setPaused(false);
    this.maybeEnd();
  }

  destroy(): void {
    this.onGone();
    this.socket.destroy();
  }

  private onData(chunk: Uint8Array): void {
    if (this.gone || this.shuttingDown) return;
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      this.violation(`undecodable frame: ${(error as Error).message}`, error);
      return;
    }
    for (const frame of frames) {
      if (frame.kind !== 'request') {
        this.violation(`received a ${frame.kind} frame (correlation id ${frame.correlationId})`);
        return;
      }
      if (frame.payloadSelfChecked === true) {
        this.violation(`request frame ${frame.correlationId} leaves its payload out of the checksum`);
        return;
      }
      this.backlog.push(frame);
    }
    this.dispatch();
  }

  /** Start handlers for backlog frames while below the limits, then set the read state. */
  private dispatch(): void {
    while (
      this.backlogHead < this.backlog.length &&
      this.inFlight < this.settings.maxInFlight &&
      !this.waitingForDrain &&
      !this.shuttingDown &&
      !this.gone
    ) {
      const frame = this.backlog[this.backlogHead]!;
      this.backlog[this.backlogHead] = undefined; // let the bytes go as soon as they are handed over
      this.backlogHead += 1;
      this.start(frame);
    }
    if (this.backlogHead >= this.backlog.length) this.dropBacklog();
    this.updateFlow();
  }

  private start(frame: Frame): void {
    this.inFlight += 1;
    const { correlationId } = frame;
    const context: RpcRequestContext = { remote: this.remote, correlationId, signal: this.abort.signal };
    let result: Promise<RpcMessage>;
    try {
      result = Promise.resolve(this.handler({ header: frame.header, payload: frame.payload }, context));
    } catch (error) {
      result = Promise.reject(error);
    }
    result.then(
      (response) => this.respond(correlationId, response),
      (error: unknown) => {
        this.inFlight -= 1;
        if (this.gone) {
          // The connection is already closed (its signal aborted); nothing to answer.
          this.settings.logger.debug(
            { remote: this.remote, correlationId, err: error },
            'rpc handler failed after the connection closed',
          );
          return;
        }
        this.settings.logger.error(
          { remote: this.remote, correlationId, err: error },
          'rpc handler failed; closing the connection',
        );
        this.destroy();
      },
    );
  }

  private respond(correlationId: number, response: RpcMessage): void {
    this.inFlight -= 1;
    const socket = this.socket;
    const onSent = once(response?.onSent, (error) =>
      this.settings.logger.error(
        { remote: this.remote, correlationId, err: error },
        'onSent callback failed',
      ),
    );
    if (this.gone || socket.writableEnded || socket.destroyed) {
      onSent();
      this.maybeEnd();
      return;
    }
    let buffers: Buffer[];
    try {
      const header = response?.header;
      const payload = response?.payload ?? EMPTY;
      if (!(header instanceof Uint8Array) || !(payload instanceof Uint8Array)) {
        throw new InvalidArgumentError('handler response needs Uint8Array header and payload');
      }
      buffers = encodeFrame(
        { kind: 'response', correlationId, header, payload, payloadSelfChecked: response.payloadSelfChecked },
        this.settings.maxFrameBytes,
      );
    } catch (error) {
      this.settings.logger.error(
        { remote: this.remote, correlationId, err: error },
        'rpc response cannot be encoded; closing the connection',
      );
      onSent();
      this.destroy();
      return;
    }
    socket.cork();
    let writable = true;
    // The last write's callback runs once all of the frame is written, or failed with the connection.
    for (const [i, buffer] of buffers.entries())
      writable = socket.write(buffer, i === buffers.length - 1 ? () => onSent() : undefined);
    socket.uncork();
    // The peer is not reading fast enough: stop taking its requests until our output drains.
    if (!writable) this.waitingForDrain = true;
    this.dispatch();
    this.maybeEnd();
  }

  private maybeEnd(): void {
    if (this.shuttingDown && this.inFlight === 0 && !this.gone && !this.socket.writableEnded) {
      this.socket.end();
    }
  }

  private violation(reason: string, cause?: unknown): void {
    this.settings.logger.warn(
      { remote: this.remote, reason, err: cause },
      'rpc protocol violation by the peer; closing the connection',
    );
    this.destroy();
  }

  private updateFlow(): void {
    if (this.gone) return;
    const pause =
      !this.shuttingDown &&
      (this.waitingForDrain ||
        this.inFlight >= this.settings.maxInFlight ||
        this.backlogHead < this.backlog.length);
    this.setPaused(pause);
  }

  private setPaused(pause: boolean): void {
    if (pause === this.paused) return;
    this.paused = pause;
    if (pause) this.socket.pause();
    else this.socket.resume();
  }

  private dropBacklog(): void {
    this.backlog = [];
    this.backlogHead = 0;
  }

  private onGone(): void {
    if (this.gone) return;
    this.gone = true;
    this.dropBacklog();
    this.abort.abort();
  }
}

function remoteOf(socket: Duplex): string {
  const { remoteAddress, remotePort } = socket as Partial<{ remoteAddress: string; remotePort: number }>;
  if (typeof remoteAddress !== 'string') return 'unknown';
  return typeof remotePort === 'number'
    ? formatEndpoint({ host: remoteAddress, port: remotePort })
    : remoteAddress;
}

function ignore(): void {}

/** `callback` made safe to call any number of times and from a socket callback: at most once, never throwing. */
function once(callback: (() => void) | undefined, onError: (error: unknown) => void): () => void {
  let called = callback === undefined;
  return () => {
    if (called) return;
    called = true;
    try {
      callback!();
    } catch (error) {
      onError(error);
    }
  };
}
