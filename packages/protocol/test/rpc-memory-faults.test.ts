import { afterEach, describe, expect, it } from 'vitest';
import {
  ConnectionClosedError,
  ConnectionRefusedError,
  type Endpoint,
  ProtocolError,
  RequestTimeoutError,
} from '../src/errors.js';
import { FRAME_PREFIX_BYTES } from '../src/frame.js';
import { RpcClient, type RpcClientOptions } from '../src/rpc/client.js';
import { RpcServer } from '../src/rpc/server.js';
import { MemoryNetwork, type MemoryNetworkOptions } from '../src/transport/memory.js';

/**
 * The RPC client and server over the in-memory network, with faults injected at the transport seam:
 * every request and response frame is one unit for the fault rules.
 */

const A: Endpoint = { host: 'node-a', port: 6667 };
const B: Endpoint = { host: 'node-b', port: 6667 };

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Cluster {
  readonly network: MemoryNetwork;
  /** Requests each server's handler has seen, by endpoint host. */
  readonly handled: Record<string, string[]>;
  /** Remote addresses the servers saw. */
  readonly remotes: Set<string>;
  client(options?: RpcClientOptions): RpcClient;
}

async function cluster(options: MemoryNetworkOptions = {}): Promise<Cluster> {
  const network = new MemoryNetwork(options);
  const handled: Record<string, string[]> = {};
  const remotes = new Set<string>();
  for (const endpoint of [A, B]) {
    const seen: string[] = (handled[endpoint.host] = []);
    const server = new RpcServer({
      transport: network.transport({ host: endpoint.host }),
      handler: async (request, context) => {
        seen.push(Buffer.from(request.payload).toString());
        remotes.add(context.remote);
        return {
          header: request.header,
          payload: Buffer.concat([Buffer.from(`${endpoint.host}:`), request.payload]),
        };
      },
    });
    expect(await server.listen(endpoint)).toEqual(endpoint);
    cleanups.push(() => server.close({ timeoutMs: 100 }));
  }
  return {
    network,
    handled,
    remotes,
    client: (clientOptions = {}) => {
      const client = new RpcClient({
        transport: network.transport({ host: 'router' }),
        connectionsPerEndpoint: 1,
        requestTimeoutMs: 2000,
        connectTimeoutMs: 50,
        ...clientOptions,
      });
      cleanups.push(() => client.close());
      return client;
    },
  };
}

async function call(
  client: RpcClient,
  endpoint: Endpoint,
  text: string,
  timeoutMs?: number,
): Promise<string> {
  const reply = await client.request(
    endpoint,
    { header: Buffer.from(`h-${text}`), payload: Buffer.from(text) },
    timeoutMs === undefined ? {} : { timeoutMs },
  );
  expect(Buffer.from(reply.header).toString()).toBe(`h-${text}`);
  return Buffer.from(reply.payload).toString();
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the request to fail');
}

