import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  ConnectionClosedError,
  ConnectionRefusedError,
  type Endpoint,
  InvalidArgumentError,
  RequestAbortedError,
  TransportError,
} from '../src/errors.js';
import { type FaultRule, MemoryNetwork, type MemorySocket } from '../src/transport/memory.js';
import type { Transport, TransportListener } from '../src/transport/transport.js';

const A: Endpoint = { host: 'node-a', port: 7000 };
const B: Endpoint = { host: 'node-b', port: 7000 };

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Wait (bounded) until `condition` holds: a few event-loop turns, then 1 ms naps. */
async function waitFor(condition: () => boolean, what = 'condition'): Promise<void> {
  for (let i = 0; i < 4000; i++) {
    if (condition()) return;
    await (i < 50 ? turn() : sleep(1));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Let every already-scheduled delivery happen (nothing in these tests uses a delay > 50 ms). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await turn();
}

interface Probe {
  readonly chunks: Buffer[];
  readonly errors: Error[];
  readonly events: string[];
  bytes(): Buffer;
  text(): string;
  closed(): boolean;
}

/** Record what a socket emits. `read: false` leaves it paused (no 'data' listener). */
function probe(socket: Duplex, read = true): Probe {
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

interface Server {
  readonly listener: TransportListener;
  readonly sockets: Duplex[];
  /** The n-th accepted socket (0-based), waiting for it. */
  accepted(n: number): Promise<Duplex>;
}

async function serve(
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

function echo(socket: Duplex): void {
  socket.on('data', (chunk: Buffer) => socket.write(chunk));
  socket.on('error', () => {});
}

/** A connected client/server pair with probes on both ends. */
async function pair(network: MemoryNetwork, endpoint: Endpoint = A, options: { serverReads?: boolean } = {}) {
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

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

function corkedWrite(socket: Duplex, parts: string[]): void {
  socket.cork();
  for (const part of parts) socket.write(part);
  socket.uncork();
}

describe('MemoryNetwork: connections', () => {
  it('listens, connects and echoes, with addresses on both sockets', async () => {
    const network = new MemoryNetwork();
    const transport = network.transport({ host: 'client-1' });
    const server = await serve(transport, A, echo);
    const connecting = transport.connect(A);
    expect(server.sockets).toHaveLength(0); // connect is asynchronous
    const client = (await connecting) as MemorySocket;
    const atClient = probe(client);
    client.write('hello ');
    client.write('world');
    await waitFor(() => atClient.text() === 'hello world', 'echo');
    const accepted = server.sockets[0] as MemorySocket;
    expect([client.remoteAddress, client.remotePort, client.localAddress]).toEqual([
      'node-a',
      7000,
      'client-1',
    ]);
    expect([accepted.remoteAddress, accepted.remotePort]).toEqual(['client-1', client.localPort]);
    expect([accepted.localAddress, accepted.localPort]).toEqual(['node-a', 7000]);
  });

  it('refuses a connection to an endpoint nobody listens on', async () => {
    const network = new MemoryNetwork();
    await serve(network.transport(), A);
    const error = await rejection(network.transport().connect({ host: 'node-a', port: 7001 }));
    expect(error).toBeInstanceOf(ConnectionRefusedError);
    expect(await rejection(network.transport().connect(B))).toBeInstanceOf(ConnectionRefusedError);
  });

  it('rejects listening twice on one endpoint, and allows it again after close', async () => {
    const network = new MemoryNetwork();
    const first = await network.transport().listen(A, () => {});
    const error = await rejection(network.transport().listen(A, () => {}));
    expect(error).toBeInstanceOf(TransportError);
    expect((error as { code?: string }).code).toBe('EADDRINUSE');
    await first.close();
    const second = await network.transport().listen(A, () => {});
    expect(second.endpoint).toEqual(A);
  });

  it('allocates distinct, deterministic ports for port 0', async () => {
    const ports = async () => {
      const network = new MemoryNetwork();
      const transport = network.transport();
      const taken = await transport.listen({ host: 'h', port: 40001 }, () => {});
      const a = await transport.listen({ host: 'h', port: 0 }, () => {});
      const b = await transport.listen({ host: 'h', port: 0 }, () => {});
      const c = await transport.listen({ host: 'h', port: 0 }, () => {});
      expect(a.endpoint.host).toBe('h');
      // The allocated port is connectable.
      const client = await transport.connect(b.endpoint);
      client.destroy();
      return [taken.endpoint.port, a.endpoint.port, b.endpoint.port, c.endpoint.port];
    };
    const first = await ports();
    expect(new Set(first).size).toBe(4);
    expect(first.slice(1).every((port) => port >= 40000)).toBe(true);
    expect(await ports()).toEqual(first);
  });

  it('closing a listener refuses new connections but keeps existing ones working', async () => {
    const network = new MemoryNetwork();
    const transport = network.transport();
    const server = await serve(transport, A, echo);
    const client = await transport.connect(A);
    const atClient = probe(client);
    await server.listener.close();
    expect(await rejection(transport.connect(A))).toBeInstanceOf(ConnectionRefusedError);
    client.write('still here');
    await waitFor(() => atClient.text() === 'still here', 'echo after close');
    expect(atClient.closed()).toBe(false);
  });

  it('honours the connect signal and rejects with RequestAbortedError', async () => {
    const network = new MemoryNetwork();
    await serve(network.transport(), A);
    const aborted = new AbortController();
    aborted.abort();
    expect(await rejection(network.transport().connect(A, { signal: aborted.signal }))).toBeInstanceOf(
      RequestAbortedError,
    );
    network.blackhole(A, true);
    const later = new AbortController();
    const connecting = network.transport().connect(A, { signal: later.signal });
    await settle();
    later.abort();
    expect(await rejection(connecting)).toBeInstanceOf(RequestAbortedError);
    expect(network.stats.connections).toBe(0);
  });

  it('end() half-closes: the peer sees end after the data and can still answer (allowHalfOpen)', async () => {
    const network = new MemoryNetwork({ allowHalfOpen: true });
    const { client, serverSocket, atClient, atServer } = await pair(network);
    serverSocket.on('end', () => {
      serverSocket.write(`got ${atServer.text()}`);
      serverSocket.end();
    });
    client.write('request');
    client.end();
    await waitFor(() => atClient.closed() && atServer.closed(), 'both closed');
    expect(atServer.events).toEqual(['end', 'close']);
    expect(atClient.text()).toBe('got request');
    expect(atClient.events).toEqual(['end', 'close']);
    expect(network.stats.activeConnections).toBe(0);
  });

  it('by default (allowHalfOpen false, like net) a peer end() closes both sockets', async () => {
    const network = new MemoryNetwork();
    const { client, atClient, atServer } = await pair(network);
    client.end('bye');
    await waitFor(() => atClient.closed() && atServer.closed(), 'both closed');
    expect(atServer.text()).toBe('bye');
    expect(atServer.events).toEqual(['end', 'close']);
    expect(atClient.errors).toEqual([]);
  });

  it('destroy(): data written before still reaches the peer, then the peer closes without error', async () => {
    const network = new MemoryNetwork();
    network.setLatency(A, 5);
    const { client, serverSocket, atClient, atServer } = await pair(network);
    const seen: string[] = [];
    serverSocket.on('data', (chunk: Buffer) => seen.push(`data:${chunk}`));
    serverSocket.on('close', () => seen.push('close'));
    client.write('one');
    client.write('two');
    client.destroy();
    await waitFor(() => atServer.closed(), 'server close');
    expect(seen).toEqual(['data:one', 'data:two', 'close']);
    expect(atServer.errors).toEqual([]);
    expect(atClient.errors).toEqual([]);
    expect(network.stats.activeConnections).toBe(0);
  });
});

describe('MemoryNetwork: delivery', () => {
  it('preserves byte order across many writes of varying sizes, both ways', async () => {
    const network = new MemoryNetwork();
    const { client, serverSocket, atClient, atServer } = await pair(network);
    const up: Buffer[] = [];
    const down: Buffer[] = [];
    for (let i = 0; i < 300; i++) {
      const piece = Buffer.alloc((i * 37) % 200, i & 0xff);
      up.push(piece);
      client.write(piece);
      if (i % 3 === 0) {
        const back = Buffer.from(`#${i};`);
        down.push(back);
        serverSocket.write(back);
      }
      if (i % 50 === 0) await turn();
    }
    const upBytes = Buffer.concat(up);
    const downBytes = Buffer.concat(down);
    await waitFor(
      () => atServer.bytes().length === upBytes.length && atClient.bytes().length === downBytes.length,
    );
    expect(atServer.bytes().equals(upBytes)).toBe(true);
    expect(atClient.bytes().equals(downBytes)).toBe(true);
  });

  it('copies written bytes: reusing the buffer after write does not change what arrives', async () => {
    const network = new MemoryNetwork();
    const { client, atServer } = await pair(network);
    const buffer = Buffer.from('original');
    client.write(buffer);
    buffer.fill(0x21);
    await waitFor(() => atServer.text().length === 8);
    expect(atServer.text()).toBe('original');
  });

  it('a corked batch (_writev) is one unit for the fault rules; plain writes are one unit each', async () => {
    const network = new MemoryNetwork();
    const { client, atServer } = await pair(network);
    const remove = network.addFault({ direction: 'to-server', nth: 2, action: { kind: 'drop' } });
    corkedWrite(client, ['1a', '1b', '1c']);
    corkedWrite(client, ['2a', '2b', '2c']);
    corkedWrite(client, ['3a', '3b', '3c']);
    await waitFor(() => atServer.text().length === 12, 'two batches');
    await settle();
    expect(atServer.text()).toBe('1a1b1c3a3b3c');
    remove();

    network.addFault({ direction: 'to-server', nth: 2, action: { kind: 'drop' } });
    client.write('x');
    client.write('y');
    client.write('z');
    await waitFor(() => atServer.text().length === 14);
    await settle();
    expect(atServer.text()).toBe('1a1b1c3a3b3cxz');
    expect(network.stats.faultsInjected.drop).toBe(2);
  });

  it('keeps order per direction under latency and lets a fast server answer before a slow one', async () => {
    const network = new MemoryNetwork();
    network.setLatency(A, 50);
    const transport = network.transport();
    const order: string[] = [];
    await serve(transport, A, (socket) => socket.on('data', (chunk: Buffer) => order.push(`A:${chunk}`)));
    await serve(transport, B, (socket) => socket.on('data', (chunk: Buffer) => order.push(`B:${chunk}`)));
    const slow = await transport.connect(A);
    const fast = await transport.connect(B);
    slow.write('1');
    slow.write('2');
    fast.write('1');
    await waitFor(() => order.length === 3);
    expect(order).toEqual(['B:1', 'A:1', 'A:2']);
  });
});

describe('MemoryNetwork: fault rules', () => {
  it('drop: the nth matching unit never arrives; direction and endpoint filters apply', async () => {
    const network = new MemoryNetwork();
    const { client, serverSocket, atClient, atServer } = await pair(network);
    const other = await pair(network, B);
    network.addFault({ endpoint: A, direction: 'to-client', nth: 1, action: { kind: 'drop' } });
    client.write('up');
    other.serverSocket.write('other');
    serverSocket.write('first');
    serverSocket.write('second');
    await waitFor(
      () => atClient.text() === 'second' && atServer.text() === 'up' && other.atClient.text() === 'other',
    );
    await settle();
    expect(atClient.text()).toBe('second');
    expect(network.stats.faultsInjected.drop).toBe(1);
  });

  it('every and times bound how often a rule fires; the remover stops it', async () => {
    const network = new MemoryNetwork();
    const { client, atServer } = await pair(network);
    const remove = network.addFault({ every: 3, times: 2, action: { kind: 'drop' } });
    for (let i = 1; i <= 9; i++) client.write(String(i));
    await waitFor(() => atServer.text().length === 7);
    await settle();
    expect(atServer.text()).toBe('1245789');
    remove();
    network.addFault({ nth: 2, every: 2, action: { kind: 'drop' } });
    for (const c of 'abcdef') client.write(c);
    await waitFor(() => atServer.text().length === 10);
    await settle();
    expect(atServer.text()).toBe('1245789ace');
    network.clearFaults();
    client.write('!');
    await waitFor(() => atServer.text().endsWith('!'));
  });

  it('rejects invalid rules', () => {
    const network = new MemoryNetwork();
    const bad: FaultRule[] = [
      { nth: 0, action: { kind: 'drop' } },
      { every: 1.5, action: { kind: 'drop' } },
      { probability: 2, action: { kind: 'drop' } },
      { action: { kind: 'delay', ms: -1 } },
      { action: { kind: 'corrupt', byteOffset: -1 } },
    ];
    for (const rule of bad) expect(() => network.addFault(rule)).toThrow(InvalidArgumentError);
    expect(() => new MemoryNetwork({ seed: 0.5 })).toThrow(InvalidArgumentError);
  });

  it('corrupt: exactly one byte flipped at byteOffset, the writer buffer untouched', async () => {
    const network = new MemoryNetwork();
    const { client, atServer } = await pair(network);
    network.addFault({ direction: 'to-server', nth: 1, action: { kind: 'corrupt', byteOffset: 3 } });
    const sent = Buffer.from('0123456789');
    client.write(sent);
    await waitFor(() => atServer.bytes().length === 10);
    const got = atServer.bytes();
    const differing = [...got.keys()].filter((i) => got[i] !== sent[i]);
    expect(differing).toEqual([3]);
    expect(got[3]).toBe('3'.charCodeAt(0) ^ 0xff);
    expect(sent.toString()).toBe('0123456789');
    expect(network.stats.faultsInjected.corrupt).toBe(1);
  });

  it('corrupt without byteOffset flips exactly one byte somewhere in the unit', async () => {
    const network = new MemoryNetwork({ seed: 7 });
    const { client, atServer } = await pair(network);
    network.addFault({ nth: 2, action: { kind: 'corrupt' } });
    const first = Buffer.alloc(100, 1);
    const second = Buffer.alloc(100, 2);
    client.write(first);
    client.write(second);
    await waitFor(() => atServer.bytes().length === 200);
    const got = atServer.bytes();
    expect(got.subarray(0, 100).equals(first)).toBe(true);
    const flipped = [...got.subarray(100).keys()].filter((i) => got[100 + i] !== 2);
    expect(flipped).toHaveLength(1);
    expect(got[100 + flipped[0]!]).toBe(2 ^ 0xff);
  });

  it('disconnect: the unit is not delivered, the writer gets ECONNRESET, both ends close', async () => {
    const network = new MemoryNetwork();
    const { client, atClient, atServer } = await pair(network);
    client.write('before');
    await waitFor(() => atServer.text() === 'before');
    network.addFault({ direction: 'to-server', nth: 1, action: { kind: 'disconnect' } });
    client.write('fatal');
    await waitFor(() => atClient.closed() && atServer.closed(), 'both closed');
    expect(atServer.text()).toBe('before');
    expect(atServer.errors).toEqual([]);
    expect(atClient.errors).toHaveLength(1);
    expect(atClient.errors[0]).toBeInstanceOf(ConnectionClosedError);
    expect((atClient.errors[0] as { code?: string }).code).toBe('ECONNRESET');
    expect(atClient.events).toEqual(['error', 'close']);
    expect(network.stats).toMatchObject({ activeConnections: 0, faultsInjected: { disconnect: 1 } });
  });

  it('delay: the delayed unit arrives after later traffic elsewhere, order within its connection kept', async () => {
    const network = new MemoryNetwork();
    const transport = network.transport();
    const order: string[] = [];
    const server = await serve(transport, A, (socket) =>
      socket.on('data', (chunk: Buffer) => order.push(`${chunk}`)),
    );
    const first = await transport.connect(A);
    const second = await transport.connect(A);
    await server.accepted(1);
    network.addFault({ direction: 'to-server', nth: 1, action: { kind: 'delay', ms: 100 } });
    first.write('first-1'); // delayed
    first.write('first-2'); // not delayed itself, but must wait behind first-1
    second.write('second-1');
    await waitFor(() => order.length === 3);
    expect(order).toEqual(['second-1', 'first-1', 'first-2']);
    expect(network.stats.faultsInjected.delay).toBe(1);
  });

  it('probability: the same seed faults the same units, another seed differs', async () => {
    const run = async (seed: number) => {
      const network = new MemoryNetwork({ seed });
      const { client, atServer } = await pair(network);
      network.addFault({ direction: 'to-server', probability: 0.25, action: { kind: 'drop' } });
      network.addFault({
        direction: 'to-server',
        probability: 0.1,
        action: { kind: 'corrupt', byteOffset: 1 },
      });
      for (let i = 0; i < 200; i++) {
        const unit = Buffer.alloc(2);
        unit.writeUInt16BE(i);
        client.write(unit);
      }
      await waitFor(() => {
        const { unitsDelivered, faultsInjected } = network.stats;
        return unitsDelivered + faultsInjected.drop === 200;
      });
      const got = atServer.bytes();
      const received: number[] = [];
      for (let at = 0; at + 2 <= got.length; at += 2) received.push(got.readUInt16BE(at));
      return { received, faults: network.stats.faultsInjected };
    };
    const one = await run(42);
    const again = await run(42);
    const other = await run(43);
    expect(again).toEqual(one);
    expect(one.received.length).toBeGreaterThan(100);
    expect(one.received.length).toBeLessThan(190);
    expect(one.faults.corrupt).toBeGreaterThan(0);
    expect(other.received).not.toEqual(one.received);
  });
});

describe('MemoryNetwork: blackhole, disconnectAll, stats', () => {
  it('blackhole: units vanish both ways, connections stay open, connects time out; lifting restores', async () => {
    const network = new MemoryNetwork();
    const { transport, client, serverSocket, atClient, atServer } = await pair(network);
    network.blackhole(A, true);
    client.write('lost-up');
    serverSocket.write('lost-down');
    const timedOut = await rejection(transport.connect(A, { timeoutMs: 10 }));
    expect(timedOut).toBeInstanceOf(ConnectionRefusedError);
    expect((timedOut as Error).message).toMatch(/timed out/);
    const parked = transport.connect(A); // no timeout: hangs until the blackhole is lifted
    await settle();
    expect(atServer.chunks).toEqual([]);
    expect(atClient.chunks).toEqual([]);
    expect(atClient.closed() || atServer.closed()).toBe(false);
    expect(network.stats.faultsInjected.blackhole).toBe(2);
    expect(network.stats.connections).toBe(1);

    network.blackhole(A, false);
    const late = await parked;
    const atLate = probe(late);
    client.write('up');
    serverSocket.write('down');
    await waitFor(() => atServer.text() === 'up' && atClient.text() === 'down');
    expect(atLate.closed()).toBe(false);
    expect(network.stats.connections).toBe(2);
  });

  it('blackhole also swallows units already in flight', async () => {
    const network = new MemoryNetwork();
    network.setLatency(A, 20);
    const { client, atServer } = await pair(network);
    client.write('in flight');
    network.blackhole(A, true);
    await sleep(40);
    await settle();
    network.blackhole(A, false);
    client.write('after');
    await waitFor(() => atServer.text() === 'after');
    expect(network.stats.faultsInjected.blackhole).toBe(1);
  });

  it('disconnectAll resets every connection to one server and leaves others alone', async () => {
    const network = new MemoryNetwork();
    const transport = network.transport();
    const serverA = await serve(transport, A, echo);
    await serve(transport, B, echo);
    const toA = [await transport.connect(A), await transport.connect(A)];
    const toB = await transport.connect(B);
    await serverA.accepted(1);
    const probes = toA.map((socket) => probe(socket));
    const serverProbes = serverA.sockets.map((socket) => probe(socket, false));
    const atB = probe(toB);
    network.disconnectAll(A);
    await waitFor(() => [...probes, ...serverProbes].every((p) => p.closed()), 'all closed');
    expect([...probes, ...serverProbes].flatMap((p) => p.errors)).toEqual([]);
    toB.write('alive');
    await waitFor(() => atB.text() === 'alive');
    expect(network.stats.activeConnections).toBe(1);
    expect(await transport.connect(A)).toBeDefined(); // the listener itself is untouched
  });

  it('counts connections, delivered units and bytes', async () => {
    const network = new MemoryNetwork();
    const { client, serverSocket, atClient, atServer } = await pair(network);
    network.addFault({ direction: 'to-server', nth: 2, action: { kind: 'drop' } });
    client.write('abc');
    client.write('dropped');
    corkedWrite(client, ['de', 'f']);
    serverSocket.write('xy');
    await waitFor(() => atServer.text() === 'abcdef' && atClient.text() === 'xy');
    expect(network.stats).toEqual({
      connections: 1,
      activeConnections: 1,
      unitsDelivered: 3,
      bytesDelivered: 8,
      bytesInFlight: 0,
      faultsInjected: { drop: 1, delay: 0, disconnect: 0, corrupt: 0, blackhole: 0 },
    });
  });
});

describe('MemoryNetwork: backpressure', () => {
  it('a paused reader makes write() return false, bounds memory, then drains intact', async () => {
    const hwm = 64 * 1024;
    const chunkSize = 8 * 1024;
    const network = new MemoryNetwork({ highWaterMark: hwm });
    const { client, serverSocket } = await pair(network, A, { serverReads: false });
    const sent: Buffer[] = [];
    const write = () => {
      const chunk = Buffer.alloc(chunkSize, sent.length & 0xff);
      sent.push(chunk);
      return client.write(chunk);
    };
    let accepted = true;
    for (let i = 0; i < 1000 && accepted; i++) {
      accepted = write();
      if (i % 4 === 3) await turn();
    }
    expect(accepted).toBe(false);
    expect(sent.length * chunkSize).toBeLessThanOrEqual(3 * hwm);

    // Keep writing regardless: the extra bytes wait in the writer's own buffer, not in the network.
    for (let i = 0; i < 40; i++) write();
    await settle();
    const held = network.stats.bytesInFlight + serverSocket.readableLength;
    expect(held).toBeLessThanOrEqual(2 * hwm + chunkSize);
    expect(client.writableLength).toBeGreaterThanOrEqual(40 * chunkSize);

    const drained = once(client, 'drain');
    const received: Buffer[] = [];
    serverSocket.on('data', (chunk: Buffer) => received.push(chunk));
    await drained;
    const expected = Buffer.concat(sent);
    await waitFor(() => received.reduce((n, c) => n + c.length, 0) >= expected.length, 'all bytes');
    expect(Buffer.concat(received).equals(expected)).toBe(true);
    expect(network.stats.bytesInFlight).toBe(0);
  });

  it('a reader that never reads stops the writer for good', async () => {
    const hwm = 16 * 1024;
    const network = new MemoryNetwork({ highWaterMark: hwm });
    const { client, serverSocket } = await pair(network, A, { serverReads: false });
    let drains = 0;
    client.on('drain', () => drains++);
    for (let i = 0; i < 100; i++) client.write(Buffer.alloc(1024));
    for (let i = 0; i < 5; i++) await sleep(2);
    expect(drains).toBe(0);
    expect(serverSocket.readableLength + network.stats.bytesInFlight).toBeLessThanOrEqual(2 * hwm);
    expect(client.writableLength).toBeGreaterThan(0);
  });
});
