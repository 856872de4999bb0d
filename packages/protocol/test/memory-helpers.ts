/** Shared helpers of the MemoryNetwork tests. Not a test file itself. */
import type { Duplex } from 'node:stream';
import type { Endpoint } from '../src/errors.js';
import type { MemoryNetwork } from '../src/transport/memory.js';
import type { Transport, TransportListener } from '../src/transport/transport.js';
import { turn, waitFor } from './rpc-helpers.js';

export const A: Endpoint = { host: 'node-a', port: 7000 };
export const B: Endpoint = { host: 'node-b', port: 7000 };

/** Let every already-scheduled delivery happen (nothing in these tests uses a delay > 50 ms). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await turn();
}

export interface Probe {
  readonly chunks: Buffer[];
  readonly errors: Error[];
  readonly events: string[];
  bytes(): Buffer;
  text(): string;
  closed(): boolean;
}

/** Record what a socket emits. `read: false` leaves it paused (no 'data' listener). */
export function probe(socket: Duplex, read = true): Probe {
  const chunks: Buffer[] = [];
  const errors: Error[] = [];
  const events: string[] = [];
  if (read) socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', (error: Error) => {
    errors.push(error);
    events.push('error');
  });
  socket.on('end', () => events.push('end'));
  socket.on('close', () => events.push('close'));
  return {
    chunks,
    errors,
    events,
    bytes: () => Buffer.concat(chunks),
    text: () => Buffer.concat(chunks).toString(),
    closed: () => events.includes('close'),
  };
}

export interface Server {
  readonly listener: TransportListener;
  readonly sockets: Duplex[];
  /** The n-th accepted socket (0-based), waiting for it. */
  accepted(n: number): Promise<Duplex>;
}

export async function serve(
  transport: Transport,
  endpoint: Endpoint,
  onSocket?: (socket: Duplex) => void,
): Promise<Server> {
  const sockets: Duplex[] = [];
  const listener = await transport.listen(endpoint, (socket) => {
    sockets.push(socket);
    onSocket?.(socket);
  });
  return {
    listener,
    sockets,
    accepted: async (n) => {
      await waitFor(() => sockets.length > n, `connection ${n}`);
      return sockets[n]!;
    },
  };
}

export function echo(socket: Duplex): void {
  socket.on('data', (chunk: Buffer) => socket.write(chunk));
  socket.on('error', () => {});
}

/** A connected client/server pair with probes on both ends. */
export async function pair(
  network: MemoryNetwork,
  endpoint: Endpoint = A,
  options: { serverReads?: boolean } = {},
) {
  const transport = network.transport({ host: 'client-1' });
  const server = await serve(transport, endpoint);
  const client = await transport.connect(endpoint);
  const serverSocket = await server.accepted(0);
  return {
    transport,
    server,
    client,
    serverSocket,
    atClient: probe(client),
    atServer: probe(serverSocket, options.serverReads ?? true),
  };
}

export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

export function corkedWrite(socket: Duplex, parts: string[]): void {
  socket.cork();
  for (const part of parts) socket.write(part);
  socket.uncork();
}
