import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import {
  BlobId,
  type BlobProperties,
  DataNodeClient,
  ErrorCode,
  GetPart,
  ServerError,
} from '@ambry/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChangeCapture, type ChangeEvent, InProcessChangeSink } from '../src/change-capture.js';
import { RouterErrorCode } from '../src/errors.js';
import type { Router } from '../src/router.js';
import { type ClusterFixture, PARTITIONS, startCluster } from './cluster-fixture.js';
import { rejection } from './rejection.js';

let cluster: ClusterFixture;
beforeEach(async () => {
  cluster = await startCluster();
});
afterEach(async () => {
  await cluster.close();
});

function props(blobSize: number, extra: Partial<BlobProperties> = {}): BlobProperties {
  return {
    blobSize,
    serviceId: 'router-test',
    contentType: 'text/plain',
    creationTimeMs: 1_700_000_000_000,
    ttlSeconds: -1,
    isPrivate: false,
    accountId: 101,
    containerId: 7,
    ...extra,
  };
}

async function put(router: Router, content: string, extra?: Partial<BlobProperties>): Promise<BlobId> {
  const blob = Buffer.from(content);
  return router.put({ properties: props(blob.length, extra), userMetadata: { who: 'me' }, blob });
}

describe('Router put and get', () => {
  it('round-trips bytes, properties and user metadata', async () => {
    const router = cluster.router();
    const id = await put(router, 'hello router');
    expect(id.datacenterId).toBe(0);
    expect([id.accountId, id.containerId]).toEqual([101, 7]);
    const got = await router.get(id.toString());
    expect(await text(got.blob)).toBe('hello router');
    expect(got.properties).toMatchObject({ blobSize: 12, serviceId: 'router-test', accountId: 101 });
    expect(got.userMetadata).toEqual({ who: 'me' });
    expect(got.blobSize).toBe(12);
    const range = await router.get(id, { range: { offset: 6, length: 100 } });
    expect(range.range).toEqual({ offset: 6, length: 6 });
    expect(await text(range.blob)).toBe('router');
    const info = await router.get(id, { part: 'info' });
    expect(await text(info.blob)).toBe('');
    expect(info.properties.contentType).toBe('text/plain');
  });

  it('reads a Readable fully and checks it against blobSize', async () => {
    const router = cluster.router({ config: { chunkBytes: 1024 } });
    const id = await router.put({
      properties: props(6),
      blob: Readable.from([Buffer.from('abc'), Buffer.from('def')]),
    });
    expect(await text((await router.get(id)).blob)).toBe('abcdef');
    const short = await rejection(
      router.put({ properties: props(7), blob: Readable.from([Buffer.from('abc')]) }),
    );
    expect(short.code).toBe(RouterErrorCode.INVALID_ARGUMENT);
    // Longer than declared: refused once a byte past blobSize arrives (larger blobs: chunking.test.ts).
    const long = Readable.from([Buffer.alloc(1000), Buffer.alloc(1000)]);
    expect((await rejection(router.put({ properties: props(1000), blob: long }))).code).toBe(
      RouterErrorCode.INVALID_ARGUMENT,
    );
  });

  it('stores on 2 of 3 local replicas when one is blackholed', async () => {
    const router = cluster.router({ config: { requestTimeoutMs: 200 } });
    const [down] = cluster.nodesIn('dc1');
    cluster.network.blackhole({ host: down!.host, port: down!.port }, true);
    const id = await put(router, 'two of three');
    const holders = await cluster.holders(id);
    expect(holders).not.toContain(down!.key);
    expect(holders).toHaveLength(2);
    expect(await text((await router.get(id)).blob)).toBe('two of three');
  });

  it('retries on another partition when the first loses its quorum', async () => {
    // random() = 0 picks the first writable partition first: partition 0.
    const router = cluster.router({ random: () => 0 });
    const [a, b] = cluster.nodesIn('dc1');
    cluster.failReplica(0, a!, ErrorCode.REPLICA_UNAVAILABLE);
    cluster.failReplica(0, b!, ErrorCode.REPLICA_UNAVAILABLE);
    const id = await put(router, 'slipped');
    expect(id.partitionId).not.toBe(0);
    expect(await text((await router.get(id)).blob)).toBe('slipped');
  });

  it('fails with UNAVAILABLE when every attempt loses its quorum', async () => {
    const router = cluster.router({ config: { maxPutAttempts: PARTITIONS } });
    const [a, b] = cluster.nodesIn('dc1');
    for (let p = 0; p < PARTITIONS; p++) {
      cluster.failReplica(p, a!, ErrorCode.DISK_UNAVAILABLE);
      cluster.failReplica(p, b!, ErrorCode.DISK_UNAVAILABLE);
    }
    const error = await rejection(put(router, 'nowhere'));
    expect([error.code, error.httpStatus]).toEqual([RouterErrorCode.UNAVAILABLE, 503]);
  });

  it('fails with INSUFFICIENT_CAPACITY when no partition is writable', async () => {
    const router = cluster.router();
    const map = router.clusterMap as unknown as { setPartitionState(id: number, state: string): boolean };
    for (let p = 0; p < PARTITIONS; p++) map.setPartitionState(p, 'read-only');
    expect((await rejection(put(router, 'x'))).code).toBe(RouterErrorCode.INSUFFICIENT_CAPACITY);
  });

  it('falls back to the originating datacenter when local replicas are down', async () => {
    const id = await put(cluster.router({ datacenter: 'dc2' }), 'from dc2');
    expect(id.datacenterId).toBe(1);
    const router = cluster.router();
    for (const node of cluster.nodesIn('dc1')) cluster.disconnect(node);
    expect(await text((await router.get(id)).blob)).toBe('from dc2');
    // Without the fault the local replicas answer not-found, and the originating datacenter still wins.
    cluster.network.clearFaults();
    expect(await text((await cluster.router().get(id)).blob)).toBe('from dc2');
  });

  it('answers BLOB_NOT_FOUND, INVALID_BLOB_ID and UNAVAILABLE', async () => {
    const router = cluster.router();
    const missing = BlobId.generate({ partitionId: 1, datacenterId: 0 });
    const notFound = await rejection(router.get(missing));
    expect([notFound.code, notFound.httpStatus]).toEqual([RouterErrorCode.BLOB_NOT_FOUND, 404]);
    const invalid = await rejection(router.get('not-a-blob-id'));
    expect([invalid.code, invalid.httpStatus]).toEqual([RouterErrorCode.INVALID_BLOB_ID, 400]);
    for (const node of cluster.nodes) cluster.disconnect(node);
    // Another id: the first one's "not found" is remembered (not-found cache).
    const down = await rejection(router.get(BlobId.generate({ partitionId: 1, datacenterId: 0 })));
    expect([down.code, down.httpStatus]).toEqual([RouterErrorCode.UNAVAILABLE, 503]);
  });
});

