import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ConnectionRefusedError, RequestAbortedError, TransportError } from '../src/errors.js';
import { MemoryNetwork, type MemorySocket } from '../src/transport/memory.js';
import { A, B, corkedWrite, echo, pair, probe, rejection, serve, settle } from './memory-helpers.js';
import { sleep, turn, waitFor } from './rpc-helpers.js';

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
