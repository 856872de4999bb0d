import { Duplex } from 'node:stream';
import { ConnectionClosedError, type Endpoint } from '../errors.js';
import type { UnitDirection } from './memory-faults.js';

/**
 * One in-memory connection: two `MemorySocket`s joined by two one-way `Pipe`s. See memory.ts for the
 * semantics; this file is the mechanics (ordering, backpressure, teardown).
 */

/** The network's decision on a data unit, taken when it is written. */
export type Verdict =
  /** Deliver (bytes possibly corrupted in place) after `delayMs` (0 = next turn of the event loop). */
  | { readonly kind: 'deliver'; readonly delayMs: number }
  | { readonly kind: 'vanish' }
  | { readonly kind: 'disconnect' };

/** What a connection needs from the network it lives in. */
export interface ConnectionHost {
  readonly highWaterMark: number;
  readonly allowHalfOpen: boolean;
  /** Judge a data unit at write time: blackhole, fault rules, latency. May corrupt `unit` in place. */
  judge(connection: Connection, direction: UnitDirection, unit: Buffer): Verdict;
  /** Added latency of end-of-stream and close markers. */
  latencyOf(server: Endpoint): number;
  /** Whether a data unit arriving now vanishes (the server got blackholed while it was in flight). */
  vanishesOnArrival(server: Endpoint): boolean;
  delivered(bytes: number): void;
  /** Both sockets of the connection are destroyed. */
  closed(connection: Connection): void;
}

type Unit =
  | { readonly kind: 'data'; readonly bytes: Buffer; ready: boolean; timer: NodeJS.Timeout | undefined }
  | { readonly kind: 'eof' | 'close'; ready: boolean; timer: NodeJS.Timeout | undefined };

type WriteCallback = (error?: Error | null) => void;

function resetError(server: Endpoint): Error {
  return Object.assign(new ConnectionClosedError('connection reset by the in-memory network', server), {
    code: 'ECONNRESET',
  });
}

/**
 * One direction of a connection. Units are delivered strictly in the order written: a unit that is
 * ready (its delay elapsed) still waits for every unit ahead of it.
 *
 * Backpressure: the writer's callback is held while the bytes queued here plus the receiver's unread
 * readable buffer reach the high-water mark, and released when deliveries or the reader's `_read`
 * make room. So a reader that never reads stops the writer (write() returns false) and the network
 * holds at most about one high-water mark plus one unit per direction.
 */
export class Pipe {
  private readonly queue: Unit[] = [];
  private queued = 0;
  private held: WriteCallback | undefined;
  private immediate: NodeJS.Immediate | undefined;
  /** The receiver is gone or the connection was reset: units vanish, nothing is held. */
  private closed = false;

  constructor(
    private readonly connection: Connection,
    readonly direction: UnitDirection,
    private readonly receiver: MemorySocket,
  ) {}

  /** Bytes accepted from the writer and not delivered yet. */
  get queuedBytes(): number {
    return this.queued;
  }

  send(bytes: Buffer, callback: WriteCallback): void {
    if (this.closed) {
      callback();
      return;
    }
    const verdict = this.connection.host.judge(this.connection, this.direction, bytes);
    if (verdict.kind === 'disconnect') {
      this.connection.reset(this.connection.ownerOf(this));
      callback(resetError(this.connection.serverEndpoint));
      return;
    }
    if (verdict.kind === 'deliver')
      this.enqueue({ kind: 'data', bytes, ready: false, timer: undefined }, verdict.delayMs);
    if (this.hasRoom()) callback();
    else this.held = callback;
  }

  /** End of stream ('eof', from `end()`) or teardown ('close', from `destroy()`), after pending units. */
  sendControl(kind: 'eof' | 'close'): void {
    if (this.closed) return;
    this.enqueue(
      { kind, ready: false, timer: undefined },
      this.connection.host.latencyOf(this.connection.serverEndpoint),
    );
  }

  /** The receiver's `_read`: it consumed data, maybe there is room for a held writer now. */
  readerReady(): void {
    if (this.held) this.scheduleFlush();
  }

  /** The writing socket was destroyed: send the close marker behind everything it wrote. */
  senderGone(): void {
    this.held = undefined;
    this.sendControl('close');
  }

  /**
   * Discard everything in flight. `releaseWriter`: the receiver went away but the writer lives on, so
   * let it continue (its further writes vanish until the close marker reaches it).
   */
  close(releaseWriter: boolean): void {
    this.closed = true;
    for (const unit of this.queue) if (unit.timer) clearTimeout(unit.timer);
    this.queue.length = 0;
    this.queued = 0;
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
    const held = this.held;
    this.held = undefined;
    if (held && releaseWriter) process.nextTick(held);
  }

  private hasRoom(): boolean {
    return this.queued + this.receiver.readableLength < this.connection.host.highWaterMark;
  }

