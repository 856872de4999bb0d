/** Servers, clients and handlers shared by the RPC-over-TCP tests; `closeAll` stops what they started. */
import type net from 'node:net';
import { expect } from 'vitest';
import type { Endpoint } from '../src/errors.js';
import { RpcClient, type RpcClientOptions, type RpcMessage, type RpcReply } from '../src/rpc/client.js';
import {
  type RpcHandler,
  type RpcRequestContext,
  RpcServer,
  type RpcServerOptions,
} from '../src/rpc/server.js';
import { type Deferred, deferred, LOCAL, str, text } from './rpc-helpers.js';

export const servers: RpcServer[] = [];
export const clients: RpcClient[] = [];
export const sockets: net.Socket[] = [];
export const rawServers: net.Server[] = [];

/** Stops every client, socket and server the fixtures started; run after each test. */
export async function closeAll(): Promise<void> {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(servers.splice(0).map((server) => server.close({ timeoutMs: 200 })));
  await Promise.all(
    rawServers.splice(0).map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
  );
}

export async function startServer(
  options: RpcServerOptions,
): Promise<{ server: RpcServer; endpoint: Endpoint }> {
  const server = new RpcServer(options);
  servers.push(server);
  const endpoint = await server.listen({ host: LOCAL, port: 0 });
  return { server, endpoint };
}

export function newClient(options: RpcClientOptions = {}): RpcClient {
  const client = new RpcClient(options);
  clients.push(client);
  return client;
}

/** Echo: header unchanged, payload reversed. */
export const echo = async (request: RpcReply): Promise<RpcMessage> => ({
  header: request.header,
  payload: Buffer.from(request.payload).reverse(),
});

/** A handler holding requests whose header is `hold` until the test releases them. */
export function holdingHandler() {
  const held: Array<{ request: RpcReply; context: RpcRequestContext; release: Deferred<void> }> = [];
  let seen = 0;
  const handler: RpcHandler = async (request, context) => {
    seen += 1;
    if (str(request.header) === 'hold') {
      const release = deferred();
      held.push({ request, context, release });
      await release.promise;
      return { header: text('released') };
    }
    return echo(request);
  };
  return {
    handler,
    held,
    seen: () => seen,
    releaseAll: () => {
      for (const entry of held.splice(0)) entry.release.resolve();
    },
  };
}

export async function expectEcho(client: RpcClient, endpoint: Endpoint, label: string): Promise<void> {
  const reply = await client.request(endpoint, { header: text(label), payload: text(`${label}-payload`) });
  expect(str(reply.header)).toBe(label);
  expect(str(reply.payload)).toBe([...`${label}-payload`].reverse().join(''));
}

/** Tag byte of the 10k test: depends on header and payload. */
export function tagOf(header: Uint8Array, payload: Uint8Array): number {
  let sum = header.byteLength * 31;
  for (const byte of header) sum = (sum + byte) % 251;
  for (let i = 0; i < payload.byteLength; i += 997) sum = (sum * 7 + payload[i]!) % 251;
  return sum;
}
