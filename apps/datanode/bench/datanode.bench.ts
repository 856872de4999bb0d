/**
 * Datanode benchmark: GETs of 4 KiB blobs (ops/s) and of 1 MiB blobs (MB/s, MB = 2^20 bytes) from a
 * real datanode process over TCP with a DataNodeClient, at 1, 16 and 64 requests in flight, against
 * the same reads straight from BlobStore in this process (`*_ratio` = wire / store).
 *
 *   pnpm --filter ./apps/datanode bench              table
 *   pnpm --filter ./apps/datanode bench --json       one JSON document (progress goes to stderr)
 *   --seconds S        time per measurement (default 3)
 *   --small N          4 KiB blobs written (default 20,000)
 *   --large M          1 MiB blobs written (default 200)
 *   --partitions P     partitions of the one-node, one-disk map (default 4); blobs spread round-robin
 *   --cpu-prof DIR     run the datanode under `node --cpu-prof` and keep its profile in DIR
 *                      (bench/profile-top.ts summarizes it)
 *
 * The blobs are PUT over the wire. The store side reopens the very replica directories the datanode
 * wrote, after the datanode stopped on SIGTERM (a clean close, so no recovery scan), with the same
 * store settings; it only reads. Both sides read from the page cache. Client and datanode are separate
 * processes (separate cores when there are two); the store side runs in one. Everything lives in one
 * temp dir, removed at the end; the datanode is stopped by pid.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { BlobId, DataNodeClient, GetPart } from '@ambry/protocol';
import { BlobStore } from '@ambry/store';
import {
  benchArgs,
  benchBlobProperties,
  count,
  measure,
  printReport,
  progress,
} from '../../../test-support/bench.js';
import { type ClusterDir, makeCluster, type RunningNode, startNode } from '../test/harness.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SMALL = 4 * KiB;
const LARGE = MiB;
const IN_FLIGHT = [1, 16, 64] as const;
const FILL_CONCURRENCY = 32;
const CLIENT_CONNECTIONS = 4;
const WARMUP_SECONDS = 0.3;

const note = progress('datanode bench');

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

/** PUTs `count` blobs of `size` bytes over the wire, spread over the partitions; returns their ids. */
async function fill(
  client: DataNodeClient,
  node: RunningNode,
  partitionIds: readonly number[],
  count: number,
  size: number,
): Promise<BlobId[]> {
  // A few distinct random payloads: the bytes' content does not matter to a read, only their size.
  const payloads = Array.from({ length: 8 }, () => randomBytes(size));
  const ids: BlobId[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(FILL_CONCURRENCY, count) }, async () => {
      for (let i = next++; i < count; i = next++) {
        const partitionId = partitionIds[i % partitionIds.length]!;
        const blobId = BlobId.generate({ partitionId, datacenterId: 0, accountId: 1, containerId: 2 });
        const blob = payloads[i % payloads.length]!;
        await client.put(node.endpoint, {
          blobId,
          properties: benchBlobProperties('datanode-bench', size),
          userMetadata: {},
          blob,
        });
        ids.push(blobId);
      }
    }),
  );
  return ids;
}

function check(got: number, want: number): number {
  if (got !== want) throw new Error(`GET returned ${got} bytes, expected ${want}`);
  return got;
}

type Read = (id: BlobId) => Promise<number>;

/** A measurement's span on CLOCK_MONOTONIC in µs, the clock of V8's profile timestamps. */
interface Phase {
  readonly name: string;
  readonly fromUs: number;
  readonly toUs: number;
}

const nowUs = () => Number(process.hrtime.bigint() / 1000n);

/** Ops/s (4 KiB) and MB/s (1 MiB) of `read` at each in-flight count, after a short warm-up. */
async function readRates(
  prefix: string,
  read: Read,
  small: readonly BlobId[],
  large: readonly BlobId[],
  seconds: number,
  phases: Phase[] = [],
): Promise<Record<string, number>> {
  const results: Record<string, number> = {};
  for (const [ids, size, kind] of [
    [small, SMALL, '4k'],
    [large, LARGE, '1m'],
  ] as const) {
    const op = async () => check(await read(pick(ids)), size);
    for (const inFlight of IN_FLIGHT) {
      await measure({ seconds: WARMUP_SECONDS, concurrency: inFlight }, op);
      note(`${prefix || 'wire '}get ${kind}, ${inFlight} in flight, ${seconds} s`);
      const name = `${prefix}get_${kind}_${kind === '4k' ? 'ops' : 'mbps'}_${inFlight}`;
      const fromUs = nowUs();
      const m = await measure({ seconds, concurrency: inFlight }, op);
      phases.push({ name, fromUs, toUs: nowUs() });
      results[name] = kind === '4k' ? m.ops / m.seconds : m.bytes / MiB / m.seconds;
    }
  }
  return results;
}

