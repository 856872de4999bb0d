import { once } from 'node:events';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ChecksumMismatchError,
  ConnectionClosedError,
  DecodeError,
  type Endpoint,
  ProtocolError,
  UnsupportedVersionError,
} from '../src/errors.js';
import { FRAME_VERSION, type Frame } from '../src/frame.js';
import { closeAll, echo, expectEcho, newClient, rawServers, sockets, startServer } from './rpc-fixtures.js';
import {
  frameBytes,
  LOCAL,
  outcome,
  rawConnect,
  recordingLogger,
  str,
  text,
  waitFor,
} from './rpc-helpers.js';

afterEach(closeAll);

describe('RpcServer protocol violations', () => {
  const request = (overrides: Partial<Frame> = {}): Frame => ({
    kind: 'request',
    correlationId: 1,
    header: text('h'),
    payload: text('payload'),
    ...overrides,
  });

  const cases: Array<[string, () => Buffer, RegExp]> = [
    [
      'garbage (an HTTP request)',
      () => Buffer.from('GET / HTTP/1.1\r\nHost: example\r\n\r\n'),
      /exceeds the limit/,
    ],
    [
      'an oversized length',
      () => {
        const prefix = frameBytes(request()).subarray(0, 22);
        prefix.writeUInt32BE(1024 * 1024, 0);
        return prefix;
      },
      /exceeds the limit/,
    ],
    [
      'a flipped checksum byte',
      () => {
        const bytes = frameBytes(request());
        bytes[14] = bytes[14]! ^ 0x01;
        return bytes;
      },
      /checksum mismatch/,
    ],
    [
      'a bad version',
      () => {
        const bytes = frameBytes(request());
        bytes[4] = FRAME_VERSION + 1;
        return bytes;
      },
      /unsupported frame version/,
    ],
    [
      'a length shorter than the prefix',
      () => Buffer.from([0, 0, 0, 3, 1, 0, 0]),
      /shorter than the fixed prefix/,
    ],
    ['a response-kind frame', () => frameBytes(request({ kind: 'response' })), /received a response frame/],
  ];

  it.each(cases)('closes the connection that sends %s, and only that one', async (_name, bytes, reason) => {
    const logger = recordingLogger();
    const { endpoint, server } = await startServer({ handler: echo, logger, maxFrameBytes: 64 * 1024 });
    const client = newClient();
    await expectEcho(client, endpoint, 'before');

    const raw = await rawConnect(endpoint);
    sockets.push(raw.socket);
    const localPort = raw.socket.localPort;
    raw.socket.write(bytes());
    await raw.closed;

    const warning = logger.entries.find(
      (e) => e.level === 'warn' && /protocol violation/.test(e.message ?? ''),
    );
    expect(warning).toBeDefined();
    expect(String(warning!.fields.reason)).toMatch(reason);
    expect(warning!.fields.remote).toBe(`${LOCAL}:${localPort}`);

    await expectEcho(client, endpoint, 'after');
    await waitFor(() => server.connectionCount === 1, 'only the client connection left');
  });

  it('refuses connections over maxConnections and keeps serving the others', async () => {
    const logger = recordingLogger();
    const { endpoint, server } = await startServer({ handler: echo, logger, maxConnections: 1 });
    const client = newClient({ connectionsPerEndpoint: 1 });
    await expectEcho(client, endpoint, 'first');
    const raw = await rawConnect(endpoint);
    sockets.push(raw.socket);
    await raw.closed;
    expect(
      logger.entries.some((e) => e.level === 'warn' && /too many connections/.test(e.message ?? '')),
    ).toBe(true);
    expect(server.connectionCount).toBe(1);
    await expectEcho(client, endpoint, 'second');
  });

  it('stops reading from a peer that does not read its responses', async () => {
    let handled = 0;
    const big = new Uint8Array(1024 * 1024);
    const { endpoint } = await startServer({
      maxInFlightPerConnection: 4,
      handler: async () => {
        handled += 1;
        return { header: text('big'), payload: big };
      },
    });
    const raw = await rawConnect(endpoint);
    sockets.push(raw.socket);
    raw.socket.pause(); // never read
    const total = 300; // 300 MiB of responses if the server kept answering
    raw.socket.write(
      Buffer.concat(
        Array.from({ length: total }, (_, i) =>
          frameBytes({ kind: 'request', correlationId: i, header: text('r'), payload: new Uint8Array(0) }),
        ),
      ),
    );
    // Wait until the server stops making progress (bounded), then check it stopped well short.
    let last = -1;
    let stable = 0;
    for (let i = 0; i < 200 && stable < 5; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      stable = handled === last ? stable + 1 : 0;
      last = handled;
    }
    expect(handled).toBeGreaterThan(0);
    expect(handled).toBeLessThan(total);
  });
});

