import {
  ClientBusyError,
  ConnectionClosedError,
  ConnectionRefusedError,
  type Endpoint,
  FrameTooLargeError,
  formatEndpoint,
  InvalidArgumentError,
  RequestAbortedError,
  RequestTimeoutError,
} from '../errors.js';
import {
  DEFAULT_MAX_FRAME_BYTES,
  encodedFrameSize,
  FRAME_PREFIX_BYTES,
  MAX_FRAME_BYTES_LIMIT,
} from '../frame.js';
import { type Logger, silentLogger } from '../logger.js';
import { tcpTransport } from '../transport/tcp.js';
import type { Transport } from '../transport/transport.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import {
  ClientConnection,
  type ConnectionOwner,
  type ConnectionSettings,
  type PendingRequest,
} from './client-connection.js';
import { nonNegativeInteger, positiveInteger, timeout } from './validate.js';

/** What a caller sends: an opaque (protobuf) header and raw payload bytes. */
export interface RpcMessage {
  header: Uint8Array;
  /** Defaults to empty. */
  payload?: Uint8Array;
  /** A response whose payload carries its own checksums: the frame checksum covers the header only. */
  payloadSelfChecked?: boolean;
  /**
   * Server side: called once, when the response's bytes have been handed to the socket (its write
   * completed) or dropped (the connection is gone): the buffers it points into may be reused.
   */
  onSent?: () => void;
}

/** What comes back. Both are views of received bytes (no copy). */
export interface RpcReply {
  header: Uint8Array;
  payload: Uint8Array;
  /** The frame checksum did not cover the payload (RpcMessage.payloadSelfChecked): verify it yourself. */
  payloadSelfChecked?: boolean;
}

export interface RpcClientOptions {
  /** Default: TCP. */
  transport?: Transport;
  /** Connections opened (lazily) per endpoint. Default 4. */
  connectionsPerEndpoint?: number;
  /** Requests multiplexed on one connection at once. Default 256. */
  maxInFlightPerConnection?: number;
  /**
   * Requests waiting for a connection per endpoint, beyond which `request` rejects with
   * ClientBusyError at once. Requests waiting for a connection that is still being opened count
   * against that connection's in-flight capacity, not against this limit. Default 4096.
   */
  maxQueuedRequestsPerEndpoint?: number;
  /** Unflushed bytes above which a connection takes no new requests until 'drain'. Default 8 MiB. */
  maxBufferedBytesPerConnection?: number;
  /** Per request, queueing and connecting included. Default 4000 ms (Ambry's router default). */
  requestTimeoutMs?: number;
  /** Default 2000 ms. */
  connectTimeoutMs?: number;
  /** Backoff of failed connect attempts, per endpoint. Default 50 ms doubling up to 5 s, with jitter. */
  reconnectBackoff?: BackoffOptions;
  /** Largest frame sent or accepted. Default DEFAULT_MAX_FRAME_BYTES. */
  maxFrameBytes?: number;
  logger?: Logger;
}

export interface RpcRequestOptions {
  /** Overrides the client's requestTimeoutMs. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * A buffer to assemble the reply in when it arrives in several reads and fits: the reply is then a
   * view of it, valid until the caller reuses the buffer. For callers that fetch large replies one after
   * another (a log copy), so each one does not cost a fresh allocation.
   */
  receiveInto?: Buffer;
}

export interface RpcEndpointStats {
  endpoint: Endpoint;
  /** Open connections plus connections being opened. */
  connections: number;
  inFlight: number;
  queued: number;
  backingOff: boolean;
}

const EMPTY = new Uint8Array(0);
/** Pools (one per endpoint ever used) are swept of idle entries when the map doubles past this. */
const POOL_SWEEP_THRESHOLD = 64;

interface EndpointPool {
  readonly key: string;
  readonly endpoint: Endpoint;
  /** Open and connecting connections; at most connectionsPerEndpoint. */
  readonly connections: ClientConnection[];
  /** FIFO of requests waiting for a connection (a Set: O(1) removal on timeout/abort). */
  readonly queue: Set<PendingRequest>;
  readonly backoff: Backoff;
  lastConnectError: unknown;
}

