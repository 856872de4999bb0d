/**
 * The router end to end against three REAL datanode processes (TCP, stores on disk): one cluster for
 * the file, 1 dc × 3 nodes × 2 disks. A 64 KiB chunk size exercises chunking with small blobs. Where
 * the router's answer alone could hide a bug (a quorum it claims, a state it reports), the replicas are
 * asked directly with a DataNodeClient.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import type { StaticClusterMap } from '@ambry/clustermap';
import {
  BlobId,
  BlobIdType,
  type BlobProperties,
  DataNodeClient,
  ErrorCode,
  GetPart,
  type GetResult,
  NEVER_EXPIRES,
  ServerError,
} from '@ambry/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatanodeCluster } from '../../../test-support/datanode-cluster.js';
import { RouterError, RouterErrorCode } from '../src/errors.js';
import { Router } from '../src/router.js';

const CHUNK = 64 * 1024;

let cluster: DatanodeCluster;
let clusterMap: StaticClusterMap;
let router: Router;
const direct = new DataNodeClient({ clientId: 'e2e-check', requestTimeoutMs: 5000 });

beforeAll(async () => {
  cluster = await DatanodeCluster.create({ partitions: 4, segmentBytes: 8 * 1024 * 1024 });
  await cluster.start();
  clusterMap = await cluster.loadClusterMap();
  router = Router.create({ clusterMap, config: { chunkBytes: CHUNK } });
}, 60_000);

afterAll(async () => {
  await router?.close();
  await direct.close();
  await cluster?.destroy();
});

function props(blobSize: number | undefined, extra: Partial<BlobProperties> = {}) {
  return {
    ...(blobSize === undefined ? {} : { blobSize }),
    serviceId: 'router-e2e',
    contentType: 'application/octet-stream',
    creationTimeMs: Date.now(),
    ttlSeconds: -1,
    isPrivate: false,
    accountId: 201,
    containerId: 3,
    ...extra,
  };
}

async function rejection(promise: Promise<unknown>): Promise<RouterError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RouterError);
  return error as RouterError;
}

type ReplicaAnswer = GetResult | ErrorCode | 'unreachable';

/**
 * Each replica's own answer for `id` (INFO part, deleted included): a GetResult, the error code, or
 * 'unreachable' for a node that is down.
 */
async function onReplicas(id: BlobId): Promise<ReplicaAnswer[]> {
  return Promise.all(
    clusterMap.replicas(id.partitionId).map((replica) =>
      direct
        .get(
          { host: replica.node.host, port: replica.node.port },
          { blobId: id, part: GetPart.INFO, includeDeleted: true },
        )
        .catch((error: unknown) => {
          if (error instanceof ServerError) return error.code;
          return 'unreachable' as const;
        }),
    ),
  );
}

const held = (answers: readonly ReplicaAnswer[]) =>
  answers.filter((a): a is GetResult => typeof a === 'object');

/**
 * An update returns once its quorum (2 of 3) applied it and every other replica it asked has answered,
 * so a read right after it cannot be served by a replica whose update is still on its way: with every
 * node up, every replica has applied it by then.
 */
async function onEveryReplica(id: BlobId, holds: (state: GetResult['state']) => boolean): Promise<void> {
  const answers = await onReplicas(id);
  expect(answers.map((a) => typeof a === 'object' && holds(a.state))).toEqual(answers.map(() => true));
}