  private enqueue(unit: Unit, delayMs: number): void {
    this.queue.push(unit);
    if (unit.kind === 'data') this.queued += unit.bytes.byteLength;
    if (delayMs > 0) {
      unit.timer = setTimeout(() => {
        unit.timer = undefined;
        unit.ready = true;
        this.flush();
      }, delayMs);
    } else {
      unit.ready = true;
      this.scheduleFlush();
    }
  }

  private scheduleFlush(): void {
    if (this.immediate || (this.queue.length === 0 && !this.held)) return;
    this.immediate = setImmediate(() => {
      this.immediate = undefined;
      this.flush();
    });
  }

  private flush(): void {
    // A unit's delivery runs user code ('data' listeners) that may destroy either end: re-check.
    for (let unit = this.queue[0]; unit?.ready; unit = this.queue[0]) {
      this.queue.shift();
      this.deliver(unit);
    }
    const held = this.held;
    if (held && (this.closed || this.hasRoom())) {
      this.held = undefined;
      held();
    }
  }

  private deliver(unit: Unit): void {
    const { host } = this.connection;
    const receiver = this.receiver;
    switch (unit.kind) {
      case 'data':
        this.queued -= unit.bytes.byteLength;
        if (host.vanishesOnArrival(this.connection.serverEndpoint)) return;
        host.delivered(unit.bytes.byteLength);
        receiver.push(unit.bytes);
        return;
      case 'eof':
        receiver.push(null);
        return;
      case 'close':
        // One more turn so a flowing reader sees everything pushed above before it is destroyed.
        setImmediate(() => receiver.destroy());
        return;
    }
  }
}

export interface SocketAddress {
  readonly address: string;
  readonly port: number;
}

/**
 * A socket of the in-memory network. Besides the Duplex API it carries net.Socket-like address
 * fields (`remoteAddress`, `remotePort`, `localAddress`, `localPort`) for logging.
 */
export class MemorySocket extends Duplex {
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;

  constructor(
    private readonly connection: Connection,
    local: SocketAddress,
    remote: SocketAddress,
  ) {
    super({ highWaterMark: connection.host.highWaterMark, allowHalfOpen: connection.host.allowHalfOpen });
    this.localAddress = local.address;
    this.localPort = local.port;
    this.remoteAddress = remote.address;
    this.remotePort = remote.port;
  }

  /** Sequence number of the connection within its network (1-based). */
  get connectionId(): number {
    return this.connection.id;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: WriteCallback): void {
    // Copy: the writer may reuse its buffer as soon as the callback ran, like with a kernel socket.
    this.connection.outbound(this).send(Buffer.from(chunk), callback);
  }

  override _writev(
    chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>,
    callback: WriteCallback,
  ): void {
    // One corked batch is one unit for the fault rules.
    this.connection.outbound(this).send(Buffer.concat(chunks.map((entry) => entry.chunk)), callback);
  }

  override _final(callback: WriteCallback): void {
    this.connection.outbound(this).sendControl('eof');
    callback();
  }

  override _read(): void {
    this.connection.inbound(this).readerReady();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.connection.socketDestroyed(this);
    callback(error);
  }
}

export class Connection {
  readonly client: MemorySocket;
  readonly server: MemorySocket;
  private readonly toServer: Pipe;
  private readonly toClient: Pipe;
  private open = 2;
  private wasReset = false;

  constructor(
    readonly host: ConnectionHost,
    readonly id: number,
    readonly serverEndpoint: Endpoint,
    clientAddress: SocketAddress,
  ) {
    const serverAddress = { address: serverEndpoint.host, port: serverEndpoint.port };
    this.client = new MemorySocket(this, clientAddress, serverAddress);
    this.server = new MemorySocket(this, serverAddress, clientAddress);
    this.toServer = new Pipe(this, 'to-server', this.server);
    this.toClient = new Pipe(this, 'to-client', this.client);
  }

  /** Bytes accepted by the network in either direction and not delivered yet. */
  get bytesInFlight(): number {
    return this.toServer.queuedBytes + this.toClient.queuedBytes;
  }

  outbound(socket: MemorySocket): Pipe {
    return socket === this.client ? this.toServer : this.toClient;
  }

  inbound(socket: MemorySocket): Pipe {
    return socket === this.client ? this.toClient : this.toServer;
  }

  ownerOf(pipe: Pipe): MemorySocket {
    return pipe === this.toServer ? this.client : this.server;
  }

  /**
   * Network-induced reset: everything in flight either way is lost and both sockets are destroyed now
   * (plain 'close'); `except` is left to the caller, which fails its write with ECONNRESET instead.
   */
  reset(except?: MemorySocket): void {
    if (this.wasReset) return;
    this.wasReset = true;
    this.toServer.close(false);
    this.toClient.close(false);
    if (this.client !== except) this.client.destroy();
    if (this.server !== except) this.server.destroy();
  }

  socketDestroyed(socket: MemorySocket): void {
    this.outbound(socket).senderGone();
    this.inbound(socket).close(true);
    if (--this.open === 0) this.host.closed(this);
  }
}