describe('RpcClient protocol violations by the server', () => {
  async function rawServer(respond: (socket: net.Socket, frame: Buffer) => void): Promise<Endpoint> {
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', (chunk) => respond(socket, chunk));
    });
    rawServers.push(server);
    server.listen(0, LOCAL);
    await once(server, 'listening');
    return { host: LOCAL, port: (server.address() as net.AddressInfo).port };
  }

  it('rejects with ProtocolError (cause: the decode error) when the server sends garbage', async () => {
    const endpoint = await rawServer((socket) =>
      socket.write(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')),
    );
    const logger = recordingLogger();
    const client = newClient({ logger });
    const result = await outcome(client.request(endpoint, { header: text('x') }));
    expect(result.error).toBeInstanceOf(ProtocolError);
    expect((result.error as ProtocolError).cause).toBeInstanceOf(DecodeError);
    expect(logger.entries.some((e) => e.level === 'warn')).toBe(true);
    expect(client.stats()[0]?.connections ?? 0).toBe(0);
  });

  it('rejects with ProtocolError when the server answers with a bad checksum', async () => {
    const endpoint = await rawServer((socket, chunk) => {
      const bytes = frameBytes({
        kind: 'response',
        correlationId: chunk.readUInt32BE(6),
        header: text('r'),
        payload: text('p'),
      });
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
      socket.write(bytes);
    });
    const client = newClient();
    const result = await outcome(client.request(endpoint, { header: text('x') }));
    expect(result.error).toBeInstanceOf(ProtocolError);
    expect((result.error as ProtocolError).cause).toBeInstanceOf(ChecksumMismatchError);
  });

  it('rejects with ProtocolError when the server sends a request frame', async () => {
    const endpoint = await rawServer((socket, chunk) =>
      socket.write(
        frameBytes({
          kind: 'request',
          correlationId: chunk.readUInt32BE(6),
          header: text('r'),
          payload: text(''),
        }),
      ),
    );
    const client = newClient();
    const result = await outcome(client.request(endpoint, { header: text('x') }));
    expect(result.error).toBeInstanceOf(ProtocolError);
    expect((result.error as Error).message).toMatch(/request frame/);
  });

  it('rejects with ProtocolError on an unsupported frame version', async () => {
    const endpoint = await rawServer((socket, chunk) => {
      const bytes = frameBytes({
        kind: 'response',
        correlationId: chunk.readUInt32BE(6),
        header: text('r'),
        payload: text(''),
      });
      bytes[4] = 99;
      socket.write(bytes);
    });
    const client = newClient();
    const result = await outcome(client.request(endpoint, { header: text('x') }));
    expect((result.error as ProtocolError).cause).toBeInstanceOf(UnsupportedVersionError);
  });

  it('rejects with ConnectionClosedError when the server closes the connection mid-request', async () => {
    const endpoint = await rawServer((socket) => socket.destroy());
    const client = newClient();
    const result = await outcome(client.request(endpoint, { header: text('x') }));
    expect(result.error).toBeInstanceOf(ConnectionClosedError);
  });

  it('ignores a response for an unknown correlation id and matches the right one', async () => {
    const endpoint = await rawServer((socket, chunk) => {
      const id = chunk.readUInt32BE(6);
      socket.write(
        frameBytes({ kind: 'response', correlationId: id + 1000, header: text('stray'), payload: text('') }),
      );
      socket.write(
        frameBytes({ kind: 'response', correlationId: id, header: text('mine'), payload: text('') }),
      );
    });
    const client = newClient();
    const reply = await client.request(endpoint, { header: text('x') });
    expect(str(reply.header)).toBe('mine');
  });
});
