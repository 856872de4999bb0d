import type { Duplex } from 'node:stream';
import type { Endpoint } from '../errors.js';

/**
 * The seam between the RPC layer and the network. The RPC client and server only ever see byte
 * streams (`Duplex`), so tests can replace TCP with the in-memory transport and inject faults
 * deterministically without sockets.
 *
 * Contract every implementation keeps:
 * - `connect` resolves with an open, flowing-capable Duplex, or rejects with `ConnectionRefusedError`
 *   (refused, unknown endpoint, connect timeout, aborted signal -> `RequestAbortedError`).
 * - A socket signals the end of the connection with `'close'` (after `'error'` when it failed).
 * - One `write` (or one corked batch of writes, delivered to `_writev`) is the unit the in-memory
 *   transport's fault rules act on; the RPC layer writes one frame per corked batch.
 */
export interface Transport {
  connect(endpoint: Endpoint, options?: ConnectOptions): Promise<Duplex>;
  listen(endpoint: Endpoint, onConnection: (socket: Duplex) => void): Promise<TransportListener>;
}

export interface ConnectOptions {
  /** Give up connecting after this long (ConnectionRefusedError). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface TransportListener {
  /** The endpoint actually bound (port 0 resolved to the real port). */
  readonly endpoint: Endpoint;
  /** Stop accepting new connections. Existing connections are left to their owner. */
  close(): Promise<void>;
}
