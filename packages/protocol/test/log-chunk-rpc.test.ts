import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BlobId } from '../src/blob-id.js';
import { DataNodeClient } from '../src/datanode-client.js';
import { DataNodeServer } from '../src/datanode-server.js';
import { type Endpoint, ErrorCode, ProtocolError } from '../src/errors.js';
import { encodeFrame } from '../src/frame.js';
import { RpcServer } from '../src/rpc/server.js';
import { encodeResponse } from '../src/wire/responses.js';

/** LOG_CHUNK over TCP: a reply assembled in the caller's buffer, and the self-checked payload rules. */

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

function client(): DataNodeClient {
  const c = new DataNodeClient({ clientId: 'log-chunk-test', connectionsPerEndpoint: 1 });
  closers.push(() => c.close());
  return c;
}

const records = Buffer.alloc(3 * 1024 * 1024);
for (let i = 0; i < records.length; i += 4) records.writeUInt32BE(i, i);

describe('LOG_CHUNK over TCP', () => {
  it('arrives whole, in the buffer the caller offered, with a token that outlives the buffer', async () => {
    const server = new DataNodeServer({
      handlers: {
        logChunk: async (request) => ({
          incarnation: Buffer.alloc(16, 9),
          segmentBytes: 1 << 30,
          position: 32,
          token: Buffer.concat([Buffer.from([1, 1]), Buffer.from(request.token)]),
          lagBytes: 77,
          records,
        }),
      },
    });
    const endpoint = await server.listen({ host: '127.0.0.1', port: 0 });
    closers.push(() => server.close());
    const into = Buffer.alloc(4 * 1024 * 1024);
    const chunk = await client().logChunk(
      endpoint,
      { partitionId: 3, token: Buffer.from([5]), maxBytes: records.length },
      { receiveInto: into },
    );
    expect(Buffer.from(chunk.records).equals(records)).toBe(true);
    expect(chunk.records.buffer).toBe(into.buffer); // three megabytes span many reads: assembled in `into`
    into.fill(0);
    expect(Buffer.from(chunk.token)).toEqual(Buffer.from([1, 1, 5]));
    expect(Buffer.from(chunk.incarnation)).toEqual(Buffer.alloc(16, 9));
    expect([chunk.position, chunk.lagBytes, chunk.segmentBytes]).toEqual([32, 77, 1 << 30]);
  });

  it('a client refuses any other answer that leaves its payload out of the frame checksum', async () => {
    const server = new RpcServer({
      handler: async () => {
        const { header, payload } = encodeResponse({
          type: 'get',
          error: ErrorCode.OK,
          result: {
            blobSize: 4,
            blobChecksum: 0n,
            state: {
              deleted: false,
              expired: false,
              ttlUpdated: false,
              lifeVersion: 0,
              expiresAtMs: -1,
              operationTimeMs: 1,
            },
            blob: Buffer.from('evil'),
          },
        });
        return { header, payload, payloadSelfChecked: true };
      },
    });
    const endpoint = await server.listen({ host: '127.0.0.1', port: 0 });
    closers.push(() => server.close());
    const blobId = BlobId.generate({ partitionId: 1 });
    await expect(client().get(endpoint, { blobId })).rejects.toBeInstanceOf(ProtocolError);
  });

  it('a server closes a connection whose request leaves its payload out of the checksum', async () => {
    const server = new DataNodeServer({ handlers: {} });
    const endpoint: Endpoint = await server.listen({ host: '127.0.0.1', port: 0 });
    closers.push(() => server.close());
    const socket = net.connect(endpoint.port, endpoint.host);
    const closed = new Promise<Buffer>((resolve) => {
      const received: Buffer[] = [];
      socket.on('data', (data) => received.push(data));
      socket.on('close', () => resolve(Buffer.concat(received)));
    });
    for (const part of encodeFrame({
      kind: 'request',
      correlationId: 1,
      header: Buffer.from([0x08, 0x01]),
      payload: Buffer.from('x'),
      payloadSelfChecked: true,
    }))
      socket.write(part);
    expect((await closed).length).toBe(0); // no answer: the connection is dropped
  });

  it('runs afterResponse callbacks once per answer: written, failed, or dropped with the connection', async () => {
    const calls: string[] = [];
    let releaseSlow: (() => void) | undefined;
    const server = new DataNodeServer({
      handlers: {
        logChunk: async (request, context) => {
          context.afterResponse(() => calls.push(`sent ${request.partitionId}`));
          if (request.partitionId === 2) throw new Error('handler bug');
          if (request.partitionId === 3) await new Promise<void>((resolve) => (releaseSlow = resolve));
          return {
            incarnation: Buffer.alloc(16),
            segmentBytes: 1,
            position: 0,
            token: Buffer.alloc(0),
            lagBytes: 0,
            records: Buffer.alloc(0),
          };
        },
      },
    });
    const endpoint = await server.listen({ host: '127.0.0.1', port: 0 });
    closers.push(() => server.close());
    const c = client();
    const ask = (partitionId: number, on = c) =>
      on.logChunk(endpoint, { partitionId, token: Buffer.alloc(0), maxBytes: 1 });
    await ask(1);
    await expect(ask(2)).rejects.toMatchObject({ code: ErrorCode.UNKNOWN_ERROR });
    // The asker goes away before the answer: the callback still runs, once.
    const gone = new DataNodeClient({ clientId: 'gone', connectionsPerEndpoint: 1 });
    const pending = ask(3, gone).catch(() => 'closed');
    for (let i = 0; i < 200 && releaseSlow === undefined; i++) await new Promise((r) => setTimeout(r, 5));
    await gone.close();
    expect(await pending).toBe('closed');
    releaseSlow!();
    for (let i = 0; i < 200 && calls.length < 3; i++) await new Promise((r) => setTimeout(r, 5));
    expect(calls.sort()).toEqual(['sent 1', 'sent 2', 'sent 3']);
  });
});