/**
 * The data-node client: a lazily grown pool of multiplexed connections per endpoint, bounded queues,
 * per-request timeouts and abort, reconnects with exponential backoff on connect failures.
 *
 * Every returned promise settles: each request holds a (referenced) timer from the moment `request`
 * is called, so even a path nobody foresaw ends in RequestTimeoutError.
 */
export class RpcClient {
  private readonly transport: Transport;
  private readonly connectionsPerEndpoint: number;
  private readonly maxInFlight: number;
  private readonly maxQueued: number;
  private readonly requestTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly backoffOptions: BackoffOptions;
  private readonly maxFrameBytes: number;
  private readonly logger: Logger;
  private readonly settings: ConnectionSettings;
  private readonly pools = new Map<string, EndpointPool>();
  private sweepAt = POOL_SWEEP_THRESHOLD;
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(options: RpcClientOptions = {}) {
    this.transport = options.transport ?? tcpTransport;
    this.connectionsPerEndpoint = positiveInteger(
      'connectionsPerEndpoint',
      options.connectionsPerEndpoint,
      4,
    );
    this.maxInFlight = positiveInteger('maxInFlightPerConnection', options.maxInFlightPerConnection, 256);
    if (this.maxInFlight > 0xffff_ffff) {
      throw new InvalidArgumentError('maxInFlightPerConnection cannot exceed the correlation id space');
    }
    this.maxQueued = nonNegativeInteger(
      'maxQueuedRequestsPerEndpoint',
      options.maxQueuedRequestsPerEndpoint,
      4096,
    );
    const maxBufferedBytes = nonNegativeInteger(
      'maxBufferedBytesPerConnection',
      options.maxBufferedBytesPerConnection,
      8 * 1024 * 1024,
    );
    this.requestTimeoutMs = timeout('requestTimeoutMs', options.requestTimeoutMs, 4000);
    this.connectTimeoutMs = timeout('connectTimeoutMs', options.connectTimeoutMs, 2000);
    this.backoffOptions = options.reconnectBackoff ?? {};
    new Backoff(this.backoffOptions); // validate now rather than on the first connect
    this.maxFrameBytes = positiveInteger('maxFrameBytes', options.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES);
    if (this.maxFrameBytes < FRAME_PREFIX_BYTES || this.maxFrameBytes > MAX_FRAME_BYTES_LIMIT + 4) {
      throw new InvalidArgumentError(`maxFrameBytes ${this.maxFrameBytes} out of range`);
    }
    this.logger = options.logger ?? silentLogger;
    this.settings = {
      maxInFlight: this.maxInFlight,
      maxBufferedBytes,
      maxFrameBytes: this.maxFrameBytes,
      logger: this.logger,
    };
  }

  /**
   * Send one request and wait for its response. Rejects with RequestTimeoutError,
   * RequestAbortedError, ConnectionRefusedError (cannot connect, or backing off after a failed
   * connect), ConnectionClosedError (the connection died with the request in flight, or the client
   * closed), ProtocolError, ClientBusyError (queue full) or FrameTooLargeError.
   */
  request(endpoint: Endpoint, message: RpcMessage, options: RpcRequestOptions = {}): Promise<RpcReply> {
    if (this.closed) return Promise.reject(new ConnectionClosedError('client closed', endpoint));
    const header = message.header;
    const payload = message.payload ?? EMPTY;
    if (!(header instanceof Uint8Array) || !(payload instanceof Uint8Array)) {
      return Promise.reject(new InvalidArgumentError('header and payload must be Uint8Arrays'));
    }
    const size = encodedFrameSize(header.byteLength, payload.byteLength);
    if (size > this.maxFrameBytes) return Promise.reject(new FrameTooLargeError(size, this.maxFrameBytes));
    let timeoutMs: number;
    try {
      timeoutMs = timeout('timeoutMs', options.timeoutMs, this.requestTimeoutMs);
    } catch (error) {
      return Promise.reject(error);
    }
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(new RequestAbortedError({ cause: signal.reason }));

    return new Promise<RpcReply>((resolve, reject) => {
      const pool = this.poolFor(endpoint);
      let settled = false;
      const request: PendingRequest = {
        header,
        payload,
        connection: undefined,
        correlationId: -1,
        receiveInto: options.receiveInto,
        finish: (outcome) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          pool.queue.delete(request);
          request.connection?.forget(request);
          if (outcome instanceof Error) reject(outcome);
          else resolve(outcome);
        },
      };
      const onAbort = (): void => {
        request.finish(new RequestAbortedError({ cause: signal?.reason }));
        this.pump(pool);
      };
      const timer = setTimeout(() => {
        if (request.connection) {
          this.logger.debug(
            { endpoint: pool.endpoint, correlationId: request.correlationId, timeoutMs },
            'rpc request timed out',
          );
        }
        request.finish(new RequestTimeoutError(timeoutMs, pool.endpoint));
        this.pump(pool);
      }, timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.route(pool, request);
    });
  }

