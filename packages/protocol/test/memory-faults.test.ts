import { describe, expect, it } from 'vitest';
import { ConnectionClosedError, InvalidArgumentError } from '../src/errors.js';
import { type FaultRule, MemoryNetwork } from '../src/transport/memory.js';
import { A, B, pair, serve, settle } from './memory-helpers.js';
import { waitFor } from './rpc-helpers.js';

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
