/**
 * Regression tests from a review of the RPC and data-node layers: each case failed before its fix.
 * Real TCP on 127.0.0.1 (port 0); everything started here is stopped in afterEach.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BlobId } from '../src/blob-id.js';
import { DataNodeClient } from '../src/datanode-client.js';
import { type DataNodeHandlers, DataNodeServer } from '../src/datanode-server.js';
import { type Endpoint, ErrorCode, ServerError } from '../src/errors.js';
import type { GetResult } from '../src/wire/types.js';
import { LOCAL, outcome, recordingLogger } from './rpc-helpers.js';

const dataNodeServers: DataNodeServer[] = [];
const dataNodeClients: DataNodeClient[] = [];

afterEach(async () => {
  await Promise.all(dataNodeClients.splice(0).map((client) => client.close()));
  await Promise.all(dataNodeServers.splice(0).map((server) => server.close({ timeoutMs: 200 })));
});

async function startDataNode(
  options: ConstructorParameters<typeof DataNodeServer>[0],
): Promise<{ server: DataNodeServer; endpoint: Endpoint }> {
  const server = new DataNodeServer(options);
  dataNodeServers.push(server);
  const endpoint = await server.listen({ host: LOCAL, port: 0 });
  return { server, endpoint };
}

function newDataNodeClient(): DataNodeClient {
  const client = new DataNodeClient({ connectionsPerEndpoint: 1 });
  dataNodeClients.push(client);
  return client;
}

const okState = {
  deleted: false,
  expired: false,
  ttlUpdated: false,
  lifeVersion: 0,
  expiresAtMs: -1,
  operationTimeMs: 0,
};

describe('DataNodeServer: a misbehaving handler or onRequest never closes the connection', () => {
  it('still answers when the onRequest callback throws, and keeps the connection', async () => {
    const logger = recordingLogger();
    const { server, endpoint } = await startDataNode({
      logger,
      handlers: { delete: async () => {} },
      onRequest: () => {
        throw new Error('metrics bug');
      },
    });
    const client = newDataNodeClient();
    const blobId = BlobId.generate({ partitionId: 1 });
    await client.delete(endpoint, { blobId, operationTimeMs: 1 });
    await client.delete(endpoint, { blobId, operationTimeMs: 2 });
    expect(server.connectionCount).toBe(1);
    expect(client.rpc.stats()[0]?.connections).toBe(1);
    expect(logger.entries.some((e) => e.level === 'error')).toBe(true);
  });

  it('answers UNKNOWN_ERROR when a handler returns a result that cannot be encoded', async () => {
    const logger = recordingLogger();
    const handlers: DataNodeHandlers = {
      // A handler bug: the checksum is not a bigint, so the result does not encode.
      get: async () =>
        ({ blobSize: 0, blobChecksum: 'nope', state: okState, blob: new Uint8Array(0) }) as never,
      delete: async () => {},
    };
    const { server, endpoint } = await startDataNode({ logger, handlers });
    const client = newDataNodeClient();
    const blobId = BlobId.generate({ partitionId: 1 });
    const result = await outcome(client.get(endpoint, { blobId }));
    expect(result.error).toBeInstanceOf(ServerError);
    expect((result.error as ServerError).code).toBe(ErrorCode.UNKNOWN_ERROR);
    // Same connection keeps serving.
    await client.delete(endpoint, { blobId, operationTimeMs: 1 });
    expect(server.connectionCount).toBe(1);
    expect(logger.entries.some((e) => e.level === 'error')).toBe(true);
  });

  it('answers UNKNOWN_ERROR when a handler returns a blob too large for one frame', async () => {
    const maxFrameBytes = 64 * 1024;
    const handlers: DataNodeHandlers = {
      get: async (): Promise<GetResult> => ({
        blobSize: 128 * 1024,
        blobChecksum: 0n,
        state: okState,
        blob: new Uint8Array(128 * 1024),
      }),
      delete: async () => {},
    };
    const { server, endpoint } = await startDataNode({ maxFrameBytes, handlers });
    const client = newDataNodeClient();
    const blobId = BlobId.generate({ partitionId: 1 });
    const result = await outcome(client.get(endpoint, { blobId }));
    expect(result.error).toBeInstanceOf(ServerError);
    expect((result.error as ServerError).code).toBe(ErrorCode.UNKNOWN_ERROR);
    await client.delete(endpoint, { blobId, operationTimeMs: 1 });
    expect(server.connectionCount).toBe(1);
  });
});