describe('Router updates', () => {
  // Target = all local replicas, so no straggling update races the reads that follow.
  const config = { updateSuccessTarget: 3 };

  it('deletes: later gets answer BLOB_DELETED, unless deleted blobs are asked for', async () => {
    const router = cluster.router({ config });
    const id = await put(router, 'doomed');
    await router.delete(id);
    const error = await rejection(router.get(id));
    expect([error.code, error.httpStatus]).toEqual([RouterErrorCode.BLOB_DELETED, 410]);
    const kept = await router.get(id, { includeDeleted: true });
    expect(kept.state.deleted).toBe(true);
    // Deleting again is idempotent.
    await router.delete(id);
    expect((await rejection(router.delete(BlobId.generate({ partitionId: 0, datacenterId: 0 })))).code).toBe(
      RouterErrorCode.BLOB_NOT_FOUND,
    );
  });

  it('returns from a delete only after every replica it asked has answered', async () => {
    const router = cluster.router();
    const id = await put(router, 'gone soon');
    await cluster.settle();
    const [, , slow] = cluster.nodesIn('dc1');
    const endpoint = { host: slow!.host, port: slow!.port };
    // The slow replica's delete arrives late; the quorum (2) is reached without it.
    const restore = cluster.network.addFault({
      endpoint,
      direction: 'to-server',
      action: { kind: 'delay', ms: 300 },
    });
    await router.delete(id);
    restore();
    // Asked straight away over a fresh connection, the slow replica has applied the delete already.
    const probe = new DataNodeClient({
      clientId: 'probe',
      transport: cluster.network.transport({ host: 'probe' }),
    });
    try {
      const answer = await probe.get(endpoint, { blobId: id, part: GetPart.INFO }).then(
        () => 'served',
        (error: unknown) => (error instanceof ServerError ? ErrorCode[error.code] : String(error)),
      );
      expect(answer).toBe('BLOB_DELETED');
    } finally {
      await probe.close();
    }
  });

  it('updates the TTL, and reports a definite replica answer', async () => {
    const router = cluster.router({ config });
    // Created now, so an hour-long TTL has not run out when the stores check it.
    const id = await put(router, 'short-lived', { ttlSeconds: 3600, creationTimeMs: Date.now() });
    expect((await router.get(id)).state.ttlUpdated).toBe(false);
    await router.updateTtl(id);
    const got = await router.get(id, { part: 'info' });
    expect(got.state).toMatchObject({ ttlUpdated: true, expiresAtMs: -1 });
    await router.updateTtl(id); // BLOB_ALREADY_UPDATED counts as success
    await router.delete(id);
    expect((await rejection(router.updateTtl(id))).code).toBe(RouterErrorCode.BLOB_DELETED);
  });

  it('undeletes only with a quorum in every datacenter', async () => {
    // Deletes reach all 6 replicas; undeletes go to all 6 but need only a majority in each datacenter.
    const deleter = cluster.router({ config: { updateParallelism: 6, updateSuccessTarget: 6 } });
    const router = cluster.router({ config: { updateParallelism: 6 } });
    const id = await put(router, 'lazarus');
    await cluster.replicate(id);
    expect(await cluster.holders(id)).toHaveLength(6);
    await deleter.delete(id);
    const [a, b] = cluster.nodesIn('dc2');
    const [c] = cluster.nodesIn('dc1');
    const stopA = cluster.disconnect(a!);
    const stopC = cluster.disconnect(c!);
    await router.undelete(id); // 2 of 3 in each datacenter
    await cluster.settle();
    expect(await text((await router.get(id)).blob)).toBe('lazarus');

    stopA();
    stopC();
    await deleter.delete(id);
    cluster.disconnect(a!);
    cluster.disconnect(b!);
    // dc1 alone holds more than updateSuccessTarget replicas, yet dc2 has no majority.
    const error = await rejection(router.undelete(id));
    expect([error.code, error.httpStatus]).toEqual([RouterErrorCode.UNAVAILABLE, 503]);
  });
});

