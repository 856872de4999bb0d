import type { Duplex } from 'node:stream';
import {
  ConnectionRefusedError,
  type Endpoint,
  formatEndpoint,
  InvalidArgumentError,
  RequestAbortedError,
  TransportError,
} from '../errors.js';
import {
  ActiveRule,
  deriveSeed,
  type FaultKind,
  type FaultRule,
  mulberry32,
  type UnitDirection,
} from './memory-faults.js';
import { Connection, type ConnectionHost, type Verdict } from './memory-socket.js';
import type { ConnectOptions, Transport, TransportListener } from './transport.js';

export type { FaultAction, FaultDirection, FaultKind, FaultRule } from './memory-faults.js';
export type { MemorySocket } from './memory-socket.js';

/**
 * An in-memory network for tests: every `transport()` is a machine on it, servers listen on
 * endpoints, clients connect, and bytes travel through the network where faults are injected
 * deterministically (seeded, through the Transport seam, not mocks).
 *
 * Semantics:
 * - A *unit* is one `write()` or one corked batch (one `_writev` call, chunks concatenated). Fault
 *   rules are judged when the unit is written, in the order rules were added; every matching rule
 *   counts the unit (units swallowed by a blackhole are not counted; a corrupt rule does not match
 *   units shorter than byteOffset + 1). Precedence when several fire: disconnect > drop > (corrupt
 *   and delay combine).
 *   Each rule draws from its own PRNG derived from the network seed and the rule's sequence number,
 *   so the same seed + the same sequence of writes + the same rules give the same faults.
 *   While the writer is backpressured, Node coalesces the writes it buffers into one `_writev`, so
 *   they form one unit (as TCP would coalesce them into one segment).
 * - Delivery is asynchronous (next `setImmediate`, or after latency + delay via `setTimeout`) and in
 *   order per connection and direction: a delayed unit holds back every later unit of its direction.
 * - `end()` half-closes: the peer gets 'end' after everything written before. With the default
 *   `allowHalfOpen: false` (like `net`), the peer then ends its side too and both sockets close.
 * - `destroy()` on one end is an orderly teardown: units already written still reach the peer (with
 *   their delays), then the peer is destroyed ('close', no 'error'); data the peer has not read by
 *   then is discarded. Units written by the peer meanwhile vanish. The teardown is never blackholed.
 * - Network-induced resets (a `disconnect` fault, `disconnectAll`) drop everything in flight both
 *   ways and destroy both ends at once. With a `disconnect` fault the writing socket's write fails
 *   with a ConnectionClosedError with `code: 'ECONNRESET'` (so it emits 'error' then 'close'); the
 *   other end, and both ends under `disconnectAll`, just emit 'close'.
 * - `blackhole(endpoint)`: data units to and from that server vanish, whether written while it is
 *   blackholed or still in flight when it becomes blackholed; connections stay open (end/destroy
 *   still propagate). New connects to it hang until their timeout (ConnectionRefusedError) or abort,
 *   or complete normally once the blackhole is lifted.
 * - Endpoints match exactly by host string and port ('127.0.0.1' is not 'localhost').
 */

export interface MemoryNetworkOptions {
  /** Seed of the PRNG behind probabilistic faults and default corrupt offsets. Default 1. */
  readonly seed?: number;
  /** High-water mark of each socket's buffers and of each direction of a connection. Default 1 MiB. */
  readonly highWaterMark?: number;
  /** Like `net`'s option: when false (default) a socket ends its side when the peer ended. */
  readonly allowHalfOpen?: boolean;
  /** First port handed out for listen on port 0. Default 40000. */
  readonly firstPort?: number;
}

export interface MemoryTransportOptions {
  /** This machine's address, reported as `localAddress` / the server's `remoteAddress`. Default 'memory'. */
  readonly host?: string;
}

