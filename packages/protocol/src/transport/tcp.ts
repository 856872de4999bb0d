import net from 'node:net';
import type { Duplex } from 'node:stream';
import {
  ConnectionRefusedError,
  type Endpoint,
  InvalidArgumentError,
  RequestAbortedError,
  TransportError,
} from '../errors.js';
import type { ConnectOptions, Transport, TransportListener } from './transport.js';

export interface TcpTransportOptions {
  /** Disable Nagle's algorithm on every socket (default true: frames are small and latency matters). */
  readonly noDelay?: boolean;
  /** Enable TCP keep-alive with this initial delay, in milliseconds (default: off). */
  readonly keepAliveMs?: number;
}

/**
 * The production Transport: plain TCP through `node:net`. Sockets are handed to the caller as they
 * are; the caller owns them (and must listen for 'error'). Listener errors after binding (EMFILE on
 * accept, ...) are swallowed here: a bad peer or a full fd table must never crash the process.
 */
export function createTcpTransport(options: TcpTransportOptions = {}): Transport {
  const noDelay = options.noDelay ?? true;
  const keepAliveMs = options.keepAliveMs;
  if (keepAliveMs !== undefined && (!Number.isFinite(keepAliveMs) || keepAliveMs < 0)) {
    throw new InvalidArgumentError(`keepAliveMs ${keepAliveMs} must be a non-negative number`);
  }

  const configure = (socket: net.Socket): void => {
    socket.setNoDelay(noDelay);
    if (keepAliveMs !== undefined) socket.setKeepAlive(true, keepAliveMs);
  };

  return {
    connect(endpoint: Endpoint, connectOptions: ConnectOptions = {}): Promise<Duplex> {
      const { timeoutMs, signal } = connectOptions;
      if (!isPort(endpoint.port)) {
        return Promise.reject(new ConnectionRefusedError(`invalid port ${endpoint.port}`, endpoint));
      }
      return new Promise<Duplex>((resolve, reject) => {
        if (signal?.aborted) {
          reject(new RequestAbortedError({ cause: signal.reason }));
          return;
        }
        const socket = net.connect({ host: endpoint.host, port: endpoint.port });
        let timer: NodeJS.Timeout | undefined;
        const cleanup = (): void => {
          if (timer) clearTimeout(timer);
          socket.off('connect', onConnect);
          socket.off('error', onError);
          signal?.removeEventListener('abort', onAbort);
        };
        const fail = (error: Error): void => {
          cleanup();
          // Keep a listener: destroy() may still surface a late error on this socket.
          socket.on('error', ignore);
          socket.destroy();
          reject(error);
        };
        const onConnect = (): void => {
          cleanup();
          configure(socket);
          resolve(socket);
        };
        const onError = (error: NodeJS.ErrnoException): void => {
          fail(
            new ConnectionRefusedError(`cannot connect: ${error.code ?? error.message}`, endpoint, {
              cause: error,
            }),
          );
        };
        const onAbort = (): void => {
          fail(new RequestAbortedError({ cause: signal?.reason }));
        };
        socket.once('connect', onConnect);
        socket.once('error', onError);
        signal?.addEventListener('abort', onAbort, { once: true });
        if (timeoutMs !== undefined) {
          timer = setTimeout(
            () => fail(new ConnectionRefusedError(`connect timed out after ${timeoutMs} ms`, endpoint)),
            Math.min(Math.max(timeoutMs, 0), MAX_TIMER_MS),
          );
        }
      });
    },

    listen(endpoint: Endpoint, onConnection: (socket: Duplex) => void): Promise<TransportListener> {
      if (!isPort(endpoint.port)) {
        return Promise.reject(new TransportError(`cannot listen on invalid port ${endpoint.port}`, endpoint));
      }
      return new Promise<TransportListener>((resolve, reject) => {
        const server = net.createServer((socket) => {
          configure(socket);
          onConnection(socket);
        });
        const onListenError = (error: NodeJS.ErrnoException): void => {
          server.close();
          reject(
            new TransportError(`cannot listen: ${error.code ?? error.message}`, endpoint, { cause: error }),
          );
        };
        server.once('error', onListenError);
        server.listen({ host: endpoint.host, port: endpoint.port }, () => {
          server.off('error', onListenError);
          server.on('error', ignore);
          const address = server.address();
          const bound: Endpoint =
            address !== null && typeof address === 'object'
              ? { host: address.address, port: address.port }
              : { host: endpoint.host, port: endpoint.port };
          let closed: Promise<void> | undefined;
          resolve({
            endpoint: bound,
            close(): Promise<void> {
              closed ??= new Promise<void>((done) => {
                // server.close() stops accepting at once; its callback would wait for every open
                // connection, which belongs to the owner. Resolve once the listening handle is gone.
                server.close();
                setImmediate(done);
              });
              return closed;
            },
          });
        });
      });
    },
  };
}

function ignore(): void {}

/** setTimeout fires at once for delays above a signed 32-bit millisecond count. */
const MAX_TIMER_MS = 0x7fff_ffff;

/** TCP with the defaults (no Nagle, no keep-alive). */
export const tcpTransport: Transport = createTcpTransport();

function isPort(port: number): boolean {
  return Number.isInteger(port) && port >= 0 && port <= 65_535;
}