describe('put and get, byte for byte', () => {
  for (const size of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3.5 * CHUNK]) {
    it(`a ${size}-byte Buffer round-trips`, async () => {
      const blob = randomBytes(size);
      const id = await router.put({ properties: props(size), userMetadata: { size: String(size) }, blob });
      expect(id.type).toBe(size > CHUNK ? BlobIdType.METADATA : BlobIdType.SIMPLE);
      const got = await router.get(id.toString());
      expect(got.blobSize).toBe(size);
      expect(got.properties.blobSize).toBe(size);
      expect(got.userMetadata).toEqual({ size: String(size) });
      const bytes = await buffer(got.blob);
      expect(bytes.equals(blob)).toBe(true);
      // The router claimed a quorum of 2: at least two replicas of the id's partition hold it.
      expect(held(await onReplicas(id)).length).toBeGreaterThanOrEqual(2);
    });
  }

  it('a Readable of unknown length in odd pieces becomes a composite blob', async () => {
    const blob = randomBytes(3.5 * CHUNK);
    const pieces = [0, 1000, 70_000, 70_001, 200_000, blob.length];
    const parts = pieces.slice(1).map((end, i) => blob.subarray(pieces[i], end));
    const id = await router.put({ properties: props(undefined), blob: Readable.from(parts) });
    expect(id.type).toBe(BlobIdType.METADATA);
    const got = await router.get(id);
    expect(got.blobSize).toBe(blob.length);
    expect((await buffer(got.blob)).equals(blob)).toBe(true);
  });

  it('byte ranges across chunk edges return exactly those bytes', async () => {
    const blob = randomBytes(3.5 * CHUNK);
    const id = await router.put({ properties: props(blob.length), blob });
    const ranges = [
      { offset: CHUNK - 10, length: 20 },
      { offset: CHUNK - 1, length: CHUNK + 2 },
      { offset: 3 * CHUNK + 5, length: 10 * CHUNK }, // clamped to the end
      { offset: 0, length: 1 },
    ];
    for (const range of ranges) {
      const got = await router.get(id, { range });
      const end = Math.min(range.offset + range.length, blob.length);
      expect(got.range).toEqual({ offset: range.offset, length: end - range.offset });
      expect(got.blobSize).toBe(blob.length);
      expect((await buffer(got.blob)).equals(blob.subarray(range.offset, end))).toBe(true);
    }
    const outside = await rejection(router.get(id, { range: { offset: blob.length, length: 1 } }));
    expect(outside.code).toBe(RouterErrorCode.RANGE_NOT_SATISFIABLE);
  });

  it('an info-only get has the properties and the whole size but no bytes', async () => {
    for (const size of [10, 2 * CHUNK + 3]) {
      const id = await router.put({
        properties: props(size, { contentType: 'image/png' }),
        userMetadata: { kind: 'info' },
        blob: randomBytes(size),
      });
      const info = await router.get(id, { part: 'info' });
      expect(info.blobSize).toBe(size);
      expect(info.properties).toMatchObject({ blobSize: size, contentType: 'image/png', accountId: 201 });
      expect(info.userMetadata).toEqual({ kind: 'info' });
      expect(info.state.deleted).toBe(false);
      expect((await buffer(info.blob)).length).toBe(0);
    }
  });

  it('a blob id that was never stored is BLOB_NOT_FOUND', async () => {
    // A partition that exists, so the replicas are asked and answer not found.
    const missing = BlobId.generate({
      type: BlobIdType.SIMPLE,
      partitionId: clusterMap.partitions()[0]!.id,
      datacenterId: clusterMap.localDatacenter.id,
      accountId: 201,
      containerId: 3,
    });
    expect((await rejection(router.get(missing))).code).toBe(RouterErrorCode.BLOB_NOT_FOUND);
    expect(await onReplicas(missing)).toEqual([
      ErrorCode.BLOB_NOT_FOUND,
      ErrorCode.BLOB_NOT_FOUND,
      ErrorCode.BLOB_NOT_FOUND,
    ]);
  });
});

describe('delete, TTL update and undelete', () => {
  it('a deleted blob is BLOB_DELETED, and readable with includeDeleted', async () => {
    for (const size of [100, 2 * CHUNK + 7]) {
      const blob = randomBytes(size);
      const id = await router.put({ properties: props(size), blob });
      await router.delete(id);
      // A delete quorum of 2: at least two replicas say deleted as soon as it returns.
      expect(held(await onReplicas(id)).filter((r) => r.state.deleted).length).toBeGreaterThanOrEqual(2);
      await onEveryReplica(id, (state) => state.deleted);
      const gone = await rejection(router.get(id));
      expect(gone.code).toBe(RouterErrorCode.BLOB_DELETED);
      expect(gone.httpStatus).toBe(410);
      const kept = await router.get(id, { includeDeleted: true });
      expect(kept.state.deleted).toBe(true);
      expect((await buffer(kept.blob)).equals(blob)).toBe(true);
      // Deleting again is not an error (the state asked for already holds).
      await router.delete(id);
    }
  });

  it('updateTtl makes a blob with a TTL permanent, on the replicas too', async () => {
    const id = await router.put({ properties: props(5, { ttlSeconds: 3600 }), blob: Buffer.from('hello') });
    const before = await router.get(id, { part: 'info' });
    expect(before.state.expiresAtMs).not.toBe(NEVER_EXPIRES);
    expect(before.state.ttlUpdated).toBe(false);
    await router.updateTtl(id);
    const updated = held(await onReplicas(id)).filter((r) => r.state.expiresAtMs === NEVER_EXPIRES);
    expect(updated.length).toBeGreaterThanOrEqual(2);
    await onEveryReplica(id, (state) => state.ttlUpdated);
    const after = await router.get(id, { part: 'info' });
    expect(after.state.expiresAtMs).toBe(NEVER_EXPIRES);
    expect(after.state.ttlUpdated).toBe(true);
    // Repeating it is idempotent.
    await router.updateTtl(id);
  });

  it('undelete after delete makes the blob readable again', async () => {
    const blob = randomBytes(1234);
    const id = await router.put({ properties: props(blob.length), blob });
    const notDeleted = await rejection(router.undelete(id));
    expect(notDeleted.code).toBe(RouterErrorCode.BLOB_NOT_DELETED);
    await router.delete(id);
    await onEveryReplica(id, (state) => state.deleted);
    expect((await rejection(router.get(id))).code).toBe(RouterErrorCode.BLOB_DELETED);
    await router.undelete(id);
    // Undelete needs a quorum in every datacenter: 2 of the 3 here, with a higher life version.
    const undeleted = held(await onReplicas(id)).filter((r) => !r.state.deleted && r.state.lifeVersion > 0);
    expect(undeleted.length).toBeGreaterThanOrEqual(2);
    // Until the third replica has it too, a GET that asks that one first fails BLOB_DELETED: the router
    // takes one replica's "deleted" as final (FINAL_CODES in get-operation.ts).
    await onEveryReplica(id, (state) => !state.deleted);
    const got = await router.get(id);
    expect(got.state.deleted).toBe(false);
    expect(got.state.lifeVersion).toBeGreaterThan(0);
    expect((await buffer(got.blob)).equals(blob)).toBe(true);
  });
});

