import { randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { AdminKind, BlobId, DataNodeClient, NEVER_EXPIRES } from '@ambry/protocol';
import { BlobStore } from '@ambry/store';
import { afterEach, expect, it } from 'vitest';
import { type ClusterDir, makeCluster, type RunningNode, startNode, waitFor } from './harness.js';

/**
 * Acknowledged PUTs survive the process dying at any moment (SIGKILL) and a graceful stop (SIGTERM)
 * with PUTs still arriving; a graceful stop leaves every store marked clean.
 */

const WORKERS = 8;
const MAX_PUTS_PER_WORKER = 300;
const STREAM_LIMIT_MS = 20_000;

let cluster: ClusterDir | undefined;
let node: RunningNode | undefined;
afterEach(async () => {
  await node?.stop('SIGKILL');
  if (cluster) await fs.rm(cluster.root, { recursive: true, force: true });
  node = undefined;
  cluster = undefined;
});

interface Acked {
  readonly blobId: BlobId;
  readonly blob: Buffer;
}

/**
 * PUTs from several clients at once until stopped, the node goes away, or the bounds are reached;
 * `acked` holds only the PUTs the node acknowledged.
 */
function putStream(running: RunningNode, partitionIds: readonly number[]) {
  const acked: Acked[] = [];
  const deadline = Date.now() + STREAM_LIMIT_MS;
  const clients = Array.from({ length: 4 }, (_, i) => new DataNodeClient({ clientId: `writer-${i}` }));
  const worker = async (w: number) => {
    const client = clients[w % clients.length]!;
    for (let i = 0; i < MAX_PUTS_PER_WORKER && Date.now() < deadline; i++) {
      const partitionId = partitionIds[(w + i) % partitionIds.length]!;
      const blobId = BlobId.generate({ partitionId, datacenterId: 0, accountId: 1, containerId: 1 });
      const blob = randomBytes(randomInt(1, 24 * 1024));
      try {
        await client.put(running.endpoint, {
          blobId,
          properties: {
            blobSize: blob.length,
            serviceId: 'durability-test',
            contentType: 'application/octet-stream',
            creationTimeMs: Date.now(),
            ttlSeconds: NEVER_EXPIRES,
            isPrivate: false,
            accountId: 1,
            containerId: 1,
          },
          userMetadata: { worker: String(w) },
          blob,
        });
      } catch {
        return; // the node is gone (or going): this PUT is not acknowledged
      }
      acked.push({ blobId, blob });
    }
  };
  const done = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w))).finally(() =>
    Promise.all(clients.map((c) => c.close().catch(() => {}))),
  );
  return { acked, done };
}

async function expectAllReadable(running: RunningNode, acked: readonly Acked[]): Promise<void> {
  const batch = 32;
  for (let i = 0; i < acked.length; i += batch) {
    await Promise.all(
      acked.slice(i, i + batch).map(async ({ blobId, blob }) => {
        const got = await running.client.get(running.endpoint, { blobId });
        expect(Buffer.from(got.blob).equals(blob), `blob ${blobId.toString()}`).toBe(true);
      }),
    );
  }
}

/** Blobs acknowledged per partition: each replica must hold at least that many. */
function perPartition(acked: readonly Acked[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const { blobId } of acked) counts.set(blobId.partitionId, (counts.get(blobId.partitionId) ?? 0) + 1);
  return counts;
}

it('every acknowledged PUT survives SIGKILL in the middle of a stream of PUTs', async () => {
  cluster = await makeCluster({ disks: 2, partitions: 4 });
  const partitionIds = [...cluster.partitions.keys()];
  node = await startNode(cluster);
  const stream = putStream(node, partitionIds);
  await waitFor(() => stream.acked.length >= 200, '200 acknowledged PUTs', 15_000);
  expect(await node.stop('SIGKILL')).toBeNull();
  await stream.done;
  const acked = [...stream.acked];
  expect(acked.length).toBeGreaterThanOrEqual(200);

  node = await startNode(cluster);
  await expectAllReadable(node, acked);
  const stats = await node.client.admin(node.endpoint, { kind: AdminKind.REPLICA_STATS });
  expect(stats.replicas).toHaveLength(partitionIds.length);
  for (const [partitionId, count] of perPartition(acked)) {
    const replica = stats.replicas.find((r) => r.partitionId === partitionId)!;
    expect(replica.available).toBe(true);
    expect(replica.blobCount).toBeGreaterThanOrEqual(count);
  }
});

it('SIGTERM with PUTs in flight exits 0, keeps every acknowledged PUT and leaves the stores clean', async () => {
  cluster = await makeCluster({ disks: 2, partitions: 4 });
  const partitionIds = [...cluster.partitions.keys()];
  node = await startNode(cluster);
  const stream = putStream(node, partitionIds);
  await waitFor(() => stream.acked.length >= 100, '100 acknowledged PUTs', 15_000);
  expect(await node.stop('SIGTERM')).toBe(0);
  node = undefined;
  await stream.done;
  const acked = [...stream.acked];

  // Each store, opened as the next start would open it, finds the clean-shutdown marker: no recovery.
  for (const [partitionId, mountPath] of cluster.partitions) {
    const store = await BlobStore.open({
      dir: path.join(mountPath, `partition-${partitionId}`),
      capacityBytes: 64 * 1024 * 1024,
      segmentBytes: 16 * 1024 * 1024,
    });
    try {
      const stats = store.stats();
      expect(stats.cleanStart, `partition ${partitionId}`).toBe(true);
      expect(stats.recoveredRecords).toBe(0);
      expect(stats.blobCount).toBeGreaterThanOrEqual(perPartition(acked).get(partitionId) ?? 0);
    } finally {
      await store.close();
    }
  }

  node = await startNode(cluster);
  const stats = await node.client.admin(node.endpoint, { kind: AdminKind.REPLICA_STATS });
  expect(stats.healthy).toBe(true);
  expect(stats.replicas.map((r) => r.partitionId).sort((a, b) => a - b)).toEqual(
    [...partitionIds].sort((a, b) => a - b),
  );
  for (const replica of stats.replicas) expect(replica.available).toBe(true);
  await expectAllReadable(node, acked);
  // SIGINT stops a restarted node just as gracefully.
  expect(await node.stop('SIGINT')).toBe(0);
  node = undefined;
});
