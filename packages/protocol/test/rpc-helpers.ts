/** Shared helpers of the RPC tests (real TCP on 127.0.0.1). Not a test file itself. */
import { once } from 'node:events';
import net from 'node:net';
import type { Endpoint } from '../src/errors.js';
import { encodeFrame, type Frame } from '../src/frame.js';
import type { Logger } from '../src/logger.js';
import { tcpTransport } from '../src/transport/tcp.js';
import type { Transport } from '../src/transport/transport.js';

export const LOCAL = '127.0.0.1';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
export const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Wait (bounded: ~4000 polls) until `condition` holds. */
export async function waitFor(condition: () => boolean, what = 'condition'): Promise<void> {
  for (let i = 0; i < 4000; i++) {
    if (condition()) return;
    await (i < 50 ? turn() : sleep(2));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** The settled outcome of a promise, so a test can assert on a rejection without racing it. */
export async function outcome<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  try {
    return { value: await promise };
  } catch (error) {
    return { error };
  }
}

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  message: string | undefined;
}

export function recordingLogger(): Logger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at =
    (level: LogEntry['level']) =>
    (fields: object, message?: string): void => {
      entries.push({ level, fields: fields as Record<string, unknown>, message });
    };
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** TCP, counting connects, accepted connections and closed listeners. */
export function countingTransport(): Transport & {
  connects: number;
  accepted: number;
  listenersClosed: number;
} {
  const counting = {
    connects: 0,
    accepted: 0,
    listenersClosed: 0,
    connect: (endpoint: Endpoint, options?: Parameters<Transport['connect']>[1]) => {
      counting.connects += 1;
      return tcpTransport.connect(endpoint, options);
    },
    listen: async (endpoint: Endpoint, onConnection: Parameters<Transport['listen']>[1]) => {
      const listener = await tcpTransport.listen(endpoint, (socket) => {
        counting.accepted += 1;
        onConnection(socket);
      });
      return {
        endpoint: listener.endpoint,
        close: async () => {
          await listener.close();
          counting.listenersClosed += 1;
        },
      };
    },
  };
  return counting;
}

export function frameBytes(frame: Frame): Buffer {
  return Buffer.concat(encodeFrame(frame));
}

export const text = (value: string): Uint8Array => new TextEncoder().encode(value);
export const str = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** A raw TCP client socket with its 'close' observed (and errors swallowed). */
export async function rawConnect(endpoint: Endpoint): Promise<{ socket: net.Socket; closed: Promise<void> }> {
  const socket = net.connect({ host: endpoint.host, port: endpoint.port });
  socket.on('error', () => {});
  const closed = once(socket, 'close').then(() => undefined);
  await once(socket, 'connect');
  return { socket, closed };
}

/** A free port (bound then released); connecting to it is refused. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, LOCAL);
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