export interface MemoryNetworkStats {
  /** Connections ever established. */
  readonly connections: number;
  /** Connections with at least one socket not destroyed yet. */
  readonly activeConnections: number;
  /** Data units pushed to a receiving socket. */
  readonly unitsDelivered: number;
  readonly bytesDelivered: number;
  /** Bytes accepted from writers and not delivered yet (bounded by backpressure). */
  readonly bytesInFlight: number;
  /** Faults that took effect, per kind; 'blackhole' counts data units that vanished in a blackhole. */
  readonly faultsInjected: Readonly<Record<FaultKind, number>>;
}

const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;
const FIRST_EPHEMERAL_PORT = 50000;
const MAX_PORT = 65535;

interface ListenerRecord {
  readonly endpoint: Endpoint;
  readonly onConnection: (socket: Duplex) => void;
}

function checkEndpoint(endpoint: Endpoint, allowZero: boolean): void {
  const { host, port } = endpoint;
  if (typeof host !== 'string' || host.length === 0)
    throw new InvalidArgumentError('endpoint host must be a non-empty string');
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > MAX_PORT) {
    throw new InvalidArgumentError(`endpoint port ${port} out of range`);
  }
}

export class MemoryNetwork {
  readonly highWaterMark: number;
  readonly allowHalfOpen: boolean;
  private readonly seed: number;
  private readonly firstPort: number;
  private readonly listeners = new Map<string, ListenerRecord>();
  private readonly live = new Map<string, Set<Connection>>();
  /** Connect attempts parked on a blackholed endpoint, retried when it is lifted. */
  private readonly parked = new Map<string, Set<() => void>>();
  private readonly blackholed = new Set<string>();
  private readonly latencies = new Map<string, number>();
  private rules: ActiveRule[] = [];
  private rulesAdded = 0;
  private nextPort: number;
  private nextEphemeralPort = FIRST_EPHEMERAL_PORT;
  private connectionCount = 0;
  private units = 0;
  private bytes = 0;
  private readonly faults: Record<FaultKind, number> = {
    drop: 0,
    delay: 0,
    disconnect: 0,
    corrupt: 0,
    blackhole: 0,
  };
  private readonly host: ConnectionHost;

  constructor(options: MemoryNetworkOptions = {}) {
    const seed = options.seed ?? 1;
    if (!Number.isSafeInteger(seed))
      throw new InvalidArgumentError(`seed must be a safe integer, got ${seed}`);
    const hwm = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    if (!Number.isSafeInteger(hwm) || hwm < 1)
      throw new InvalidArgumentError(`highWaterMark must be >= 1, got ${hwm}`);
    const firstPort = options.firstPort ?? 40000;
    if (!Number.isInteger(firstPort) || firstPort < 1 || firstPort > MAX_PORT) {
      throw new InvalidArgumentError(`firstPort ${firstPort} out of range`);
    }
    this.seed = seed;
    this.highWaterMark = hwm;
    this.allowHalfOpen = options.allowHalfOpen ?? false;
    this.firstPort = firstPort;
    this.nextPort = firstPort;
    this.host = {
      highWaterMark: hwm,
      allowHalfOpen: this.allowHalfOpen,
      judge: (connection, direction, unit) => this.judge(connection.serverEndpoint, direction, unit),
      latencyOf: (server) => this.latencies.get(formatEndpoint(server)) ?? 0,
      vanishesOnArrival: (server) => {
        if (!this.blackholed.has(formatEndpoint(server))) return false;
        this.faults.blackhole++;
        return true;
      },
      delivered: (bytes) => {
        this.units++;
        this.bytes += bytes;
      },
      closed: (connection) => {
        const key = formatEndpoint(connection.serverEndpoint);
        const set = this.live.get(key);
        set?.delete(connection);
        if (set?.size === 0) this.live.delete(key);
      },
    };
  }

