import { buffer } from 'node:stream/consumers';
import { type BlobId, BlobIdType, type BlobProperties, ErrorCode, ServerError } from '@ambry/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RouterErrorCode } from '../src/errors.js';
import type { Router } from '../src/router.js';
import { type ClusterFixture, startCluster } from './cluster-fixture.js';
import { rejection } from './rejection.js';

const CHUNK = 1024;

let cluster: ClusterFixture;
beforeEach(async () => {
  cluster = await startCluster();
});
afterEach(async () => {
  await cluster.close();
});

function props(blobSize: number, ttlSeconds = 3600): BlobProperties {
  return {
    blobSize,
    serviceId: 'composite-test',
    contentType: 'application/octet-stream',
    creationTimeMs: Date.now(),
    ttlSeconds,
    isPrivate: false,
    accountId: 5,
    containerId: 6,
  };
}

function bytes(size: number): Buffer {
  return Buffer.from(Array.from({ length: size }, (_, i) => (i * 13) % 256));
}

async function codeOf(promise: Promise<unknown>): Promise<RouterErrorCode> {
  return (await rejection(promise)).code;
}

/** Puts a 3.5-chunk blob and returns its id and its data chunk ids. */
async function putComposite(router: Router, ttlSeconds = 3600): Promise<{ id: BlobId; chunks: BlobId[] }> {
  const chunks = new Map<string, BlobId>();
  const stop = cluster.intercept((operation, blobId) => {
    if (operation === 'put' && blobId.type === BlobIdType.DATA_CHUNK) chunks.set(blobId.toString(), blobId);
  });
  const data = bytes(3.5 * CHUNK);
  const id = await router.put({ properties: props(data.length, ttlSeconds), blob: data });
  stop();
  await cluster.settle();
  expect(id.type).toBe(BlobIdType.METADATA);
  expect(chunks.size).toBe(4);
  return { id, chunks: [...chunks.values()] };
}

describe('updates of composite blobs', () => {
  it('delete answers after the metadata blob, then deletes every data chunk in the background', async () => {
    const router = cluster.router({ config: { chunkBytes: CHUNK } });
    const { id, chunks } = await putComposite(router);
    await router.delete(id);
    expect(await codeOf(router.get(id))).toBe(RouterErrorCode.BLOB_DELETED);
    await router.backgroundIdle();
    expect(router.backgroundStats()).toMatchObject({ completed: 1, failed: 0, dropped: 0 });
    for (const chunk of chunks) expect(await codeOf(router.get(chunk))).toBe(RouterErrorCode.BLOB_DELETED);
  });

  it('undelete brings the chunks back before the metadata blob, so the bytes read again', async () => {
    const router = cluster.router({ config: { chunkBytes: CHUNK, updateParallelism: 6 } });
    const { id, chunks } = await putComposite(router);
    for (const blob of [...chunks, id]) await cluster.replicate(blob);
    await router.delete(id);
    await router.backgroundIdle();
    const order: string[] = [];
    cluster.intercept((operation, blobId) => {
      if (operation === 'undelete') order.push(blobId.type === BlobIdType.METADATA ? 'metadata' : 'chunk');
    });
    await router.undelete(id);
    // Every chunk request went out before the first metadata request.
    expect(order.indexOf('metadata')).toBeGreaterThanOrEqual(chunks.length);
    expect(order.slice(order.indexOf('metadata')).every((kind) => kind === 'metadata')).toBe(true);
    await cluster.settle();
    const got = await router.get(id);
    expect((await buffer(got.blob)).equals(bytes(3.5 * CHUNK))).toBe(true);
  });

  it('undelete succeeds when the background delete never reached the chunks', async () => {
    const router = cluster.router({ config: { chunkBytes: CHUNK, updateParallelism: 6 } });
    const { id, chunks } = await putComposite(router);
    for (const blob of [...chunks, id]) await cluster.replicate(blob);
    cluster.intercept((operation, blobId) => {
      if (operation === 'delete' && blobId.type === BlobIdType.DATA_CHUNK) {
        throw new ServerError(ErrorCode.TEMPORARILY_DISABLED, 'injected: chunk deletes refused');
      }
    });
    await router.delete(id);
    await router.backgroundIdle();
    expect(router.backgroundStats()).toMatchObject({ completed: 0, failed: 1 });
    await router.undelete(id);
    await cluster.settle(); // the replicas past the quorum apply it too
    expect((await buffer((await router.get(id)).blob)).length).toBe(3.5 * CHUNK);
  });

  it('TTL update reaches every chunk; a chunk that refuses it leaves the metadata blob untouched', async () => {
    const router = cluster.router({ config: { chunkBytes: CHUNK } });
    const { id, chunks } = await putComposite(router);
    await router.updateTtl(id);
    for (const blob of [...chunks, id]) {
      expect((await router.get(blob, { part: 'info' })).state).toMatchObject({ expiresAtMs: -1 });
    }

    const second = await putComposite(router);
    const refused = second.chunks[2]!;
    cluster.intercept((operation, blobId) => {
      if (operation === 'ttlUpdate' && blobId.toString() === refused.toString()) {
        throw new ServerError(ErrorCode.BLOB_UPDATE_NOT_ALLOWED, 'injected');
      }
    });
    expect(await codeOf(router.updateTtl(second.id))).toBe(RouterErrorCode.BLOB_UPDATE_NOT_ALLOWED);
    const metadata = await router.get(second.id, { part: 'info' });
    expect(metadata.state.expiresAtMs).toBeGreaterThan(0);
  });

  it('refuses a TTL update of a deleted composite blob before touching its chunks', async () => {
    const router = cluster.router({ config: { chunkBytes: CHUNK } });
    const { id, chunks } = await putComposite(router);
    const refuse = cluster.intercept((operation, blobId) => {
      if (operation === 'delete' && blobId.type === BlobIdType.DATA_CHUNK) {
        throw new ServerError(ErrorCode.TEMPORARILY_DISABLED, 'injected: chunk deletes refused');
      }
    });
    await router.delete(id);
    await router.backgroundIdle();
    refuse();
    const ttlUpdates: string[] = [];
    cluster.intercept((operation, blobId) => {
      if (operation === 'ttlUpdate') ttlUpdates.push(blobId.toString());
    });
    expect(await codeOf(router.updateTtl(id))).toBe(RouterErrorCode.BLOB_DELETED);
    expect(ttlUpdates).toEqual([]);
    for (const chunk of chunks) {
      expect((await router.get(chunk, { part: 'info' })).state.expiresAtMs).toBeGreaterThan(0);
    }
  });

  it('close() stops a running chunk cleanup instead of waiting for it', async () => {
    const router = cluster.router({ config: { chunkBytes: CHUNK, requestTimeoutMs: 60_000 } });
    const { id } = await putComposite(router);
    // Chunk deletes go to every datacenter; dc2 now never answers, so the cleanup would wait minutes.
    for (const node of cluster.nodesIn('dc2'))
      cluster.network.blackhole({ host: node.host, port: node.port }, true);
    await router.delete(id).catch(() => undefined);
    await router.close();
    expect(router.backgroundStats()).toMatchObject({ running: 0, queued: 0, completed: 0 });
    expect(router.backgroundStats().dropped + router.backgroundStats().failed).toBeLessThanOrEqual(1);
  });
});