  stats(): RpcEndpointStats[] {
    const result: RpcEndpointStats[] = [];
    for (const pool of this.pools.values()) {
      let inFlight = 0;
      for (const connection of pool.connections) inFlight += connection.inFlightCount;
      result.push({
        endpoint: { host: pool.endpoint.host, port: pool.endpoint.port },
        connections: pool.connections.length,
        inFlight,
        queued: pool.queue.size,
        backingOff: pool.backoff.active,
      });
    }
    return result;
  }

  /**
   * Reject every queued and in-flight request with ConnectionClosedError('client closed'), destroy
   * every connection and resolve once their sockets have closed. Later requests reject at once.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    const waits: Promise<void>[] = [];
    const pools = [...this.pools.values()];
    this.pools.clear();
    for (const pool of pools) {
      for (const request of [...pool.queue]) {
        request.finish(new ConnectionClosedError('client closed', pool.endpoint));
      }
      for (const connection of [...pool.connections]) {
        connection.close(() => new ConnectionClosedError('client closed', pool.endpoint));
        waits.push(connection.closed);
      }
      pool.connections.length = 0;
    }
    this.closing = Promise.all(waits).then(() => undefined);
    return this.closing;
  }

  // -------------------------------------------------------------------------------------------------

  private poolFor(endpoint: Endpoint): EndpointPool {
    const key = formatEndpoint(endpoint);
    let pool = this.pools.get(key);
    if (!pool) {
      if (this.pools.size >= this.sweepAt) {
        for (const candidate of [...this.pools.values()]) this.prune(candidate, true);
        this.sweepAt = Math.max(POOL_SWEEP_THRESHOLD, this.pools.size * 2);
      }
      pool = {
        key,
        endpoint: { host: endpoint.host, port: endpoint.port },
        connections: [],
        queue: new Set(),
        backoff: new Backoff(this.backoffOptions),
        lastConnectError: undefined,
      };
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** First placement of a new request: send, queue, or fail fast. */
  private route(pool: EndpointPool, request: PendingRequest): void {
    if (pool.queue.size === 0) {
      const connection = this.pick(pool);
      if (connection) {
        connection.send(request);
        return;
      }
    }
    this.ensureConnections(pool, pool.queue.size + 1);
    const { open, connecting } = count(pool);
    if (open === 0 && connecting === 0) {
      // Only possible while backing off: fail fast, let the caller (failure detector) decide.
      request.finish(
        new ConnectionRefusedError(
          `not connecting for another ${pool.backoff.remainingMs()} ms after ${pool.backoff.consecutiveFailures} failed connect attempt(s)`,
          pool.endpoint,
          { cause: pool.lastConnectError },
        ),
      );
      return;
    }
    if (pool.queue.size >= this.maxQueued + connecting * this.maxInFlight) {
      request.finish(new ClientBusyError(`request queue full (${pool.queue.size} waiting)`, pool.endpoint));
      return;
    }
    pool.queue.add(request);
  }