describe('aborting', () => {
  it('aborting mid-get ends the stream with ABORTED and does not hang', async () => {
    const size = 64 * CHUNK;
    const id = await router.put({ properties: props(size), blob: randomBytes(size) });
    const controller = new AbortController();
    const got = await router.get(id, { signal: controller.signal });
    let received = 0;
    const failure = await (async () => {
      for await (const part of got.blob) {
        received += (part as Buffer).length;
        if (received >= CHUNK) controller.abort();
      }
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(RouterError);
    expect((failure as RouterError).code).toBe(RouterErrorCode.ABORTED);
    expect(received).toBeLessThan(size);
    expect(got.blob.destroyed).toBe(true);
  });

  it('a signal aborted before the call rejects with ABORTED', async () => {
    const failure = await rejection(
      router.put({ properties: props(3), blob: Buffer.from('abc'), signal: AbortSignal.abort() }),
    );
    expect(failure.code).toBe(RouterErrorCode.ABORTED);
  });
});

describe('with data nodes down', () => {
  // Routers of their own, so what their failure detectors learn stays out of the tests above.
  const faultConfig = { chunkBytes: CHUNK, requestTimeoutMs: 1000, hedgeGets: false };

  it('one node killed: put and get still succeed on the other two, then it restarts', async () => {
    const before = await router.put({ properties: props(2 * CHUNK), blob: randomBytes(2 * CHUNK) });
    const faulty = Router.create({ clusterMap, config: faultConfig });
    try {
      expect(await cluster.stopNode(0, 'SIGKILL')).toBeNull();
      expect(cluster.isRunning(0)).toBe(false);
      for (const size of [10, 3 * CHUNK + 1]) {
        const blob = randomBytes(size);
        const id = await faulty.put({ properties: props(size), blob });
        expect((await buffer((await faulty.get(id)).blob)).equals(blob)).toBe(true);
        // The two live replicas hold it; the killed node cannot.
        const answers = await onReplicas(id);
        expect(held(answers)).toHaveLength(2);
        expect(answers.filter((a) => a === 'unreachable')).toHaveLength(1);
      }
      // A blob stored before the kill is still readable, whichever replica the get asks first.
      expect((await buffer((await faulty.get(before)).blob)).length).toBe(2 * CHUNK);
    } finally {
      if (!cluster.isRunning(0)) await cluster.startNode(0);
    }
    try {
      // Restarted after SIGKILL: the node recovered its stores and serves what it had acknowledged.
      expect(cluster.isRunning(0)).toBe(true);
      const answers = await onReplicas(before);
      expect(held(answers).length).toBeGreaterThanOrEqual(2);
    } finally {
      await faulty.close();
    }
  });

  it('two nodes down (one killed, one frozen): put fails UNAVAILABLE, bounded by the request timeout', async () => {
    const faulty = Router.create({ clusterMap, config: { ...faultConfig, maxPutAttempts: 2 } });
    expect(await cluster.stopNode(1, 'SIGKILL')).toBeNull();
    // SIGSTOP: the node keeps its connections open but never answers, so only the timeout ends a request.
    const frozen = cluster.pid(2)!;
    process.kill(frozen, 'SIGSTOP');
    try {
      const failure = await rejection(faulty.put({ properties: props(10), blob: randomBytes(10) }));
      expect(failure.code).toBe(RouterErrorCode.UNAVAILABLE);
      expect(failure.retryable).toBe(true);
      expect(failure.httpStatus).toBe(503);
    } finally {
      process.kill(frozen, 'SIGCONT');
      await cluster.startNode(1);
      await faulty.close();
    }
    // Back to three: the shared router (which never saw the outage) works as before.
    const id = await router.put({ properties: props(3), blob: Buffer.from('ok!') });
    expect((await buffer((await router.get(id)).blob)).toString()).toBe('ok!');
  });
});
