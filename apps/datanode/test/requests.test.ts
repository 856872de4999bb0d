import fs from 'node:fs/promises';
import {
  AdminKind,
  type BlobId,
  type BlobProperties,
  ErrorCode,
  GetPart,
  NEVER_EXPIRES,
} from '@ambry/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytes, errorOf, newId, props, putBlob } from './blob-helpers.js';
import { type ClusterDir, makeCluster, type RunningNode, startNode } from './harness.js';

/** Every request type over TCP against one real datanode process, with its error codes and metrics. */

let cluster: ClusterDir;
let node: RunningNode;
let partitionIds: number[];
const UNKNOWN_PARTITION = 987_654;

beforeAll(async () => {
  cluster = await makeCluster({ disks: 2, partitions: 4 });
  partitionIds = [...cluster.partitions.keys()].sort((a, b) => a - b);
  node = await startNode(cluster);
});

afterAll(async () => {
  await node?.stop('SIGKILL');
  if (cluster) await fs.rm(cluster.root, { recursive: true, force: true });
});

function put(partitionId: number, blob: Buffer, over: Partial<BlobProperties> = {}, blobId?: BlobId) {
  return putBlob(node, partitionId, blob, over, blobId);
}

describe('blob requests', () => {
  it('GET returns everything, only the bytes, only the info, or a range', async () => {
    const blob = bytes(10_000, 1);
    const blobId = await put(partitionIds[0]!, blob, { contentType: 'image/png' });

    const all = await node.client.get(node.endpoint, { blobId, part: GetPart.ALL });
    expect(Buffer.from(all.blob).equals(blob)).toBe(true);
    expect(all.properties?.contentType).toBe('image/png');
    expect(all.userMetadata).toEqual({ name: 'blob-10000' });
    expect(all.blobSize).toBe(10_000);
    expect(all.state.deleted).toBe(false);

    const only = await node.client.get(node.endpoint, { blobId, part: GetPart.BLOB });
    expect(Buffer.from(only.blob).equals(blob)).toBe(true);
    expect(only.properties).toBeUndefined();
    expect(only.userMetadata).toBeUndefined();

    const info = await node.client.get(node.endpoint, { blobId, part: GetPart.INFO });
    expect(info.blob.byteLength).toBe(0);
    expect(info.blobSize).toBe(10_000);
    expect(info.properties?.serviceId).toBe('requests-test');
    expect(info.userMetadata).toEqual({ name: 'blob-10000' });
    expect(info.blobChecksum).toBe(all.blobChecksum);

    const range = await node.client.get(node.endpoint, { blobId, range: { offset: 1000, length: 500 } });
    expect(Buffer.from(range.blob).equals(blob.subarray(1000, 1500))).toBe(true);
    expect(range.range).toEqual({ offset: 1000, length: 500 });
    expect(range.blobSize).toBe(10_000);

    const past = await node.client.send(node.endpoint, {
      type: 'get',
      blobId,
      range: { offset: 20_000, length: 1 },
    });
    expect(past.error).toBe(ErrorCode.RANGE_NOT_SATISFIABLE);
  });

  it('DELETE hides a blob unless includeDeleted; UNDELETE brings it back with a new life version', async () => {
    const blob = bytes(300, 2);
    const blobId = await put(partitionIds[1]!, blob);
    await node.client.delete(node.endpoint, { blobId, operationTimeMs: Date.now() });
    expect(await errorOf(node.client.get(node.endpoint, { blobId }))).toBe(ErrorCode.BLOB_DELETED);
    expect(await errorOf(node.client.delete(node.endpoint, { blobId, operationTimeMs: Date.now() }))).toBe(
      ErrorCode.BLOB_DELETED,
    );
    const seen = await node.client.get(node.endpoint, { blobId, includeDeleted: true });
    expect(Buffer.from(seen.blob).equals(blob)).toBe(true);
    expect(seen.state.deleted).toBe(true);

    const undeleted = await node.client.undelete(node.endpoint, { blobId, operationTimeMs: Date.now() });
    expect(undeleted.lifeVersion).toBe(1);
    const back = await node.client.get(node.endpoint, { blobId });
    expect(back.state.deleted).toBe(false);
    expect(back.state.lifeVersion).toBe(1);
    expect(await errorOf(node.client.undelete(node.endpoint, { blobId, operationTimeMs: Date.now() }))).toBe(
      ErrorCode.BLOB_ALREADY_UNDELETED,
    );

    const live = await put(partitionIds[1]!, bytes(10, 20));
    expect(
      await errorOf(node.client.undelete(node.endpoint, { blobId: live, operationTimeMs: Date.now() })),
    ).toBe(ErrorCode.BLOB_NOT_DELETED);
    await node.client.delete(node.endpoint, { blobId: live, operationTimeMs: Date.now() });
    expect(
      await errorOf(
        node.client.ttlUpdate(node.endpoint, {
          blobId: live,
          expiresAtMs: NEVER_EXPIRES,
          operationTimeMs: Date.now(),
        }),
      ),
    ).toBe(ErrorCode.BLOB_DELETED);
  });

  it('an expired blob is BLOB_EXPIRED unless includeExpired; TTL_UPDATE makes a blob permanent', async () => {
    const expired = await put(partitionIds[2]!, bytes(100, 3), {
      creationTimeMs: Date.now() - 60_000,
      ttlSeconds: 1,
    });
    expect(await errorOf(node.client.get(node.endpoint, { blobId: expired }))).toBe(ErrorCode.BLOB_EXPIRED);
    const seen = await node.client.get(node.endpoint, { blobId: expired, includeExpired: true });
    expect(seen.state.expired).toBe(true);
    expect(seen.blob.byteLength).toBe(100);

    const living = await put(partitionIds[2]!, bytes(100, 4), { ttlSeconds: 3600 });
    const before = await node.client.get(node.endpoint, { blobId: living, part: GetPart.INFO });
    expect(before.state.expiresAtMs).not.toBe(NEVER_EXPIRES);
    expect(before.state.ttlUpdated).toBe(false);
    await node.client.ttlUpdate(node.endpoint, {
      blobId: living,
      expiresAtMs: NEVER_EXPIRES,
      operationTimeMs: Date.now(),
    });
    const after = await node.client.get(node.endpoint, { blobId: living, part: GetPart.INFO });
    expect(after.state.expiresAtMs).toBe(NEVER_EXPIRES);
    expect(after.state.ttlUpdated).toBe(true);
  });

  it('answers not found, already exists and unknown partition with their codes', async () => {
    const missing = newId(partitionIds[0]!);
    expect(await errorOf(node.client.get(node.endpoint, { blobId: missing }))).toBe(ErrorCode.BLOB_NOT_FOUND);
    expect(
      await errorOf(node.client.delete(node.endpoint, { blobId: missing, operationTimeMs: Date.now() })),
    ).toBe(ErrorCode.BLOB_NOT_FOUND);

    const blob = bytes(64, 5);
    const creationTimeMs = Date.now();
    const blobId = await put(partitionIds[3]!, blob, { creationTimeMs });
    // The identical PUT again is a harmless retry; different bytes under the same id are refused.
    await put(partitionIds[3]!, blob, { creationTimeMs }, blobId);
    const other = await node.client.send(node.endpoint, {
      type: 'put',
      blobId,
      properties: props(64, { creationTimeMs }),
      userMetadata: { name: 'blob-64' },
      blob: bytes(64, 6),
    });
    expect(other.error).toBe(ErrorCode.BLOB_ALREADY_EXISTS);

    const stranger = newId(UNKNOWN_PARTITION);
    const response = await node.client.send(node.endpoint, {
      type: 'put',
      blobId: stranger,
      properties: props(1),
      userMetadata: {},
      blob: Buffer.from('x'),
    });
    expect(response.error).toBe(ErrorCode.PARTITION_UNKNOWN);
    expect(await errorOf(node.client.get(node.endpoint, { blobId: stranger }))).toBe(
      ErrorCode.PARTITION_UNKNOWN,
    );
  });
});