  /** Move queued requests onto connections with room; open connections or fail the stranded queue. */
  private pump(pool: EndpointPool): void {
    if (this.closed) return;
    while (pool.queue.size > 0) {
      const connection = this.pick(pool);
      if (!connection) break;
      const next = pool.queue.values().next().value!;
      pool.queue.delete(next);
      connection.send(next);
    }
    if (pool.queue.size > 0) {
      this.ensureConnections(pool, pool.queue.size);
      const { open, connecting } = count(pool);
      if (open === 0 && connecting === 0) this.failQueue(pool);
    }
    this.prune(pool);
  }

  /** The open connection with room and the fewest requests in flight. */
  private pick(pool: EndpointPool): ClientConnection | undefined {
    let best: ClientConnection | undefined;
    for (const connection of pool.connections) {
      if (connection.available && (!best || connection.inFlightCount < best.inFlightCount)) best = connection;
    }
    return best;
  }

  /** Open connections until those being opened can absorb `waiting` requests, within the pool size. */
  private ensureConnections(pool: EndpointPool, waiting: number): void {
    let { connecting } = count(pool);
    while (
      waiting > connecting * this.maxInFlight &&
      pool.connections.length < this.connectionsPerEndpoint &&
      !pool.backoff.active
    ) {
      this.openConnection(pool);
      connecting += 1;
    }
  }

  private openConnection(pool: EndpointPool): void {
    const owner: ConnectionOwner = {
      onCapacity: () => this.pump(pool),
      onClosed: (connection) => {
        remove(pool.connections, connection);
        if (this.closed) return;
        this.logger.debug({ endpoint: pool.endpoint }, 'rpc connection closed');
        // Reconnect at once if requests are waiting (a lost connection is not a failed connect).
        this.pump(pool);
      },
    };
    const connection = new ClientConnection(pool.endpoint, this.settings, owner);
    pool.connections.push(connection);
    this.transport
      .connect(pool.endpoint, { timeoutMs: this.connectTimeoutMs, signal: connection.connectAbort.signal })
      .then(
        (socket) => {
          if (this.closed || connection.state !== 'connecting') {
            socket.destroy();
            return;
          }
          pool.backoff.succeed();
          pool.lastConnectError = undefined;
          connection.attach(socket);
          this.pump(pool);
        },
        (error: unknown) => {
          if (connection.state !== 'connecting') return;
          connection.state = 'closed';
          remove(pool.connections, connection);
          if (this.closed) return;
          const backoffMs = pool.backoff.fail();
          pool.lastConnectError = error;
          this.logger.warn({ endpoint: pool.endpoint, err: error, backoffMs }, 'rpc connect failed');
          const { open, connecting } = count(pool);
          if (open === 0 && connecting === 0) this.failQueue(pool);
          this.pump(pool);
        },
      );
  }

  private failQueue(pool: EndpointPool): void {
    for (const request of [...pool.queue]) {
      request.finish(
        new ConnectionRefusedError('cannot connect', pool.endpoint, { cause: pool.lastConnectError }),
      );
    }
  }

  /**
   * Forget an endpoint that holds nothing: no connection, no queue, no backoff window. Its failure
   * count (which makes the next window longer) is kept unless `forgetFailures` (a sweep of the map).
   */
  private prune(pool: EndpointPool, forgetFailures = false): void {
    if (
      pool.connections.length === 0 &&
      pool.queue.size === 0 &&
      !pool.backoff.active &&
      (forgetFailures || pool.backoff.consecutiveFailures === 0) &&
      this.pools.get(pool.key) === pool
    ) {
      this.pools.delete(pool.key);
    }
  }
}

function count(pool: EndpointPool): { open: number; connecting: number } {
  let open = 0;
  let connecting = 0;
  for (const connection of pool.connections) {
    if (connection.state === 'open') open += 1;
    else if (connection.state === 'connecting') connecting += 1;
  }
  return { open, connecting };
}

function remove<T>(array: T[], item: T): void {
  const index = array.indexOf(item);
  if (index >= 0) array.splice(index, 1);
}
