import fs from 'node:fs/promises';
import { AdminKind, BlobId, ErrorCode, NEVER_EXPIRES } from '@ambry/protocol';
import { afterEach, expect, it } from 'vitest';
import { type ClusterDir, makeCluster, type RunningNode, startNode } from './harness.js';

/**
 * One disk failing under a running datanode: its replicas answer an I/O error, then DISK_UNAVAILABLE,
 * while the other disk keeps serving; health and metrics report the failed disk.
 */

let cluster: ClusterDir | undefined;
let node: RunningNode | undefined;
afterEach(async () => {
  await node?.stop('SIGKILL');
  if (cluster) await fs.rm(cluster.root, { recursive: true, force: true });
  node = undefined;
  cluster = undefined;
});

function newId(partitionId: number): BlobId {
  return BlobId.generate({ partitionId, datacenterId: 0, accountId: 1, containerId: 1 });
}

function putRequest(partitionId: number, blob: Buffer) {
  return {
    type: 'put' as const,
    blobId: newId(partitionId),
    properties: {
      blobSize: blob.length,
      serviceId: 'disk-failure-test',
      contentType: 'application/octet-stream',
      creationTimeMs: Date.now(),
      ttlSeconds: NEVER_EXPIRES,
      isPrivate: false,
      accountId: 1,
      containerId: 1,
    },
    userMetadata: {},
    blob,
  };
}

const IO_CLASS = [ErrorCode.IO_ERROR, ErrorCode.REPLICA_UNAVAILABLE];

it('a failed disk takes down only its replicas, and health and metrics report it', async () => {
  cluster = await makeCluster({ disks: 2, partitions: 4, config: { testFaultInjection: true } });
  node = await startNode(cluster);
  const [diskA, diskB] = cluster.disks as [string, string];
  const onA = [...cluster.partitions].filter(([, disk]) => disk === diskA).map(([id]) => id);
  const onB = [...cluster.partitions].filter(([, disk]) => disk === diskB).map(([id]) => id);
  expect(onA.length).toBeGreaterThan(0);
  expect(onB.length).toBeGreaterThan(0);

  const stored = new Map<number, { blobId: BlobId; blob: Buffer }>();
  for (const partitionId of [...onA, ...onB]) {
    const request = putRequest(partitionId, Buffer.alloc(2000, partitionId + 1));
    await node.client.put(node.endpoint, request);
    stored.set(partitionId, { blobId: request.blobId, blob: request.blob });
  }

  const admin = `http://127.0.0.1:${cluster.adminPort}`;
  const unknown = await fetch(`${admin}/test/disk-fault`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ mountPath: '/no/such/disk' }),
  });
  expect(unknown.status).toBe(404);
  const fault = await fetch(`${admin}/test/disk-fault`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ mountPath: diskA }),
  });
  expect(fault.status).toBe(200);

  // The first request to disk A meets the failing I/O; the disk is then marked failed.
  const first = stored.get(onA[0]!)!;
  const failed = await node.client.send(node.endpoint, { type: 'get', blobId: first.blobId });
  expect(IO_CLASS).toContain(failed.error);
  for (const partitionId of onA) {
    const { blobId } = stored.get(partitionId)!;
    expect((await node.client.send(node.endpoint, { type: 'get', blobId })).error).toBe(
      ErrorCode.DISK_UNAVAILABLE,
    );
    expect((await node.client.send(node.endpoint, putRequest(partitionId, Buffer.from('x')))).error).toBe(
      ErrorCode.DISK_UNAVAILABLE,
    );
    const meta = await node.client.replicaMetadata(node.endpoint, {
      partitions: [{ partitionId, token: new Uint8Array(0) }],
      maxTotalBytes: 1024 * 1024,
      requester: 'disk-failure-test',
    });
    expect(meta.partitions[0]!.error).toBe(ErrorCode.DISK_UNAVAILABLE);
  }

  // Disk B serves reads and writes as before.
  for (const partitionId of onB) {
    const { blobId, blob } = stored.get(partitionId)!;
    const got = await node.client.get(node.endpoint, { blobId });
    expect(Buffer.from(got.blob).equals(blob)).toBe(true);
    const request = putRequest(partitionId, Buffer.alloc(3000, 0x5a));
    await node.client.put(node.endpoint, request);
    const again = await node.client.get(node.endpoint, { blobId: request.blobId });
    expect(Buffer.from(again.blob).equals(request.blob)).toBe(true);
  }

  const health = await fetch(`${admin}/health`);
  const body = (await health.json()) as {
    healthy: boolean;
    status: string;
    failedDisks: string[];
    replicas: Array<{ partitionId: number; state: string }>;
  };
  expect(body.healthy).toBe(false);
  expect(body.failedDisks).toEqual([diskA]);
  expect(body.status).toContain(diskA);
  for (const { partitionId, state } of body.replicas) {
    expect(state, `partition ${partitionId}`).toBe(onA.includes(partitionId) ? 'failed' : 'open');
  }

  const wireHealth = await node.client.admin(node.endpoint, { kind: AdminKind.HEALTH });
  expect(wireHealth.healthy).toBe(false);
  const stats = await node.client.admin(node.endpoint, { kind: AdminKind.REPLICA_STATS });
  for (const replica of stats.replicas) expect(replica.available).toBe(!onA.includes(replica.partitionId));

  const metrics = await (await fetch(`${admin}/metrics`)).text();
  expect(metrics).toMatch(/^ambry_datanode_failed_disks 1$/m);
  for (const partitionId of onA) {
    expect(metrics).toContain(`ambry_datanode_replica_available{partition="${partitionId}"} 0`);
  }
  for (const partitionId of onB) {
    expect(metrics).toContain(`ambry_datanode_replica_available{partition="${partitionId}"} 1`);
  }
  expect(metrics).toMatch(/^ambry_datanode_requests_total\{type="get",result="DISK_UNAVAILABLE"\} [1-9]/m);
  expect(node.child.exitCode).toBeNull();
});

