import { randomBytes } from 'node:crypto';
import { getEventListeners, setMaxListeners } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ClientBusyError,
  ConnectionClosedError,
  ConnectionRefusedError,
  FrameTooLargeError,
  RequestAbortedError,
  RequestTimeoutError,
} from '../src/errors.js';
import type { RpcServer } from '../src/rpc/server.js';
import { closeAll, echo, expectEcho, holdingHandler, newClient, startServer, tagOf } from './rpc-fixtures.js';
import {
  countingTransport,
  deferred,
  LOCAL,
  outcome,
  recordingLogger,
  str,
  text,
  waitFor,
} from './rpc-helpers.js';

afterEach(closeAll);

describe('RpcClient + RpcServer over TCP', () => {
  it('multiplexes 10,000 concurrent requests over 4 connections, each answered with its own response', async () => {
    const transport = countingTransport();
    let maxServerConnections = 0;
    let serverRef: RpcServer | undefined;
    const { server, endpoint } = await startServer({
      transport,
      handler: async (request) => {
        maxServerConnections = Math.max(maxServerConnections, serverRef?.connectionCount ?? 0);
        const index = Buffer.from(request.header).readUInt32BE(0);
        // Complete out of order: some answers wait for the next event-loop turn.
        if (index % 3 === 0) await new Promise((resolve) => setImmediate(resolve));
        const payload = Buffer.from(request.payload).reverse();
        return {
          header: Buffer.concat([request.header, Buffer.of(tagOf(request.header, request.payload))]),
          payload,
        };
      },
    });
    serverRef = server;
    const client = newClient({ maxQueuedRequestsPerEndpoint: 10_000, requestTimeoutMs: 120_000 });

    const count = 10_000;
    const messages: Array<{ header: Buffer; payload: Buffer }> = [];
    for (let i = 0; i < count; i++) {
      const header = Buffer.concat([Buffer.alloc(4), randomBytes(i % 17)]);
      header.writeUInt32BE(i, 0);
      const size = i % 1000 === 7 ? 1024 * 1024 + (i % 13) : (i * 37) % 4096; // 0 for i = 0
      messages.push({ header, payload: randomBytes(size) });
    }
    expect(messages.filter((m) => m.payload.byteLength === 0).length).toBeGreaterThan(0);
    expect(messages.filter((m) => m.payload.byteLength >= 1024 * 1024).length).toBe(10);

    const replies = await Promise.all(messages.map((message) => client.request(endpoint, message)));

    for (let i = 0; i < count; i++) {
      const { header, payload } = messages[i]!;
      const reply = replies[i]!;
      expect(reply.header.byteLength).toBe(header.byteLength + 1);
      expect(Buffer.from(reply.header.subarray(0, header.byteLength)).equals(header)).toBe(true);
      expect(reply.header[header.byteLength]).toBe(tagOf(header, payload));
      expect(Buffer.from(reply.payload).equals(Buffer.from(payload).reverse())).toBe(true);
    }
    expect(transport.accepted).toBe(4);
    expect(maxServerConnections).toBeLessThanOrEqual(4);
    expect(client.stats()).toEqual([
      {
        endpoint: { host: LOCAL, port: endpoint.port },
        connections: 4,
        inFlight: 0,
        queued: 0,
        backingOff: false,
      },
    ]);
  });

  it('opens connections lazily: sequential requests share one connection', async () => {
    const transport = countingTransport();
    const { endpoint } = await startServer({ transport, handler: echo });
    const client = newClient();
    expect(client.stats()).toEqual([]);
    for (let i = 0; i < 20; i++) await expectEcho(client, endpoint, `seq-${i}`);
    expect(transport.accepted).toBe(1);
    expect(client.stats()[0]?.connections).toBe(1);
  });

  it('times out a request the server never answers, ignores the late answer, and keeps working', async () => {
    const holding = holdingHandler();
    const { endpoint } = await startServer({ handler: holding.handler });
    const logger = recordingLogger();
    const client = newClient({ logger });

    const late = await outcome(client.request(endpoint, { header: text('hold') }, { timeoutMs: 50 }));
    expect(late.error).toBeInstanceOf(RequestTimeoutError);
    expect((late.error as RequestTimeoutError).timeoutMs).toBe(50);
    expect(client.stats()[0]).toMatchObject({ inFlight: 0, queued: 0 });

    // The server answers now; the client must ignore the answer and still serve new requests.
    await waitFor(() => holding.held.length === 1, 'the held request');
    holding.releaseAll();
    await expectEcho(client, endpoint, 'after-timeout');
    expect(
      logger.entries.some(
        (e) => e.level === 'debug' && /expired or unknown correlation id/.test(e.message ?? ''),
      ),
    ).toBe(true);
  });

  it('times out a queued request too', async () => {
    const holding = holdingHandler();
    const { endpoint } = await startServer({ handler: holding.handler });
    const client = newClient({ connectionsPerEndpoint: 1, maxInFlightPerConnection: 1 });
    const first = client.request(endpoint, { header: text('hold') }, { timeoutMs: 60_000 });
    await waitFor(() => holding.held.length === 1, 'the held request');
    const queued = await outcome(client.request(endpoint, { header: text('queued') }, { timeoutMs: 30 }));
    expect(queued.error).toBeInstanceOf(RequestTimeoutError);
    expect(client.stats()[0]).toMatchObject({ inFlight: 1, queued: 0 });
    holding.releaseAll();
    expect(str((await first).header)).toBe('released');
  });

  it('rejects with RequestAbortedError when aborted in flight, and the client keeps working', async () => {
    const holding = holdingHandler();
    const { endpoint } = await startServer({ handler: holding.handler });
    const client = newClient();
    const controller = new AbortController();
    const pending = outcome(
      client.request(endpoint, { header: text('hold') }, { signal: controller.signal }),
    );
    await waitFor(() => holding.held.length === 1, 'the held request');
    controller.abort();
    const result = await pending;
    expect(result.error).toBeInstanceOf(RequestAbortedError);
    expect(client.stats()[0]).toMatchObject({ inFlight: 0 });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    await expectEcho(client, endpoint, 'after-abort');
  });

  it('rejects a pre-aborted request without sending it', async () => {
    const holding = holdingHandler();
    const { endpoint } = await startServer({ handler: holding.handler });
    const client = newClient();
    const result = await outcome(
      client.request(endpoint, { header: text('never') }, { signal: AbortSignal.abort() }),
    );
    expect(result.error).toBeInstanceOf(RequestAbortedError);
    await expectEcho(client, endpoint, 'sent'); // ordered after the aborted one on the same stream
    expect(holding.seen()).toBe(1);
  });

  it('leaves no abort listeners or timers behind over 10,000 requests', async () => {
    const { endpoint } = await startServer({ handler: echo });
    const client = newClient({ maxQueuedRequestsPerEndpoint: 10_000, requestTimeoutMs: 120_000 });
    const controller = new AbortController();
    setMaxListeners(20_000, controller.signal);
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const replies = await Promise.all(
      Array.from({ length: 10_000 }, (_, i) =>
        client.request(endpoint, { header: text(`r${i}`) }, { signal: controller.signal }),
      ),
    );
    expect(replies.map((r) => str(r.header))).toEqual(Array.from({ length: 10_000 }, (_, i) => `r${i}`));
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    const timersAfter = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    expect(timersAfter).toBeLessThanOrEqual(timersBefore + 2);
  });

  it('bounds handlers in flight per connection on the server', async () => {
    const limit = 8;
    const total = 100;
    let current = 0;
    let max = 0;
    let started = 0;
    let gate = deferred();
    const { endpoint } = await startServer({
      maxInFlightPerConnection: limit,
      handler: async (request) => {
        started += 1;
        current += 1;
        max = Math.max(max, current);
        // Hold every handler until `limit` are running (or the last ones arrived), so a server that
        // ignored its bound would show more than `limit` at once.
        const myGate = gate;
        if (current >= limit || started === total) {
          gate = deferred();
          myGate.resolve();
        }
        await myGate.promise;
        current -= 1;
        return { header: request.header, payload: request.payload };
      },
    });
    const client = newClient({ connectionsPerEndpoint: 1 });
    const replies = await Promise.all(
      Array.from({ length: total }, (_, i) => client.request(endpoint, { header: text(`n${i}`) })),
    );
    expect(replies.map((r) => str(r.header))).toEqual(Array.from({ length: total }, (_, i) => `n${i}`));
    expect(max).toBe(limit);
    expect(started).toBe(total);
  });

  it('rejects with ClientBusyError beyond in-flight + queue capacity', async () => {
    const holding = holdingHandler();
    const { endpoint } = await startServer({ handler: holding.handler });
    const client = newClient({
      connectionsPerEndpoint: 1,
      maxInFlightPerConnection: 2,
      maxQueuedRequestsPerEndpoint: 3,
    });
    const accepted = [client.request(endpoint, { header: text('hold') })];
    accepted.push(client.request(endpoint, { header: text('hold') }));
    await waitFor(() => holding.held.length === 2, 'two requests in flight');
    for (let i = 0; i < 3; i++) accepted.push(client.request(endpoint, { header: text('hold') }));
    expect(client.stats()[0]).toMatchObject({ connections: 1, inFlight: 2, queued: 3 });

    const sixth = await outcome(client.request(endpoint, { header: text('hold') }));
    expect(sixth.error).toBeInstanceOf(ClientBusyError);

    // The five accepted ones all complete once the server answers.
    for (let round = 0; round < 3; round++) {
      await waitFor(() => holding.held.length > 0, 'held requests');
      holding.releaseAll();
    }
    const replies = await Promise.all(accepted);
    expect(replies.map((r) => str(r.header))).toEqual(Array(5).fill('released'));
  });

  it('counts requests waiting for a connection being opened against its capacity, not the queue', async () => {
    const holding = holdingHandler();
    const { endpoint } = await startServer({ handler: holding.handler });
    const client = newClient({
      connectionsPerEndpoint: 1,
      maxInFlightPerConnection: 2,
      maxQueuedRequestsPerEndpoint: 3,
    });
    // All sent before the connection is open: 2 (its capacity) + 3 (queue) accepted, the 6th refused.
    const results = Array.from({ length: 6 }, () =>
      outcome(client.request(endpoint, { header: text('hold') })),
    );
    const sixth = await results[5]!;
    expect(sixth.error).toBeInstanceOf(ClientBusyError);
    await waitFor(() => holding.held.length === 2, 'two in flight');
    await client.close();
    for (const result of results.slice(0, 5))
      expect((await result).error).toBeInstanceOf(ConnectionClosedError);
  });

  it('client.close() rejects queued and in-flight requests with ConnectionClosedError, later ones at once', async () => {
    const holding = holdingHandler();
    const { endpoint, server } = await startServer({ handler: holding.handler });
    const client = newClient({ connectionsPerEndpoint: 1, maxInFlightPerConnection: 1 });
    const inFlight = outcome(client.request(endpoint, { header: text('hold') }));
    await waitFor(() => holding.held.length === 1, 'the held request');
    const queued = outcome(client.request(endpoint, { header: text('queued') }));
    expect(client.stats()[0]).toMatchObject({ inFlight: 1, queued: 1 });

    await client.close();
    for (const result of [await inFlight, await queued]) {
      expect(result.error).toBeInstanceOf(ConnectionClosedError);
      expect((result.error as Error).message).toMatch(/client closed/);
    }
    const later = await outcome(client.request(endpoint, { header: text('later') }));
    expect(later.error).toBeInstanceOf(ConnectionClosedError);
    expect(client.stats()).toEqual([]);
    // The server saw the connection go: the held handler's signal is aborted and the count drops.
    await waitFor(() => holding.held[0]!.context.signal.aborted, 'handler signal aborted');
    await waitFor(() => server.connectionCount === 0, 'server connection gone');
    holding.releaseAll();
  });

  it('rejects in-flight requests with ConnectionClosedError when the server drops the connection, then reconnects', async () => {
    const transport = countingTransport();
    const logger = recordingLogger();
    const { endpoint } = await startServer({
      transport,
      logger,
      handler: async (request) => {
        if (str(request.header) === 'boom') throw new Error('handler bug');
        return echo(request);
      },
    });
    const client = newClient();
    const result = await outcome(client.request(endpoint, { header: text('boom') }));
    expect(result.error).toBeInstanceOf(ConnectionClosedError);
    expect(logger.entries.some((e) => e.level === 'error' && /handler failed/.test(e.message ?? ''))).toBe(
      true,
    );
    await expectEcho(client, endpoint, 'reconnected');
    expect(transport.accepted).toBe(2);
  });

  it('closes the connection (error log) when a response cannot be encoded', async () => {
    const logger = recordingLogger();
    const { endpoint } = await startServer({
      logger,
      maxFrameBytes: 64 * 1024,
      handler: async (request) =>
        str(request.header) === 'big'
          ? { header: request.header, payload: new Uint8Array(128 * 1024) }
          : echo(request),
    });
    const client = newClient();
    const result = await outcome(client.request(endpoint, { header: text('big') }));
    expect(result.error).toBeInstanceOf(ConnectionClosedError);
    expect(logger.entries.some((e) => e.level === 'error' && /cannot be encoded/.test(e.message ?? ''))).toBe(
      true,
    );
    await expectEcho(client, endpoint, 'still-serving');
  });

  it('stops giving a connection new requests while its unflushed writes exceed maxBufferedBytesPerConnection', async () => {
    const gate = deferred();
    let handled = 0;
    const { endpoint } = await startServer({
      // One handler at a time, and the first one waits: the server stops reading, TCP backs up.
      maxInFlightPerConnection: 1,
      handler: async (request) => {
        handled += 1;
        await gate.promise;
        return { header: request.header };
      },
    });
    const client = newClient({ connectionsPerEndpoint: 1, maxBufferedBytesPerConnection: 64 * 1024 });
    const total = 32;
    const replies = Array.from({ length: total }, (_, i) =>
      client.request(endpoint, { header: text(`big-${i}`), payload: new Uint8Array(1024 * 1024) }),
    );
    await waitFor(() => handled === 1, 'the first request at the server');
    // 32 MiB cannot all sit in kernel buffers: the connection must have stopped taking requests
    // although it is far below its in-flight limit (256).
    const stats = client.stats()[0]!;
    expect(stats.connections).toBe(1);
    expect(stats.queued).toBeGreaterThan(0);
    expect(stats.inFlight + stats.queued).toBe(total);
    gate.resolve();
    const headers = (await Promise.all(replies)).map((reply) => str(reply.header));
    expect(headers).toEqual(Array.from({ length: total }, (_, i) => `big-${i}`));
  });

  it('rejects a request larger than maxFrameBytes before sending it', async () => {
    const holding = holdingHandler();
    const { endpoint } = await startServer({ handler: holding.handler });
    const client = newClient({ maxFrameBytes: 1024 });
    const result = await outcome(
      client.request(endpoint, { header: text('x'), payload: new Uint8Array(2048) }),
    );
    expect(result.error).toBeInstanceOf(FrameTooLargeError);
    await expectEcho(client, endpoint, 'small');
    expect(holding.seen()).toBe(1);
  });
});