  /** A machine on this network. `host` names it in socket addresses. */
  transport(options: MemoryTransportOptions = {}): Transport {
    const host = options.host ?? 'memory';
    return {
      connect: (endpoint, connectOptions) => this.connect(endpoint, connectOptions ?? {}, host),
      listen: (endpoint, onConnection) => this.listen(endpoint, onConnection),
    };
  }

  /** Add a fault rule; returns a function removing it. Throws RangeError on an invalid rule. */
  addFault(rule: FaultRule): () => void {
    const active = new ActiveRule(rule, mulberry32(deriveSeed(this.seed, this.rulesAdded++)));
    this.rules.push(active);
    return () => {
      active.removed = true;
      this.rules = this.rules.filter((r) => r !== active);
    };
  }

  clearFaults(): void {
    for (const rule of this.rules) rule.removed = true;
    this.rules = [];
  }

  /**
   * Partition a server: data units to and from it vanish (also those already in flight), its
   * connections stay open, new connects hang (until their timeout/abort, or until lifted).
   */
  blackhole(endpoint: Endpoint, on: boolean): void {
    const key = formatEndpoint(endpoint);
    if (on) {
      this.blackholed.add(key);
      return;
    }
    this.blackholed.delete(key);
    const waiting = this.parked.get(key);
    this.parked.delete(key);
    for (const retry of waiting ?? []) retry();
  }

  /** Reset every live connection to `endpoint` (every connection when omitted) now. */
  disconnectAll(endpoint?: Endpoint): void {
    const sets = endpoint ? [this.live.get(formatEndpoint(endpoint))] : [...this.live.values()];
    for (const set of sets) for (const connection of [...(set ?? [])]) connection.reset();
  }

  /** Fixed latency added to every unit to and from `endpoint`, and to connecting to it (0 = none). */
  setLatency(endpoint: Endpoint, ms: number): void {
    if (!(Number.isFinite(ms) && ms >= 0))
      throw new InvalidArgumentError(`latency must be a finite number >= 0, got ${ms}`);
    const key = formatEndpoint(endpoint);
    if (ms === 0) this.latencies.delete(key);
    else this.latencies.set(key, ms);
  }

  /** A snapshot of the counters. */
  get stats(): MemoryNetworkStats {
    let active = 0;
    let inFlight = 0;
    for (const set of this.live.values()) {
      active += set.size;
      for (const connection of set) inFlight += connection.bytesInFlight;
    }
    return {
      connections: this.connectionCount,
      activeConnections: active,
      unitsDelivered: this.units,
      bytesDelivered: this.bytes,
      bytesInFlight: inFlight,
      faultsInjected: { ...this.faults },
    };
  }

  private judge(server: Endpoint, direction: UnitDirection, unit: Buffer): Verdict {
    const key = formatEndpoint(server);
    if (this.blackholed.has(key)) {
      this.faults.blackhole++;
      return { kind: 'vanish' };
    }
    let drop = false;
    let disconnect = false;
    let delays = 0;
    let delayMs = this.latencies.get(key) ?? 0;
    const corruptions: number[] = [];
    for (const active of this.rules) {
      if (!active.consider(server, direction, unit.byteLength)) continue;
      const { action } = active.rule;
      switch (action.kind) {
        case 'drop':
          drop = true;
          break;
        case 'disconnect':
          disconnect = true;
          break;
        case 'delay':
          delays++;
          delayMs += action.ms;
          break;
        case 'corrupt':
          corruptions.push(action.byteOffset ?? Math.floor(active.random() * unit.byteLength));
          break;
      }
    }
    if (disconnect) {
      this.faults.disconnect++;
      return { kind: 'disconnect' };
    }
    if (drop) {
      this.faults.drop++;
      return { kind: 'vanish' };
    }
    for (const offset of corruptions) unit[offset] = unit[offset]! ^ 0xff;
    this.faults.corrupt += corruptions.length;
    this.faults.delay += delays;
    return { kind: 'deliver', delayMs };
  }