async function runBench(options: {
  seconds: number;
  small: number;
  large: number;
  partitions: number;
  cpuProf: string | undefined;
}) {
  const { seconds, small, large, partitions } = options;
  // Room for the blobs with a margin for record headers and the 0.95 read-only threshold.
  const perPartition = Math.ceil((small * SMALL + large * LARGE) / partitions);
  const capacity = Math.max(64 * MiB, Math.ceil((perPartition * 1.5) / MiB) * MiB);
  let cluster: ClusterDir | undefined;
  let node: RunningNode | undefined;
  const stores: BlobStore[] = [];
  try {
    cluster = await makeCluster({
      disks: 1,
      partitions,
      replicaCapacityBytes: capacity,
      diskCapacityBytes: Math.max(capacity * partitions, 4 * 1024 * MiB),
      // The store's own default segment size, as in the in-process side below.
      config: { segmentBytes: undefined },
    });
    if (options.cpuProf !== undefined) await fs.mkdir(options.cpuProf, { recursive: true });
    const profile = options.cpuProf === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.cpuProf];
    node = await startNode(cluster, {}, profile);
    const partitionIds = [...cluster.replicaDirs.keys()];
    const client = new DataNodeClient({
      clientId: 'datanode-bench',
      connectionsPerEndpoint: CLIENT_CONNECTIONS,
      requestTimeoutMs: 30_000,
    });
    let wire: Record<string, number>;
    let fillSeconds: number;
    let smallIds: BlobId[];
    let largeIds: BlobId[];
    try {
      note(`filling ${small} × 4 KiB and ${large} × 1 MiB over ${partitions} partitions`);
      const fillStarted = performance.now();
      smallIds = await fill(client, node, partitionIds, small, SMALL);
      largeIds = await fill(client, node, partitionIds, large, LARGE);
      fillSeconds = (performance.now() - fillStarted) / 1000;
      const endpoint = node.endpoint;
      const phases: Phase[] = [];
      wire = await readRates(
        '',
        async (blobId) => (await client.get(endpoint, { blobId, part: GetPart.ALL })).blob.byteLength,
        smallIds,
        largeIds,
        seconds,
        phases,
      );
      // Lets profile-top.ts leave out the fill and split the profile by measurement.
      if (options.cpuProf !== undefined) {
        await fs.writeFile(path.join(options.cpuProf, 'phases.json'), JSON.stringify(phases));
      }
    } finally {
      await client.close().catch(() => {});
    }
    note('stopping the datanode (SIGTERM)');
    const code = await node.stop('SIGTERM');
    if (code !== 0) throw new Error(`datanode exited with ${code} on SIGTERM:\n${node.stderr()}`);
    node = undefined;

    const byPartition = new Map<number, BlobStore>();
    for (const [partitionId, dir] of cluster.replicaDirs) {
      // The datanode's store settings: its defaults plus the map's replica capacity.
      const store = await BlobStore.open({ dir, capacityBytes: capacity });
      stores.push(store);
      byPartition.set(partitionId, store);
      if (!store.stats().cleanStart) note(`partition ${partitionId} was not closed cleanly`);
    }
    const local = await readRates(
      'store_',
      async (id) => (await byPartition.get(id.partitionId)!.get(id)).blob.byteLength,
      smallIds,
      largeIds,
      seconds,
    );

    const ratios: Record<string, number> = {};
    for (const inFlight of IN_FLIGHT) {
      ratios[`get_4k_ratio_${inFlight}`] =
        wire[`get_4k_ops_${inFlight}`]! / local[`store_get_4k_ops_${inFlight}`]!;
      ratios[`get_1m_ratio_${inFlight}`] =
        wire[`get_1m_mbps_${inFlight}`]! / local[`store_get_1m_mbps_${inFlight}`]!;
    }
    const ordered: Record<string, number> = {};
    for (const kind of ['4k', '1m'] as const) {
      const unit = kind === '4k' ? 'ops' : 'mbps';
      for (const inFlight of IN_FLIGHT)
        ordered[`get_${kind}_${unit}_${inFlight}`] = wire[`get_${kind}_${unit}_${inFlight}`]!;
      for (const inFlight of IN_FLIGHT)
        ordered[`store_get_${kind}_${unit}_${inFlight}`] = local[`store_get_${kind}_${unit}_${inFlight}`]!;
      for (const inFlight of IN_FLIGHT)
        ordered[`get_${kind}_ratio_${inFlight}`] = ratios[`get_${kind}_ratio_${inFlight}`]!;
    }
    return {
      benchmark: '@ambry/datanode',
      node_version: process.version,
      seconds_per_measurement: seconds,
      small_blobs: small,
      small_blob_bytes: SMALL,
      large_blobs: large,
      large_blob_bytes: LARGE,
      partitions,
      disks: 1,
      replica_capacity_bytes: capacity,
      durability: 'group-commit',
      client_connections: CLIENT_CONNECTIONS,
      server_max_in_flight_per_connection: 64,
      store_side: 'same replica dirs reopened in-process after SIGTERM',
      fill_seconds: fillSeconds,
      cpu_profiled: options.cpuProf !== undefined,
      ...ordered,
    };
  } finally {
    for (const store of stores) await store.close().catch(() => {});
    if (node !== undefined) {
      const code = await Promise.race([
        node.stop('SIGTERM'),
        new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 10_000)),
      ]);
      if (code === 'timeout') await node.stop('SIGKILL');
    }
    if (cluster !== undefined) await fs.rm(cluster.root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const values = benchArgs({
    small: { type: 'string', default: '20000' },
    large: { type: 'string', default: '200' },
    partitions: { type: 'string', default: '4' },
    'cpu-prof': { type: 'string' },
  });
  const report = await runBench({
    seconds: values.seconds,
    small: count(values.small, 'small', 1, 1_000_000),
    large: count(values.large, 'large', 1, 10_000),
    partitions: count(values.partitions, 'partitions', 1, 64),
    cpuProf: values['cpu-prof'],
  });
  printReport(report, values.json);
}

await main();