describe('RpcServer.close', () => {
  it('stops accepting, waits for in-flight handlers, flushes their responses, then closes', async () => {
    const holding = holdingHandler();
    const transport = countingTransport();
    const { endpoint, server } = await startServer({ handler: holding.handler, transport });
    const client = newClient();
    const pending = client.request(endpoint, { header: text('hold') });
    await waitFor(() => holding.held.length === 1, 'the held request');

    let closed = false;
    const closing = server.close().then(() => {
      closed = true;
    });
    // New connections are refused once the listener is closed.
    await waitFor(() => transport.listenersClosed === 1, 'listener closed');
    const other = newClient();
    expect((await outcome(other.request(endpoint, { header: text('new') }))).error).toBeInstanceOf(
      ConnectionRefusedError,
    );
    expect(closed).toBe(false);

    holding.releaseAll();
    expect(str((await pending).header)).toBe('released');
    await closing;
    expect(server.connectionCount).toBe(0);
  });

  it('destroys connections whose handlers outlive the timeout', async () => {
    const holding = holdingHandler();
    const { endpoint, server } = await startServer({ handler: holding.handler });
    const client = newClient();
    const pending = outcome(client.request(endpoint, { header: text('hold') }));
    await waitFor(() => holding.held.length === 1, 'the held request');
    await server.close({ timeoutMs: 20 });
    expect((await pending).error).toBeInstanceOf(ConnectionClosedError);
    expect(server.connectionCount).toBe(0);
    expect(holding.held[0]!.context.signal.aborted).toBe(true);
    holding.releaseAll();
  });
});