  private async listen(
    endpoint: Endpoint,
    onConnection: (socket: Duplex) => void,
  ): Promise<TransportListener> {
    checkEndpoint(endpoint, true);
    const bound = {
      host: endpoint.host,
      port: endpoint.port === 0 ? this.allocatePort(endpoint.host) : endpoint.port,
    };
    const key = formatEndpoint(bound);
    if (this.listeners.has(key)) {
      throw Object.assign(new TransportError('address already in use', bound), { code: 'EADDRINUSE' });
    }
    const record: ListenerRecord = { endpoint: bound, onConnection };
    this.listeners.set(key, record);
    return {
      endpoint: bound,
      close: async () => {
        if (this.listeners.get(key) === record) this.listeners.delete(key);
      },
    };
  }

  private allocatePort(host: string): number {
    for (let tries = 0; tries <= MAX_PORT - this.firstPort; tries++) {
      const port = this.nextPort;
      this.nextPort = port >= MAX_PORT ? this.firstPort : port + 1;
      if (!this.listeners.has(formatEndpoint({ host, port }))) return port;
    }
    throw new TransportError('no free port', { host, port: 0 });
  }

  private connect(endpoint: Endpoint, options: ConnectOptions, localHost: string): Promise<Duplex> {
    return new Promise<Duplex>((resolve, reject) => {
      const { signal, timeoutMs } = options;
      if (signal?.aborted) return reject(new RequestAbortedError({ cause: signal.reason }));
      if (timeoutMs !== undefined && !(timeoutMs >= 0)) {
        return reject(new InvalidArgumentError(`connect timeoutMs must be >= 0, got ${timeoutMs}`));
      }
      const key = formatEndpoint(endpoint);
      let settled = false;
      let timeout: NodeJS.Timeout | undefined;
      let cancelArrival: (() => void) | undefined;

      const finish = (): boolean => {
        if (settled) return false;
        settled = true;
        if (timeout) clearTimeout(timeout);
        cancelArrival?.();
        signal?.removeEventListener('abort', onAbort);
        this.parked.get(key)?.delete(send);
        return true;
      };
      const fail = (error: Error): void => {
        if (finish()) reject(error);
      };
      const onAbort = (): void => fail(new RequestAbortedError({ cause: signal?.reason }));

      // The SYN reaching the endpoint.
      const attempt = (): void => {
        cancelArrival = undefined;
        if (settled) return;
        if (this.blackholed.has(key)) {
          let waiting = this.parked.get(key);
          if (!waiting) this.parked.set(key, (waiting = new Set()));
          waiting.add(send);
          return;
        }
        const listener = this.listeners.get(key);
        if (!listener) {
          fail(new ConnectionRefusedError('connection refused', endpoint));
          return;
        }
        finish();
        const connection = this.open(listener.endpoint, localHost);
        resolve(connection.client);
        listener.onConnection(connection.server);
      };
      const send = (): void => {
        this.parked.get(key)?.delete(send);
        const latency = this.latencies.get(key) ?? 0;
        if (latency > 0) {
          const timer = setTimeout(attempt, latency);
          cancelArrival = () => clearTimeout(timer);
        } else {
          const immediate = setImmediate(attempt);
          cancelArrival = () => clearImmediate(immediate);
        }
      };

      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== undefined) {
        timeout = setTimeout(
          () => fail(new ConnectionRefusedError(`connect timed out after ${timeoutMs} ms`, endpoint)),
          timeoutMs,
        );
      }
      send();
    });
  }

  private open(server: Endpoint, localHost: string): Connection {
    const port = this.nextEphemeralPort;
    this.nextEphemeralPort = port >= MAX_PORT ? FIRST_EPHEMERAL_PORT : port + 1;
    const connection = new Connection(this.host, ++this.connectionCount, server, {
      address: localHost,
      port,
    });
    const key = formatEndpoint(server);
    let set = this.live.get(key);
    if (!set) this.live.set(key, (set = new Set()));
    set.add(connection);
    return connection;
  }
}