describe('Router lifecycle and health', () => {
  it('rejects with ABORTED when the signal fires, before or during a call', async () => {
    const router = cluster.router();
    const id = await put(router, 'abortable');
    const before = await rejection(router.get(id, { signal: AbortSignal.abort() }));
    expect([before.code, before.httpStatus]).toEqual([RouterErrorCode.ABORTED, 499]);
    for (const node of cluster.nodes) cluster.network.blackhole({ host: node.host, port: node.port }, true);
    const controller = new AbortController();
    const pending = router.get(id, { signal: controller.signal });
    controller.abort();
    expect((await rejection(pending)).code).toBe(RouterErrorCode.ABORTED);
    const putting = router.put({ properties: props(1), blob: Buffer.from('x'), signal: controller.signal });
    expect((await rejection(putting)).code).toBe(RouterErrorCode.ABORTED);
  });

  it('ends calls in flight and rejects later calls with ROUTER_CLOSED', async () => {
    const router = cluster.router();
    const id = await put(router, 'bye');
    for (const node of cluster.nodes) cluster.network.blackhole({ host: node.host, port: node.port }, true);
    const pending = router.get(id);
    await router.close();
    expect((await rejection(pending)).code).toBe(RouterErrorCode.ROUTER_CLOSED);
    const error = await rejection(router.get(id));
    expect([error.code, error.retryable]).toEqual([RouterErrorCode.ROUTER_CLOSED, true]);
    expect((await rejection(router.delete(id))).code).toBe(RouterErrorCode.ROUTER_CLOSED);
  });

  it('marks a node that keeps failing down, and only that node', async () => {
    const router = cluster.router();
    const [bad] = cluster.nodesIn('dc1');
    cluster.disconnect(bad!);
    const wentDown = new Promise<void>((resolve) => {
      router.failureDetector.onChange((change) => {
        if (change.kind === 'node' && change.node === bad!.key && change.to === 'down') resolve();
      });
    });
    // Every put sends to all 3 local replicas, so each one fails on the bad node once.
    for (let i = 0; i < router.config.nodeFailureThreshold; i++) await put(router, `put ${i}`);
    await wentDown;
    expect(router.failureDetector.state(bad!.key)).toBe('down');
    expect(router.failureDetector.snapshot().nodes.down).toBe(1);
    for (const node of cluster.nodesIn('dc1').slice(1))
      expect(router.failureDetector.state(node.key)).toBe('up');
  });
});

describe('Router change capture', () => {
  it('emits one event per successful mutation, none for a failed one', async () => {
    const events: ChangeEvent[] = [];
    const capture = new ChangeCapture([new InProcessChangeSink((event) => void events.push(event))]);
    const router = cluster.router({ changeCapture: capture });
    const id = await put(router, 'watched');
    await router.updateTtl(id);
    await router.delete(id);
    await router.undelete(id).catch(() => undefined); // may miss its quorum: only a success is an event
    await rejection(router.delete(BlobId.generate({ partitionId: 0, datacenterId: 0 })));
    await capture.flush();
    const ops = events.map((e) => e.operation);
    expect(ops.slice(0, 3)).toEqual(['put', 'ttlUpdate', 'delete']);
    expect(events.every((e) => e.blobId === id.toString())).toBe(true);
    expect(events[0]!.properties).toMatchObject({ serviceId: 'router-test', blobSize: 7 });
    expect(events[1]!.expiresAtMs).toBeUndefined();
  });
});
