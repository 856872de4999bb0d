/**
 * A TCP proxy in front of one datanode, so the fault matrix can break the network between the frontend
 * and that node while the datanodes keep talking to each other directly. Modes:
 * - `pass`: bytes flow both ways untouched;
 * - `delay`: every chunk, both ways, is held for `ms` before it is written (order kept): a slow node;
 * - `drop`: open connections are reset and new ones are reset as soon as they are accepted;
 * - `blackhole`: connections are accepted and kept, and nothing is forwarded either way (a node that
 *   stopped answering without closing anything).
 * Leaving `drop` or `blackhole` resets the connections that lived through it: their byte streams lost
 * frames, so no client could trust them again (what a real network partition does to TCP sessions).
 */
import net from 'node:net';

export type ProxyMode =
  | { readonly kind: 'pass' }
  | { readonly kind: 'delay'; readonly ms: number }
  | { readonly kind: 'drop' }
  | { readonly kind: 'blackhole' };

export interface ProxyCounts {
  accepted: number;
  /** Connections this proxy reset (drop mode, or leaving a broken mode). */
  reset: number;
  bytesForwarded: number;
  /** Bytes swallowed in blackhole mode. */
  bytesSwallowed: number;
}

interface Pair {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  /** Set when the pair lived through drop or blackhole. */
  broken: boolean;
}

export class MatrixProxy {
  readonly counts: ProxyCounts = { accepted: 0, reset: 0, bytesForwarded: 0, bytesSwallowed: 0 };
  #mode: ProxyMode = { kind: 'pass' };
  readonly #pairs = new Set<Pair>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    private readonly target: { readonly host: string; readonly port: number },
  ) {
    server.on('connection', (client) => this.#accept(client));
  }

  /** Listens on a free port of 127.0.0.1 and forwards to `target`. */
  static async start(target: { host: string; port: number }): Promise<MatrixProxy> {
    const server = net.createServer({ noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const port = (server.address() as net.AddressInfo).port;
    return new MatrixProxy(server, port, target);
  }

  get mode(): ProxyMode {
    return this.#mode;
  }

  get openConnections(): number {
    return this.#pairs.size;
  }

  setMode(mode: ProxyMode): void {
    if (mode.kind === 'delay' && !(Number.isFinite(mode.ms) && mode.ms >= 0)) {
      throw new RangeError(`delay must be a non-negative number of ms, got ${mode.ms}`);
    }
    this.#mode = mode;
    for (const pair of [...this.#pairs]) {
      if (mode.kind === 'drop') this.#reset(pair);
      else if (mode.kind === 'blackhole') pair.broken = true;
      else if (pair.broken) this.#reset(pair);
    }
  }

  async close(): Promise<void> {
    for (const pair of [...this.#pairs]) this.#reset(pair);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #accept(client: net.Socket): void {
    this.counts.accepted++;
    client.setNoDelay(true);
    if (this.#mode.kind === 'drop') {
      this.counts.reset++;
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect({ host: this.target.host, port: this.target.port, noDelay: true });
    const pair: Pair = { client, upstream, broken: this.#mode.kind === 'blackhole' };
    this.#pairs.add(pair);
    const end = () => {
      if (!this.#pairs.delete(pair)) return;
      client.destroy();
      upstream.destroy();
    };
    // Either side failing or closing ends both: the proxy holds no half-open pair.
    for (const socket of [client, upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
    this.#pipe(pair, client, upstream);
    this.#pipe(pair, upstream, client);
  }

  /** Forwards `from` to `to` under the mode in force when each chunk arrives. */
  #pipe(pair: Pair, from: net.Socket, to: net.Socket): void {
    // Delayed chunks wait in order: each is written no earlier than the one before it.
    let chain = Promise.resolve();
    from.on('data', (chunk: Buffer) => {
      const mode = this.#mode;
      if (mode.kind === 'blackhole' || mode.kind === 'drop' || pair.broken) {
        this.counts.bytesSwallowed += chunk.length;
        return;
      }
      const write = () => {
        if (pair.broken || to.destroyed) return;
        this.counts.bytesForwarded += chunk.length;
        to.write(chunk);
      };
      if (mode.kind === 'delay' && mode.ms > 0) {
        const due = Date.now() + mode.ms;
        chain = chain.then(
          () => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, due - Date.now()))),
        );
        void chain.then(write);
      } else {
        // A chunk that arrives in pass mode still queues behind chunks delayed before the switch.
        void chain.then(write);
      }
    });
  }

  #reset(pair: Pair): void {
    if (!this.#pairs.delete(pair)) return;
    this.counts.reset++;
    pair.client.resetAndDestroy();
    pair.upstream.destroy();
  }
}