it('a PUT is the first to hit the failing disk: the write fails and the disk is marked failed', async () => {
  cluster = await makeCluster({ disks: 2, partitions: 2, config: { testFaultInjection: true } });
  node = await startNode(cluster);
  const [diskA] = cluster.disks as [string, string];
  const partitionA = [...cluster.partitions].find(([, disk]) => disk === diskA)![0];
  const partitionB = [...cluster.partitions].find(([, disk]) => disk !== diskA)![0];
  await fetch(`http://127.0.0.1:${cluster.adminPort}/test/disk-fault`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ mountPath: diskA }),
  });
  const write = putRequest(partitionA, Buffer.alloc(1000, 1));
  expect(IO_CLASS).toContain((await node.client.send(node.endpoint, write)).error);
  // The refused PUT left nothing readable behind, and the disk stays out of service.
  expect((await node.client.send(node.endpoint, { type: 'get', blobId: write.blobId })).error).toBe(
    ErrorCode.DISK_UNAVAILABLE,
  );
  const kept = putRequest(partitionB, Buffer.alloc(1000, 2));
  await node.client.put(node.endpoint, kept);
  const health = (await (await fetch(`http://127.0.0.1:${cluster.adminPort}/health`)).json()) as {
    failedDisks: string[];
  };
  expect(health.failedDisks).toEqual([diskA]);

  // A graceful stop still works with a failed disk (its stores cannot close cleanly), and the next
  // start (the injected fault is gone) serves both disks; the refused PUT never became a blob.
  expect(await node.stop('SIGTERM')).toBe(0);
  node = await startNode(cluster);
  const got = await node.client.get(node.endpoint, { blobId: kept.blobId });
  expect(Buffer.from(got.blob).equals(kept.blob)).toBe(true);
  expect((await node.client.send(node.endpoint, { type: 'get', blobId: write.blobId })).error).toBe(
    ErrorCode.BLOB_NOT_FOUND,
  );
  await node.client.put(node.endpoint, putRequest(partitionA, Buffer.alloc(1000, 3)));
});

it('a full disk (ENOSPC on writes) refuses PUTs with DISK_FULL, keeps serving reads and is not failed', async () => {
  cluster = await makeCluster({ disks: 2, partitions: 2, config: { testFaultInjection: true } });
  node = await startNode(cluster);
  const [diskA] = cluster.disks as [string, string];
  const partitionA = [...cluster.partitions].find(([, disk]) => disk === diskA)![0];
  const partitionB = [...cluster.partitions].find(([, disk]) => disk !== diskA)![0];
  const before = putRequest(partitionA, Buffer.alloc(1500, 7));
  await node.client.put(node.endpoint, before);

  const admin = `http://127.0.0.1:${cluster.adminPort}/test/disk-fault`;
  const post = (body: unknown) =>
    fetch(admin, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  expect((await post({ mountPath: diskA, code: 'ENOSPC', ops: ['nope'] })).status).toBe(400);
  const fault = await post({ mountPath: diskA, code: 'ENOSPC' });
  expect(fault.status).toBe(200);
  expect(((await fault.json()) as { ops: string[] }).ops).toEqual(['writev']);

  // The first write meets ENOSPC; the store then seals itself read-only until it is reopened.
  const first = putRequest(partitionA, Buffer.alloc(1000, 1));
  expect((await node.client.send(node.endpoint, first)).error).toBe(ErrorCode.DISK_FULL);
  for (let i = 0; i < 2; i++) {
    const refused = putRequest(partitionA, Buffer.alloc(1000, i));
    expect((await node.client.send(node.endpoint, refused)).error).toBe(ErrorCode.PARTITION_READ_ONLY);
  }
  // Reads of what the disk already holds go on; the other disk takes writes; nothing is marked failed.
  const got = await node.client.get(node.endpoint, { blobId: before.blobId });
  expect(Buffer.from(got.blob).equals(before.blob)).toBe(true);
  await node.client.put(node.endpoint, putRequest(partitionB, Buffer.alloc(1000, 9)));
  const health = (await (await fetch(`http://127.0.0.1:${cluster.adminPort}/health`)).json()) as {
    healthy: boolean;
    failedDisks: string[];
  };
  expect(health.failedDisks).toEqual([]);
  expect(node.child.exitCode).toBeNull();
});