describe('RPC over the in-memory network', () => {
  it('round-trips requests, the server sees the client machine as remote', async () => {
    const { client: makeClient, remotes, network } = await cluster();
    const client = makeClient();
    expect(await call(client, A, 'one')).toBe('node-a:one');
    expect(await call(client, B, 'two')).toBe('node-b:two');
    expect([...remotes].every((remote) => remote.startsWith('router:'))).toBe(true);
    expect(network.stats.connections).toBe(2);
  });

  it('a dropped request times out and the next request succeeds on the same connection', async () => {
    const { client: makeClient, network, handled } = await cluster();
    const client = makeClient();
    expect(await call(client, A, 'warm-up')).toBe('node-a:warm-up');
    network.addFault({ endpoint: A, direction: 'to-server', nth: 1, action: { kind: 'drop' } });
    const error = await failure(call(client, A, 'lost', 50));
    expect(error).toBeInstanceOf(RequestTimeoutError);
    expect(await call(client, A, 'next')).toBe('node-a:next');
    expect(handled['node-a']).toEqual(['warm-up', 'next']);
    expect(network.stats.connections).toBe(1);
  });

  it('a dropped response times out too, although the server handled the request', async () => {
    const { client: makeClient, network, handled } = await cluster();
    const client = makeClient();
    network.addFault({ endpoint: A, direction: 'to-client', nth: 1, action: { kind: 'drop' } });
    expect(await failure(call(client, A, 'unanswered', 50))).toBeInstanceOf(RequestTimeoutError);
    expect(handled['node-a']).toEqual(['unanswered']);
    expect(await call(client, A, 'again')).toBe('node-a:again');
  });

  it('a disconnect on the request fails it with ConnectionClosedError; the client reconnects', async () => {
    const { client: makeClient, network, handled } = await cluster();
    const client = makeClient();
    expect(await call(client, A, 'warm-up')).toBe('node-a:warm-up');
    network.addFault({ endpoint: A, direction: 'to-server', nth: 1, action: { kind: 'disconnect' } });
    expect(await failure(call(client, A, 'reset'))).toBeInstanceOf(ConnectionClosedError);
    expect(await call(client, A, 'after')).toBe('node-a:after');
    expect(handled['node-a']).toEqual(['warm-up', 'after']);
    expect(network.stats).toMatchObject({ connections: 2, faultsInjected: { disconnect: 1 } });
  });

  it('a disconnect on the response fails the request with ConnectionClosedError', async () => {
    const { client: makeClient, network } = await cluster();
    const client = makeClient();
    network.addFault({ endpoint: A, direction: 'to-client', nth: 1, action: { kind: 'disconnect' } });
    expect(await failure(call(client, A, 'handled-but-lost'))).toBeInstanceOf(ConnectionClosedError);
    expect(await call(client, A, 'after')).toBe('node-a:after');
  });

  it('a corrupted response byte fails with ProtocolError (frame checksum); the client recovers', async () => {
    const { client: makeClient, network } = await cluster();
    const client = makeClient();
    // The first byte of the response's protobuf header: covered by the frame checksum.
    network.addFault({
      endpoint: A,
      direction: 'to-client',
      nth: 1,
      action: { kind: 'corrupt', byteOffset: FRAME_PREFIX_BYTES },
    });
    const error = await failure(call(client, A, 'garbled'));
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as Error).message).toMatch(/checksum/);
    expect(await call(client, A, 'clean')).toBe('node-a:clean');
    expect(network.stats.connections).toBe(2);
  });

  it('a corrupted request makes the server drop the connection; the client sees it closed', async () => {
    const { client: makeClient, network, handled } = await cluster();
    const client = makeClient();
    network.addFault({ endpoint: A, direction: 'to-server', nth: 1, action: { kind: 'corrupt' } });
    expect(await failure(call(client, A, 'garbled-request'))).toBeInstanceOf(ConnectionClosedError);
    expect(handled['node-a']).toEqual([]);
    expect(await call(client, A, 'clean')).toBe('node-a:clean');
  });

  it('delayed responses (reordered across requests) still reach the right callers', async () => {
    const { client: makeClient, network } = await cluster();
    const client = makeClient();
    network.addFault({ endpoint: A, direction: 'to-client', every: 3, action: { kind: 'delay', ms: 20 } });
    network.addFault({
      endpoint: B,
      direction: 'to-client',
      probability: 0.5,
      action: { kind: 'delay', ms: 5 },
    });
    const texts = Array.from({ length: 30 }, (_, i) => `req-${i}`);
    const replies = await Promise.all(texts.map((text, i) => call(client, i % 2 === 0 ? A : B, text)));
    expect(replies).toEqual(texts.map((text, i) => `${i % 2 === 0 ? 'node-a' : 'node-b'}:${text}`));
    expect(network.stats.faultsInjected.delay).toBeGreaterThan(5);
  });

  it('a blackholed server times out and refuses while a second server keeps answering', async () => {
    const { client: makeClient, network } = await cluster();
    const client = makeClient();
    expect(await call(client, A, 'warm-up')).toBe('node-a:warm-up');
    network.blackhole(A, true);

    // The open connection stays open, the request vanishes: timeout. B answers meanwhile.
    const [toA, toB] = await Promise.allSettled([
      call(client, A, 'into the void', 100),
      call(client, B, 'fine'),
    ]);
    expect(toA.status === 'rejected' && toA.reason).toBeInstanceOf(RequestTimeoutError);
    expect(toB).toEqual({ status: 'fulfilled', value: 'node-b:fine' });

    // A client without a connection cannot even connect: the connect times out.
    const fresh = makeClient();
    expect(await failure(call(fresh, A, 'cannot connect'))).toBeInstanceOf(ConnectionRefusedError);
    expect(await call(fresh, B, 'still fine')).toBe('node-b:still fine');

    network.blackhole(A, false);
    expect(await call(client, A, 'back')).toBe('node-a:back');
    expect(network.stats.faultsInjected.blackhole).toBe(1);
  });

  it('is reproducible: the same seed drops the same requests of the same run', async () => {
    const run = async (seed: number) => {
      const { client: makeClient, network } = await cluster({ seed });
      const client = makeClient();
      network.addFault({ direction: 'to-server', probability: 0.2, action: { kind: 'drop' } });
      const outcomes: string[] = [];
      for (let i = 0; i < 30; i++) {
        try {
          outcomes.push(await call(client, i % 2 === 0 ? A : B, `r${i}`, 30));
        } catch (error) {
          expect(error).toBeInstanceOf(RequestTimeoutError);
          outcomes.push('timeout');
        }
      }
      return outcomes;
    };
    const first = await run(2024);
    expect(await run(2024)).toEqual(first);
    const timeouts = first.filter((outcome) => outcome === 'timeout').length;
    expect(timeouts).toBeGreaterThan(0);
    expect(timeouts).toBeLessThan(20);
    expect(
      first.filter((outcome) => outcome !== 'timeout').every((outcome) => /^node-[ab]:r\d+$/.test(outcome)),
    ).toBe(true);
  });
});
