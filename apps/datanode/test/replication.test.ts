/**
 * Replication inside REAL datanode processes (test-support/datanode-cluster.ts: a static map, one
 * process per node, TCP, stores on disk). Writes go straight to chosen replicas with a DataNodeClient,
 * the way a router writes a quorum while one replica is down; convergence is then checked blob by blob
 * with direct GETs (deleted and expired included) to the node that missed the writes. Waits are bounded;
 * nothing depends on timing thresholds.
 */
import fs from 'node:fs/promises';
import { type BlobId, ErrorCode, NEVER_EXPIRES } from '@ambry/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import type { DatanodeInfo } from '../../../test-support/datanode-cluster.js';
import {
  blobCount,
  bytesUsedBeyondHeaders,
  del,
  destroyCluster,
  expectSameBlobs,
  KiB,
  lagOf,
  metric,
  put,
  snapshot,
  startCluster,
  TEST_TIMEOUT_MS,
  ttlUpdate,
  undelete,
  type Written,
  waitConverged,
  waitFor,
} from './replication-kit.js';

afterEach(destroyCluster);

describe('replication between real datanodes', () => {
  it(
    'a stopped replica converges to exactly the same state after its restart',
    async () => {
      const c = await startCluster({ nodesPerDc: 3, replicasPerDc: 3 });
      const [a, b, lagging] = c.nodes as [DatanodeInfo, DatanodeInfo, DatanodeInfo];
      const all = [a, b, lagging];
      const live = [a, b];
      const partitions = [0, 1];

      // Before the stop: blobs on every replica, some of them updated later.
      const early: Written[] = [];
      for (const p of partitions) for (let i = 0; i < 4; i++) early.push(await put(all, p, 1 + i * 3000));
      expect(await c.stopNode(2, 'SIGTERM')).toBe(0);

      // While C is down: new blobs, deletes, TTL updates, undeletes through A and B (some through A only).
      const late: Written[] = [];
      for (const p of partitions) {
        for (let i = 0; i < 8; i++) late.push(await put(live, p, [1, 2, 777, 64 * KiB, 300 * KiB][i % 5]!));
      }
      const onlyA = await put([a], 0, 5000); // B gets it by replication
      await del(live, early[0]!.id);
      await del([a], early[1]!.id);
      await ttlUpdate(live, early[2]!.id);
      await ttlUpdate(live, late[0]!.id);
      await del(live, late[1]!.id);
      await del(live, late[2]!.id);
      await undelete(live, late[2]!.id); // life version 1, live
      await ttlUpdate(live, late[2]!.id);
      await del(live, late[3]!.id);
      await undelete(live, late[3]!.id);
      await del(live, late[3]!.id); // deleted in life 1
      await del(live, early[4]!.id);
      await undelete(live, early[4]!.id); // C holds life 0: it must reach life 1
      const ids = [...early, ...late, onlyA].map((w) => w.id);
      const neverCopied = new Set([late[1]!.id, late[3]!.id]); // put and deleted while C was down

      await c.startNode(2);
      await waitConverged(b, a, ids); // A's only-on-A writes reached B
      await waitConverged(lagging, a, ids, neverCopied);
      await expectSameBlobs(lagging, [a, b], ids, neverCopied);
      await expectSameBlobs(b, [a, b], ids);

      // The states the operations asked for, as C reports them.
      const state = async (id: BlobId) => JSON.parse(await snapshot(lagging, id)).state;
      expect(await state(early[0]!.id)).toMatchObject({ deleted: true, lifeVersion: 0 });
      expect(await state(early[1]!.id)).toMatchObject({ deleted: true });
      expect(await state(early[2]!.id)).toMatchObject({ ttlUpdated: true, expiresAtMs: NEVER_EXPIRES });
      expect(await state(late[2]!.id)).toMatchObject({ deleted: false, lifeVersion: 1, ttlUpdated: true });
      expect(await state(early[4]!.id)).toMatchObject({ deleted: false, lifeVersion: 1 });
      // No duplicates: one PUT per blob it holds.
      expect(await blobCount(lagging)).toBe((await blobCount(a)) - neverCopied.size);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a wiped replica directory is rebuilt in full from its peers',
    async () => {
      const c = await startCluster({ nodesPerDc: 3, replicasPerDc: 3 });
      const [a, b, wiped] = c.nodes as [DatanodeInfo, DatanodeInfo, DatanodeInfo];
      const written: Written[] = [];
      for (const p of [0, 1])
        for (let i = 0; i < 15; i++) written.push(await put([a, b, wiped], p, 1 + i * 2000));
      await del([a, b, wiped], written[3]!.id);
      await ttlUpdate([a, b, wiped], written[4]!.id);
      const ids = written.map((w) => w.id);
      // Let C persist tokens for everything first, so the rebuild must ignore them.
      await waitConverged(wiped, a, ids);
      await new Promise((r) => setTimeout(r, 300)); // > tokenFlushIntervalMs

      expect(await c.stopNode(2)).toBe(0);
      const dirs = c.replicaDirs(2);
      expect(dirs.size).toBe(2);
      for (const dir of dirs.values()) await fs.rm(dir, { recursive: true, force: true });
      await c.startNode(2);
      await waitConverged(wiped, a, ids);
      await expectSameBlobs(wiped, [a, b], ids);
      expect(await metric(wiped, 'ambry_replication_local_resets_total')).toBe(0); // dropped at load
      // Rebuilt by copying one peer's log per partition (LOG_CHUNK), not blob by blob: an exact copy,
      // the deleted blob's records included.
      expect(await metric(wiped, 'ambry_replication_log_copies_total')).toBe(2);
      expect(await metric(wiped, 'ambry_replication_log_copy_failures_total')).toBe(0);
      expect(await metric(wiped, 'ambry_replication_blobs_fetched_total')).toBe(0);
      expect(await blobCount(wiped)).toBe(await blobCount(a));
      expect(await metric(wiped, 'ambry_replication_log_copy_bytes_total')).toBe(
        await bytesUsedBeyondHeaders(a),
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "a replica being rebuilt from a peer's log refuses clients' writes until its copy is done",
    async () => {
      // One partition and a slow copy (throttled, small chunks), so a client's write arrives in the middle.
      const c = await startCluster(
        { nodesPerDc: 3, replicasPerDc: 3, partitions: 1 },
        { intraDc: { throttleMBps: 1 }, logCopyChunkBytes: 128 * KiB },
      );
      const [a, b, rebuilt] = c.nodes as [DatanodeInfo, DatanodeInfo, DatanodeInfo];
      expect(await c.stopNode(2)).toBe(0);
      const written: Written[] = [];
      for (let i = 0; i < 48; i++) written.push(await put([a, b], 0, 96 * KiB));
      await c.startNode(2);

      // Once the copy has written its first records, a write to the replica is refused (it would end
      // the copy); before that, one would have been taken and the copy given up for blob by blob.
      await waitFor(
        async () => (await metric(rebuilt, 'ambry_replication_log_copy_bytes_total')) > 0,
        'the copy to be under way',
      );
      const refused = await put([rebuilt], 0, KiB).then(
        () => ErrorCode.OK,
        (error: { code?: number }) => error.code,
      );
      expect(refused).toBe(ErrorCode.TEMPORARILY_DISABLED);
      const ids = written.map((w) => w.id);
      await waitConverged(rebuilt, a, ids);
      await expectSameBlobs(rebuilt, [a, b], ids);
      expect(await metric(rebuilt, 'ambry_replication_log_copies_total')).toBe(1);
      expect(await metric(rebuilt, 'ambry_replication_log_copy_failures_total')).toBe(0);
      // Once rebuilt, it takes writes again.
      const after = await put([rebuilt], 0, KiB);
      expect(await snapshot(rebuilt, after.id)).not.toMatch(/^error/);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "a blob put in dc1 becomes readable from dc2's own replicas",
    async () => {
      const c = await startCluster({ datacenters: ['dc1', 'dc2'], nodesPerDc: 2, replicasPerDc: 2 });
      const dc1 = c.nodes.filter((n) => n.datacenter === 'dc1');
      const dc2 = c.nodes.filter((n) => n.datacenter === 'dc2');
      expect(dc2.length).toBe(2);
      const written = [await put(dc1, 0, 10 * KiB), await put(dc1, 1, 100 * KiB), await put([dc1[0]!], 1, 1)];
      await ttlUpdate(dc1, written[0]!.id);
      const ids = written.map((w) => w.id);
      for (const node of dc2) {
        await waitConverged(node, dc1[0]!, ids);
        await expectSameBlobs(node, dc1, ids);
      }
      // Over the interDc class (dc2's nodes may also have copied from each other, intraDc).
      const interDc = await Promise.all(
        dc2.map(async (node) => {
          const text = await (await fetch(`http://127.0.0.1:${node.adminPort}/metrics`)).text();
          return /ambry_replication_puts_written_total\{class="interDc"\} (\d+)/.exec(text)?.[1];
        }),
      );
      expect(interDc.map(Number).reduce((x, y) => x + y, 0)).toBeGreaterThan(0);
      // And the lag is visible per (partition, peer), with peers of both datacenters.
      const lag = await lagOf(dc2[0]!);
      expect(new Set(lag.map((l) => l.peer))).toEqual(
        new Set(c.nodes.filter((n) => n !== dc2[0]).map((n) => n.key)),
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a restart resumes from the persisted tokens: only what was written meanwhile is fetched',
    async () => {
      // Blob by blob (no log copy of the empty replicas at start, which could race the first writes):
      // the bytes fetched then measure exactly what the restart read again.
      const c = await startCluster({ nodesPerDc: 3, replicasPerDc: 3 }, { logCopyChunkBytes: 0 });
      const [a, b, restarted] = c.nodes as [DatanodeInfo, DatanodeInfo, DatanodeInfo];
      const before: Written[] = [];
      for (const p of [0, 1]) for (let i = 0; i < 20; i++) before.push(await put([a, b], p, 32 * KiB));
      await waitConverged(
        restarted,
        a,
        before.map((w) => w.id),
      );
      const firstBytes = await metric(restarted, 'ambry_replication_bytes_fetched_total');
      expect(firstBytes).toBeGreaterThanOrEqual(before.length * 32 * KiB);
      expect(await c.stopNode(2)).toBe(0); // SIGTERM: the engine stops and writes its tokens

      const meanwhile: Written[] = [];
      for (const p of [0, 1]) for (let i = 0; i < 2; i++) meanwhile.push(await put([a, b], p, 8 * KiB));
      await c.startNode(2);
      const ids = [...before, ...meanwhile].map((w) => w.id);
      await waitConverged(restarted, a, ids);
      await expectSameBlobs(restarted, [a, b], ids);

      // The counters restarted with the process: they hold this run only.
      const newBytes = meanwhile.reduce((sum, w) => sum + w.bytes, 0);
      const fetched = await metric(restarted, 'ambry_replication_bytes_fetched_total');
      const entries = await metric(restarted, 'ambry_replication_entries_total');
      // Each new blob at most once per peer (A and B may race for it); nothing from before.
      expect(fetched).toBeGreaterThanOrEqual(newBytes);
      expect(fetched).toBeLessThanOrEqual(2 * newBytes);
      expect(entries).toBeLessThanOrEqual(2 * meanwhile.length);
      expect(await metric(restarted, 'ambry_replication_puts_written_total')).toBe(meanwhile.length);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'kill -9 while catching up: after a restart the replica converges, nothing duplicated or corrupt',
    async () => {
      // A throttle keeps the catch-up long enough to be killed in the middle of it.
      // Small chunks, so the log copy of each partition takes many of them.
      const c = await startCluster(
        { nodesPerDc: 3, replicasPerDc: 3 },
        { intraDc: { throttleMBps: 4 }, logCopyChunkBytes: 256 * KiB },
      );
      const [a, b, killed] = c.nodes as [DatanodeInfo, DatanodeInfo, DatanodeInfo];
      expect(await c.stopNode(2)).toBe(0);
      const written: Written[] = [];
      for (const p of [0, 1])
        for (let i = 0; i < 60; i++) written.push(await put([a, b], p, 1 + ((i * 7919) % (128 * KiB))));
      for (let i = 0; i < 10; i++) await del([a, b], written[i * 5]!.id);
      for (let i = 0; i < 10; i++) await ttlUpdate([a, b], written[i * 5 + 1]!.id);
      const ids = written.map((w) => w.id);
      const neverCopied = new Set(Array.from({ length: 10 }, (_, i) => written[i * 5]!.id));
      const total = written.reduce((sum, w) => sum + w.bytes, 0);

      // Empty replicas: the catch-up copies a peer's log (throttled too), and is killed in the middle.
      await c.startNode(2);
      await waitFor(async () => {
        const copied = await metric(killed, 'ambry_replication_log_copy_bytes_total');
        return copied > 0.2 * total;
      }, 'the catch-up to be under way');
      const partway = await metric(killed, 'ambry_replication_log_copy_bytes_total');
      expect(await c.stopNode(2, 'SIGKILL')).toBeNull();
      expect(partway).toBeLessThan(total); // killed in the middle, not after

      // A replica holding part of the peer's log is not copied again: the rest comes blob by blob.
      await c.startNode(2);
      await waitConverged(killed, a, ids, neverCopied);
      await expectSameBlobs(killed, [a, b], ids, neverCopied);
      // One PUT record per blob: the re-run after the crash wrote nothing twice (deleted blobs are
      // there when the copied part held them).
      const held = await blobCount(killed);
      expect(held).toBeLessThanOrEqual(await blobCount(a));
      expect(held).toBeGreaterThanOrEqual((await blobCount(a)) - neverCopied.size);
      expect(await metric(killed, 'ambry_replication_blob_errors_total')).toBe(0);
    },
    TEST_TIMEOUT_MS,
  );
});