describe('replication and admin', () => {
  it('REPLICA_METADATA lists new entries once per token, per partition, with errors per partition', async () => {
    const [first, second] = [partitionIds[0]!, partitionIds[1]!];
    const start = await node.client.replicaMetadata(node.endpoint, {
      partitions: [
        { partitionId: first, token: new Uint8Array(0) },
        { partitionId: second, token: new Uint8Array(0) },
      ],
      maxTotalBytes: 64 * 1024 * 1024,
      requester: 'requests-test',
    });
    const tokens = new Map(start.partitions.map((p) => [p.partitionId, p.token]));
    const a = await put(first, bytes(50, 7));
    const b = await put(second, bytes(60, 8));
    const c = await put(second, bytes(70, 9));

    const result = await node.client.replicaMetadata(node.endpoint, {
      partitions: [
        { partitionId: first, token: tokens.get(first)! },
        { partitionId: UNKNOWN_PARTITION, token: new Uint8Array(0) },
        { partitionId: second, token: tokens.get(second)! },
      ],
      maxTotalBytes: 64 * 1024 * 1024,
      requester: 'requests-test',
    });
    expect(result.partitions.map((p) => [p.partitionId, p.error])).toEqual([
      [first, ErrorCode.OK],
      [UNKNOWN_PARTITION, ErrorCode.PARTITION_UNKNOWN],
      [second, ErrorCode.OK],
    ]);
    const [p1, , p2] = result.partitions;
    expect(p1!.entries.map((e) => e.blobId.toString())).toEqual([a.toString()]);
    expect(p2!.entries.map((e) => e.blobId.toString())).toEqual([b.toString(), c.toString()]);
    expect(p1!.entries[0]!.accountId).toBe(7);

    // From the empty token everything put so far is there, including this test's blobs.
    const full = await node.client.replicaMetadata(node.endpoint, {
      partitions: [{ partitionId: second, token: new Uint8Array(0) }],
      maxTotalBytes: 64 * 1024 * 1024,
      requester: 'requests-test',
    });
    const listed = full.partitions[0]!.entries.map((e) => e.blobId.toString());
    expect(listed).toEqual(expect.arrayContaining([b.toString(), c.toString()]));

    const again = await node.client.replicaMetadata(node.endpoint, {
      partitions: [
        { partitionId: first, token: p1!.token },
        { partitionId: second, token: p2!.token },
      ],
      maxTotalBytes: 64 * 1024 * 1024,
      requester: 'requests-test',
    });
    expect(again.partitions.map((p) => p.entries.length)).toEqual([0, 0]);
    expect(again.partitions.map((p) => p.error)).toEqual([ErrorCode.OK, ErrorCode.OK]);
  });

  it('REPLICA_METADATA counts a key once against maxTotalBytes, however many records it has', async () => {
    const [first, second] = [partitionIds[0]!, partitionIds[1]!];
    const tokensNow = async () =>
      (
        await node.client.replicaMetadata(node.endpoint, {
          partitions: [
            { partitionId: first, token: new Uint8Array(0) },
            { partitionId: second, token: new Uint8Array(0) },
          ],
          maxTotalBytes: 64 * 1024 * 1024,
          requester: 'requests-test',
        })
      ).partitions.map((p) => p.token);
    const [t1, t2] = await tokensNow();
    // One 100 KiB key with two records (PUT, DELETE) in the first partition, two small blobs in the second.
    const big = await put(first, bytes(100 * 1024, 11));
    await node.client.delete(node.endpoint, { blobId: big, operationTimeMs: Date.now() });
    const small = [await put(second, bytes(1000, 12)), await put(second, bytes(1000, 13))];
    const result = await node.client.replicaMetadata(node.endpoint, {
      partitions: [
        { partitionId: first, token: t1! },
        { partitionId: second, token: t2! },
      ],
      maxTotalBytes: 150 * 1024,
      requester: 'requests-test',
    });
    const [p1, p2] = result.partitions;
    expect(p1!.entries.map((e) => e.blobId.toString())).toEqual([big.toString(), big.toString()]);
    // 100 KiB of the 150 KiB used (not 200 KiB): the second partition still gets both of its blobs.
    expect(p2!.entries.map((e) => e.blobId.toString())).toEqual(small.map(String));
  });

  it('REPLICA_METADATA pages through a partition by maxTotalBytes, and refuses a malformed token', async () => {
    const partitionId = partitionIds[2]!;
    const mine = new Set<string>();
    for (let i = 0; i < 5; i++) mine.add((await put(partitionId, bytes(3000, 30 + i))).toString());
    const seen: string[] = [];
    let token: Uint8Array = new Uint8Array(0);
    let pages = 0;
    for (; pages < 100; pages++) {
      const result = await node.client.replicaMetadata(node.endpoint, {
        partitions: [{ partitionId, token }],
        maxTotalBytes: 1,
        requester: 'requests-test',
      });
      const only = result.partitions[0]!;
      expect(only.error).toBe(ErrorCode.OK);
      if (only.entries.length === 0) break;
      seen.push(...only.entries.map((e) => e.blobId.toString()));
      token = only.token;
    }
    // The pages together are exactly what one unbounded request returns (an entry per record).
    const whole = await node.client.replicaMetadata(node.endpoint, {
      partitions: [{ partitionId, token: new Uint8Array(0) }],
      maxTotalBytes: 64 * 1024 * 1024,
      requester: 'requests-test',
    });
    expect(seen).toEqual(whole.partitions[0]!.entries.map((e) => e.blobId.toString()));
    expect(seen.length).toBeGreaterThan(mine.size);
    expect(pages).toBeGreaterThan(1);
    for (const id of mine) expect(seen).toContain(id);

    const bad = await node.client.replicaMetadata(node.endpoint, {
      partitions: [{ partitionId, token: Buffer.from('not a token at all') }],
      maxTotalBytes: 1024,
      requester: 'requests-test',
    });
    expect(bad.partitions[0]!.error).toBe(ErrorCode.BAD_REQUEST);
  });

  it('ADMIN HEALTH and REPLICA_STATS report the node and each replica', async () => {
    const health = await node.client.admin(node.endpoint, { kind: AdminKind.HEALTH });
    expect(health.healthy).toBe(true);
    expect(health.status).toBe('ok');
    // A node without peers replicates nothing: no lag entries.
    const lag = await node.client.admin(node.endpoint, { kind: AdminKind.REPLICATION_LAG });
    expect(lag.replicationLag ?? []).toEqual([]);
    expect(lag.healthy).toBe(true);

    const target = partitionIds[3]!;
    const statsOf = async () =>
      (await node.client.admin(node.endpoint, { kind: AdminKind.REPLICA_STATS })).replicas;
    const before = await statsOf();
    expect(before.map((r) => r.partitionId).sort((x, y) => x - y)).toEqual(partitionIds);
    for (const replica of before) {
      expect(replica.available).toBe(true);
      expect(replica.capacityBytes).toBe(64 * 1024 * 1024);
    }
    await put(target, bytes(4000, 10));
    await put(target, bytes(5000, 11));
    const after = await statsOf();
    const was = before.find((r) => r.partitionId === target)!;
    const now = after.find((r) => r.partitionId === target)!;
    expect(now.blobCount).toBe(was.blobCount + 2);
    expect(now.bytesUsed).toBeGreaterThanOrEqual(was.bytesUsed + 9000);
    for (const replica of after.filter((r) => r.partitionId !== target)) {
      expect(replica).toEqual(before.find((r) => r.partitionId === replica.partitionId));
    }

    const one = await node.client.admin(node.endpoint, {
      kind: AdminKind.REPLICA_STATS,
      partitionIds: [target],
    });
    expect(one.replicas).toEqual([now]);
  });

  it('/metrics counts requests by type and result and exposes per-replica gauges', async () => {
    const scrape = async () => {
      const response = await fetch(`http://127.0.0.1:${cluster.adminPort}/metrics`);
      expect(response.status).toBe(200);
      return response.text();
    };
    const counter = (text: string, type: string, result: string) => {
      const line = text
        .split('\n')
        .find((l) => l.startsWith(`ambry_datanode_requests_total{type="${type}",result="${result}"} `));
      return line === undefined ? 0 : Number(line.split(' ')[1]);
    };
    const gauge = (text: string, name: string, partition: number) => {
      const line = text.split('\n').find((l) => l.startsWith(`${name}{partition="${partition}"} `));
      return line === undefined ? undefined : Number(line.split(' ')[1]);
    };
    const target = partitionIds[0]!;
    const before = await scrape();
    const blobId = await put(target, bytes(10, 12));
    await node.client.get(node.endpoint, { blobId });
    await node.client.get(node.endpoint, { blobId });
    await errorOf(node.client.get(node.endpoint, { blobId: newId(target) }));
    const after = await scrape();
    expect(counter(after, 'put', 'OK') - counter(before, 'put', 'OK')).toBe(1);
    expect(counter(after, 'get', 'OK') - counter(before, 'get', 'OK')).toBe(2);
    expect(counter(after, 'get', 'BLOB_NOT_FOUND') - counter(before, 'get', 'BLOB_NOT_FOUND')).toBe(1);

    const stats = (await node.client.admin(node.endpoint, { kind: AdminKind.REPLICA_STATS })).replicas;
    for (const replica of stats) {
      expect(gauge(after, 'ambry_datanode_replica_blob_count', replica.partitionId)).toBe(replica.blobCount);
      expect(gauge(after, 'ambry_datanode_replica_bytes_used', replica.partitionId)).toBe(replica.bytesUsed);
      expect(gauge(after, 'ambry_datanode_replica_available', replica.partitionId)).toBe(1);
      expect(gauge(after, 'ambry_datanode_replica_seal_state', replica.partitionId)).toBe(0);
    }
    expect(after).toMatch(/^ambry_datanode_failed_disks 0$/m);
    // Without testFaultInjection there is no fault route.
    const fault = await fetch(`http://127.0.0.1:${cluster.adminPort}/test/disk-fault`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ mountPath: cluster.disks[0] }),
    });
    expect(fault.status).toBe(404);
    expect(after).toMatch(/^ambry_datanode_open_connections [1-9]/m);
  });
});
