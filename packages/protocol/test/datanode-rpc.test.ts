/**
 * The typed data-node protocol end to end over real TCP: DataNodeClient -> frames -> DataNodeServer
 * -> handlers backed by a tiny in-memory replica, and back.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlobId, BlobIdType } from '../src/blob-id.js';
import type { BlobProperties } from '../src/blob-properties.js';
import { xxh64 } from '../src/checksum.js';
import { DataNodeClient } from '../src/datanode-client.js';
import { type DataNodeHandlers, DataNodeServer, type RequestOutcome } from '../src/datanode-server.js';
import { type Endpoint, ErrorCode, ServerError } from '../src/errors.js';
import type { Logger } from '../src/logger.js';
import { RpcClient } from '../src/rpc/client.js';
import type { UserMetadata } from '../src/user-metadata.js';
import { decodeResponse } from '../src/wire/responses.js';
import {
  AdminKind,
  type BlobState,
  GetPart,
  type MessageInfo,
  NEVER_EXPIRES,
  SealState,
} from '../src/wire/types.js';

interface StoredBlob {
  properties: BlobProperties;
  userMetadata: UserMetadata;
  bytes: Uint8Array;
  checksum: bigint;
  state: BlobState;
}

/** A replica in a Map: just enough behaviour to exercise every request type and error path. */
function memoryReplica(): { handlers: DataNodeHandlers; blobs: Map<string, StoredBlob> } {
  const blobs = new Map<string, StoredBlob>();
  const find = (id: BlobId): StoredBlob => {
    const blob = blobs.get(id.toString());
    if (!blob) throw new ServerError(ErrorCode.BLOB_NOT_FOUND, `no blob ${id}`);
    return blob;
  };
  const handlers: DataNodeHandlers = {
    put: async (request) => {
      if (blobs.has(request.blobId.toString()))
        throw new ServerError(ErrorCode.BLOB_ALREADY_EXISTS, 'exists');
      blobs.set(request.blobId.toString(), {
        properties: request.properties,
        userMetadata: request.userMetadata,
        bytes: Buffer.from(request.blob),
        checksum: request.blobChecksum!,
        state: {
          deleted: false,
          expired: false,
          ttlUpdated: false,
          lifeVersion: 0,
          expiresAtMs: NEVER_EXPIRES,
          operationTimeMs: request.properties.creationTimeMs,
        },
      });
    },
    get: async (request) => {
      const blob = find(request.blobId);
      if (blob.state.deleted && !request.includeDeleted)
        throw new ServerError(ErrorCode.BLOB_DELETED, 'deleted');
      const part = request.part ?? GetPart.ALL;
      let bytes = part === GetPart.INFO ? new Uint8Array(0) : blob.bytes;
      let range: { offset: number; length: number } | undefined;
      if (request.range && part !== GetPart.INFO) {
        if (request.range.offset >= blob.bytes.byteLength)
          throw new ServerError(ErrorCode.RANGE_NOT_SATISFIABLE, '');
        const length = Math.min(request.range.length, blob.bytes.byteLength - request.range.offset);
        range = { offset: request.range.offset, length };
        bytes = blob.bytes.subarray(range.offset, range.offset + length);
      }
      return {
        ...(part === GetPart.BLOB ? {} : { properties: blob.properties, userMetadata: blob.userMetadata }),
        blobSize: blob.bytes.byteLength,
        blobChecksum: blob.checksum,
        ...(range ? { range } : {}),
        state: blob.state,
        blob: bytes,
      };
    },
    delete: async (request) => {
      const blob = find(request.blobId);
      if (blob.state.deleted) throw new ServerError(ErrorCode.BLOB_DELETED, 'already deleted');
      blob.state = { ...blob.state, deleted: true, operationTimeMs: request.operationTimeMs };
    },
    ttlUpdate: async (request) => {
      const blob = find(request.blobId);
      blob.state = { ...blob.state, ttlUpdated: true, expiresAtMs: request.expiresAtMs };
    },
    undelete: async (request) => {
      const blob = find(request.blobId);
      if (!blob.state.deleted) throw new ServerError(ErrorCode.BLOB_NOT_DELETED, 'not deleted');
      blob.state = { ...blob.state, deleted: false, lifeVersion: blob.state.lifeVersion + 1 };
      return { lifeVersion: blob.state.lifeVersion };
    },
    replicaMetadata: async (request) => ({
      partitions: request.partitions.map((p) => {
        const entries: MessageInfo[] = [...blobs.entries()]
          .map(([key, blob]) => ({ blobId: BlobId.parse(key), blob }))
          .filter(({ blobId }) => blobId.partitionId === p.partitionId)
          .map(({ blobId, blob }) => ({
            blobId,
            size: blob.bytes.byteLength,
            expiresAtMs: blob.state.expiresAtMs,
            deleted: blob.state.deleted,
            ttlUpdated: blob.state.ttlUpdated,
            undeleted: blob.state.lifeVersion > 0,
            lifeVersion: blob.state.lifeVersion,
            operationTimeMs: blob.state.operationTimeMs,
            accountId: blob.properties.accountId,
            containerId: blob.properties.containerId,
            checksum: blob.checksum,
          }));
        return {
          partitionId: p.partitionId,
          error: ErrorCode.OK,
          entries,
          token: Buffer.from([entries.length]),
          lagBytes: 0,
        };
      }),
    }),
    admin: async (request) => ({
      healthy: true,
      status: request.kind === AdminKind.HEALTH ? 'serving' : 'stats',
      replicas: [
        {
          partitionId: 7,
          sealState: SealState.READ_WRITE,
          available: true,
          bytesUsed: [...blobs.values()].reduce((sum, b) => sum + b.bytes.byteLength, 0),
          capacityBytes: 2 ** 40,
          blobCount: blobs.size,
        },
      ],
    }),
  };
  return { handlers, blobs };
}

