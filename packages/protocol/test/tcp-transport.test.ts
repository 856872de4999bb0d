import { once } from 'node:events';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionRefusedError, RequestAbortedError, TransportError } from '../src/errors.js';
import { createTcpTransport, tcpTransport } from '../src/transport/tcp.js';
import type { TransportListener } from '../src/transport/transport.js';
import { freePort, LOCAL, outcome } from './rpc-helpers.js';

const listeners: TransportListener[] = [];
const sockets: Duplex[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(listeners.splice(0).map((listener) => listener.close()));
});

/** A TCP echo listener on an ephemeral port. */
async function echoListener(): Promise<TransportListener> {
  const listener = await tcpTransport.listen({ host: LOCAL, port: 0 }, (socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  listeners.push(listener);
  return listener;
}

describe('tcpTransport', () => {
  it('listens on port 0, reports the real port, and connects with Nagle off', async () => {
    const listener = await echoListener();
    expect(listener.endpoint.host).toBe(LOCAL);
    expect(listener.endpoint.port).toBeGreaterThan(0);
    const socket = (await tcpTransport.connect(listener.endpoint)) as net.Socket;
    sockets.push(socket);
    socket.on('error', () => {});
    socket.write('ping');
    const [data] = await once(socket, 'data');
    expect(String(data)).toBe('ping');
    expect(socket.remotePort).toBe(listener.endpoint.port);
  });

  it('maps a refused connect to ConnectionRefusedError with the endpoint and the cause', async () => {
    const port = await freePort();
    const result = await outcome(tcpTransport.connect({ host: LOCAL, port }, { timeoutMs: 5000 }));
    expect(result.error).toBeInstanceOf(ConnectionRefusedError);
    const error = result.error as ConnectionRefusedError & { cause: NodeJS.ErrnoException };
    expect(error.endpoint).toEqual({ host: LOCAL, port });
    expect(error.cause.code).toBe('ECONNREFUSED');
    expect(error.message).toContain(`${LOCAL}:${port}`);
  });

  it('rejects with RequestAbortedError on an aborted signal, before or during the connect', async () => {
    const listener = await echoListener();
    const before = await outcome(tcpTransport.connect(listener.endpoint, { signal: AbortSignal.abort() }));
    expect(before.error).toBeInstanceOf(RequestAbortedError);

    const controller = new AbortController();
    const during = outcome(tcpTransport.connect(listener.endpoint, { signal: controller.signal }));
    controller.abort();
    expect((await during).error).toBeInstanceOf(RequestAbortedError);
  });

  it('rejects listen on a taken port with TransportError (EADDRINUSE)', async () => {
    const listener = await echoListener();
    const result = await outcome(tcpTransport.listen(listener.endpoint, () => {}));
    expect(result.error).toBeInstanceOf(TransportError);
    expect(((result.error as Error).cause as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
  });

  it('close() stops accepting without waiting for (or closing) existing connections', async () => {
    const listener = await echoListener();
    const socket = (await tcpTransport.connect(listener.endpoint)) as net.Socket;
    sockets.push(socket);
    socket.on('error', () => {});
    await listener.close();
    // The existing connection still works...
    socket.write('still');
    const [data] = await once(socket, 'data');
    expect(String(data)).toBe('still');
    // ...and new connects are refused.
    const result = await outcome(tcpTransport.connect(listener.endpoint));
    expect(result.error).toBeInstanceOf(ConnectionRefusedError);
  });

  it('applies keep-alive and noDelay options', async () => {
    const transport = createTcpTransport({ noDelay: false, keepAliveMs: 1000 });
    const listener = await transport.listen({ host: LOCAL, port: 0 }, (socket) => {
      sockets.push(socket);
    });
    listeners.push(listener);
    const socket = await transport.connect(listener.endpoint);
    sockets.push(socket);
    expect(socket).toBeInstanceOf(net.Socket);
    expect(() => createTcpTransport({ keepAliveMs: -1 })).toThrow();
  });
});

describe('tcpTransport with an invalid port', () => {
  it('rejects connect with ConnectionRefusedError and listen with TransportError, not RangeError', async () => {
    await expect(tcpTransport.connect({ host: '127.0.0.1', port: 70_000 })).rejects.toBeInstanceOf(
      ConnectionRefusedError,
    );
    await expect(tcpTransport.listen({ host: '127.0.0.1', port: -1 }, () => {})).rejects.toBeInstanceOf(
      TransportError,
    );
    await expect(tcpTransport.connect({ host: '127.0.0.1', port: 1.5 })).rejects.toBeInstanceOf(
      ConnectionRefusedError,
    );
  });
});