const properties = (size: number): BlobProperties => ({
  blobSize: size,
  serviceId: 'photos',
  contentType: 'image/png',
  creationTimeMs: 1_795_000_000_000,
  ttlSeconds: NEVER_EXPIRES,
  isPrivate: false,
  accountId: 10,
  containerId: 2,
  isEncrypted: false,
});

function recordingLogger(): Logger & { errors: unknown[] } {
  const errors: unknown[] = [];
  const ignore = () => {};
  return { debug: ignore, info: ignore, warn: ignore, error: (fields) => errors.push(fields), errors };
}

describe('DataNodeClient <-> DataNodeServer over TCP', () => {
  let server: DataNodeServer;
  let client: DataNodeClient;
  let endpoint: Endpoint;
  let outcomes: RequestOutcome[];
  let logger: ReturnType<typeof recordingLogger>;

  beforeEach(async () => {
    outcomes = [];
    logger = recordingLogger();
    server = new DataNodeServer({
      handlers: memoryReplica().handlers,
      logger,
      onRequest: (outcome) => outcomes.push(outcome),
    });
    endpoint = await server.listen({ host: '127.0.0.1', port: 0 });
    client = new DataNodeClient({ clientId: 'test-router', connectionsPerEndpoint: 2 });
  });

  afterEach(async () => {
    await client.close();
    await server.close();
  });

  it('serves every request type with the right payloads and error codes', async () => {
    const blobId = BlobId.generate({ partitionId: 7, datacenterId: 1, accountId: 10, containerId: 2 });
    const bytes = Buffer.from('the quick brown fox jumps over the lazy dog');
    await client.put(endpoint, {
      blobId,
      properties: properties(bytes.length),
      userMetadata: { tag: 'fox' },
      blob: bytes,
    });

    const all = await client.get(endpoint, { blobId });
    expect(Buffer.from(all.blob).toString()).toBe(bytes.toString());
    expect(all.blobChecksum).toBe(xxh64(bytes));
    expect(all.properties?.serviceId).toBe('photos');
    expect(all.userMetadata).toEqual({ tag: 'fox' });

    const info = await client.get(endpoint, { blobId, part: GetPart.INFO });
    expect(info.blob.byteLength).toBe(0);
    expect(info.properties?.contentType).toBe('image/png');

    const slice = await client.get(endpoint, { blobId, part: GetPart.BLOB, range: { offset: 4, length: 5 } });
    expect(Buffer.from(slice.blob).toString()).toBe('quick');
    expect(slice.range).toEqual({ offset: 4, length: 5 });
    expect(slice.properties).toBeUndefined();

    const tail = await client.get(endpoint, {
      blobId,
      part: GetPart.BLOB,
      range: { offset: 40, length: 100 },
    });
    expect(Buffer.from(tail.blob).toString()).toBe('dog');

    await client.ttlUpdate(endpoint, { blobId, expiresAtMs: 1_900_000_000_000, operationTimeMs: 5 });
    await client.delete(endpoint, { blobId, operationTimeMs: 6 });
    await expect(client.get(endpoint, { blobId })).rejects.toMatchObject({ code: ErrorCode.BLOB_DELETED });
    const deleted = await client.get(endpoint, { blobId, includeDeleted: true, part: GetPart.INFO });
    expect(deleted.state).toMatchObject({ deleted: true, ttlUpdated: true, expiresAtMs: 1_900_000_000_000 });

    expect(await client.undelete(endpoint, { blobId, operationTimeMs: 7 })).toEqual({ lifeVersion: 1 });
    await expect(client.undelete(endpoint, { blobId, operationTimeMs: 8 })).rejects.toMatchObject({
      code: ErrorCode.BLOB_NOT_DELETED,
    });

    const meta = await client.replicaMetadata(endpoint, {
      partitions: [{ partitionId: 7, token: new Uint8Array(0) }],
      maxTotalBytes: 1 << 20,
      requester: 'peer:1',
    });
    expect(meta.partitions[0]!.entries).toHaveLength(1);
    expect(meta.partitions[0]!.entries[0]!.blobId.equals(blobId)).toBe(true);
    expect(meta.partitions[0]!.entries[0]!.checksum).toBe(xxh64(bytes));
    expect(meta.partitions[0]!.entries[0]!.lifeVersion).toBe(1);

    const admin = await client.admin(endpoint, { kind: AdminKind.REPLICA_STATS });
    expect(admin.replicas[0]).toMatchObject({ partitionId: 7, blobCount: 1, bytesUsed: bytes.length });

    await expect(
      client.put(endpoint, { blobId, properties: properties(1), userMetadata: {}, blob: Buffer.from('x') }),
    ).rejects.toMatchObject({ code: ErrorCode.BLOB_ALREADY_EXISTS });
    await expect(
      client.get(endpoint, { blobId, part: GetPart.BLOB, range: { offset: 1000, length: 1 } }),
    ).rejects.toMatchObject({ code: ErrorCode.RANGE_NOT_SATISFIABLE });

    const types = outcomes.map((o) => `${o.type}:${ErrorCode[o.error]}`);
    expect(types).toContain('put:OK');
    expect(types).toContain('get:BLOB_DELETED');
    expect(types).toContain('undelete:BLOB_NOT_DELETED');
    expect(outcomes.find((o) => o.type === 'put')!.bytesIn).toBeGreaterThan(bytes.length);
  });

  it('moves a 4 MiB chunk intact', async () => {
    const blobId = BlobId.generate({ partitionId: 7, type: BlobIdType.DATA_CHUNK });
    const bytes = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < bytes.length; i += 4) bytes.writeUInt32BE(i, i);
    await client.put(endpoint, {
      blobId,
      properties: properties(bytes.length),
      userMetadata: {},
      blob: bytes,
    });
    const back = await client.get(endpoint, { blobId, part: GetPart.BLOB });
    expect(Buffer.from(back.blob).equals(bytes)).toBe(true);
  });

  it('send() returns error codes instead of throwing', async () => {
    const blobId = BlobId.generate({ partitionId: 7 });
    const response = await client.send(endpoint, { type: 'get', blobId });
    expect(response.error).toBe(ErrorCode.BLOB_NOT_FOUND);
    expect(response.type).toBe('get');
  });

  it('answers a malformed header with BAD_REQUEST on the same connection, instead of closing it', async () => {
    const raw = new RpcClient({ connectionsPerEndpoint: 1 });
    try {
      const reply = await raw.request(endpoint, { header: Buffer.from([0xff, 0xff, 0xff]) });
      expect(decodeResponse(reply.header, reply.payload, 'get').error).toBe(ErrorCode.BAD_REQUEST);
      const again = await raw.request(endpoint, { header: Buffer.from([0x08]) }); // truncated varint
      expect(decodeResponse(again.header, again.payload, 'get').error).toBe(ErrorCode.BAD_REQUEST);
      expect(server.connectionCount).toBe(1);
      expect(outcomes.map((o) => o.type)).toEqual(['unknown', 'unknown']);
    } finally {
      await raw.close();
    }
  });
});

describe('DataNodeServer error mapping', () => {
  it('answers UNKNOWN_ERROR when a handler throws something that is not a ServerError, and logs it', async () => {
    const logger = recordingLogger();
    const server = new DataNodeServer({
      logger,
      handlers: {
        delete: async () => {
          throw new TypeError('bug in a handler');
        },
      },
    });
    const endpoint = await server.listen({ host: '127.0.0.1', port: 0 });
    const client = new DataNodeClient();
    try {
      const blobId = BlobId.generate({ partitionId: 1 });
      const error = await client.delete(endpoint, { blobId, operationTimeMs: 1 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ServerError);
      expect((error as ServerError).code).toBe(ErrorCode.UNKNOWN_ERROR);
      expect((error as ServerError).detail).not.toContain('bug in a handler');
      expect(logger.errors).toHaveLength(1);
      // A type with no handler is UNKNOWN_REQUEST_TYPE, and the connection keeps serving.
      await expect(client.get(endpoint, { blobId })).rejects.toMatchObject({
        code: ErrorCode.UNKNOWN_REQUEST_TYPE,
      });
    } finally {
      await client.close();
      await server.close();
    }
  });
});
