/**
 * Replication benchmark, with REAL datanode processes (test-support/datanode-cluster.ts: one machine,
 * TCP, stores on disk, group-commit durability):
 *
 * 1. **Catch-up.** A two-node cluster (every partition on both); only the source runs while it takes
 *    `--mib` MiB of mixed-size blobs (4 KiB .. 4 MiB). Then the target starts with empty replicas (a
 *    wiped node) and its replication engine rebuilds it (by copying the source's log: LOG_CHUNK, unless
 *    `--chunk-mib 0` makes it go blob by blob). `catchup_mbps` = the source's log bytes
 *    ÷ the time from the target being up to every pair caught up with every blob present. In the same
 *    run, the source's replica files (log segments and index) are copied with `fs.copyFile` (and each
 *    copy fsynced, as the replicated writes are): `copy_mbps`. `catchup_ratio` = catchup ÷ copy: how
 *    close a repair runs to disk speed (target ≥ 0.5). MB = 2^20 bytes. `catchup_cpu_seconds_*`: CPU
 *    time (user + system, from /proc) each datanode spent during the catch-up.
 * 2. **Lag under load.** A writer puts 64 KiB blobs into the source at `--write-mbps` for `--seconds`;
 *    every 100 ms the target's lag is sampled two ways: `lag_reported_*`, what the engine reports (ADMIN
 *    REPLICATION_LAG summed over its pairs: the source's log after the target's token at its last poll;
 *    writes since that poll are not in it), and `lag_log_*`, how much more the source's logs grew than
 *    the target's since the phase began (ADMIN REPLICA_STATS; both take the same records, so this is
 *    everything not yet replicated). p50 / p99 / max in bytes, and the time to drain once the writer
 *    stops (until the target holds every blob and reports every pair caught up).
 *
 *   pnpm --filter @ambry/replication bench              table
 *   pnpm --filter @ambry/replication bench --json       one JSON object (progress goes to stderr)
 *   --mib N           data held by the replica to rebuild (default 1024)
 *   --partitions P    partitions of the map (default 4)
 *   --write-mbps R    writer rate of the lag phase (default 20)
 *   --seconds S       length of the lag phase (default 3)
 *   --batch-mib B     the engine's intraDc.batchBytes in MiB (default: the engine's, 8 MiB)
 *   --chunk-mib C     the engine's logCopyChunkBytes in MiB (default: the engine's, 16 MiB; 0 = no log
 *                     copy: the wiped replica is rebuilt blob by blob)
 *   --cpu-prof DIR    run the datanodes with `--cpu-prof` and write their profiles into DIR (written when
 *                     a node stops; open them in Chrome DevTools or speedscope)
 *
 * The cluster lives in a temp dir, removed at the end; the datanodes are stopped by pid.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { AdminKind, BlobId, DataNodeClient, type Endpoint } from '@ambry/protocol';
import {
  benchArgs,
  benchBlobProperties,
  count,
  percentiles,
  printReport,
  progress,
} from '../../../test-support/bench.js';
import { DatanodeCluster, type DatanodeInfo } from '../../../test-support/datanode-cluster.js';
import { REPLICATION_DEFAULTS } from '../src/index.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const FILL_CONCURRENCY = 16;
const SEGMENT = 256 * MiB;
const LAG_BLOB = 64 * KiB;
const POLL_MS = 50;
const SAMPLE_MS = 100;
const CATCHUP_TIMEOUT_MS = 30 * 60_000;
/** USER_HZ of /proc/<pid>/stat: 100 on every Linux build this runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

const note = progress('replication bench');

/** Mixed sizes: many small blobs, fewer large ones (by count; most bytes are in the large ones). */
function blobSize(i: number): number {
  const r = (i * 2_654_435_761) % 1000;
  if (r < 500) return 4 * KiB + (r % 60) * KiB; // 4 .. 64 KiB
  if (r < 900) return 64 * KiB + (r % 96) * 10 * KiB; // 64 KiB .. 1 MiB
  return MiB + (r % 4) * MiB; // 1 .. 4 MiB
}

const endpointOf = (node: DatanodeInfo): Endpoint => ({ host: node.host, port: node.port });

async function stats(client: DataNodeClient, node: DatanodeInfo) {
  const result = await client.admin(endpointOf(node), { kind: AdminKind.REPLICA_STATS });
  return {
    blobs: result.replicas.reduce((sum, r) => sum + r.blobCount, 0),
    logBytes: result.replicas.reduce((sum, r) => sum + r.bytesUsed, 0),
  };
}

async function totalLag(client: DataNodeClient, node: DatanodeInfo) {
  const result = await client.admin(endpointOf(node), { kind: AdminKind.REPLICATION_LAG });
  const lag = result.replicationLag ?? [];
  return {
    bytes: lag.reduce((sum, l) => sum + (l.lagBytes ?? 0), 0),
    caughtUp: lag.length > 0 && lag.every((l) => l.caughtUp && l.lagBytes === 0),
  };
}

/** CPU seconds (user + system) a process has used so far; undefined where /proc is not there. */
async function cpuSeconds(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces), from field 3 on: utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

async function put(client: DataNodeClient, node: DatanodeInfo, partitions: number, blob: Buffer) {
  const blobId = BlobId.generate({
    partitionId: Math.floor(Math.random() * partitions),
    datacenterId: 0,
    accountId: 1,
    containerId: 2,
  });
  await client.put(endpointOf(node), {
    blobId,
    properties: benchBlobProperties('replication-bench', blob.length),
    userMetadata: {},
    blob,
  });
}

/** Every file under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

/** copyFile of every replica file of the source into `into`, each copy fsynced: bytes and seconds. */
async function copyReplicaFiles(dirs: readonly string[], into: string) {
  const files = (await Promise.all(dirs.map(filesUnder))).flat();
  let bytes = 0;
  const started = performance.now();
  for (const [i, file] of files.entries()) {
    const target = path.join(into, `${i}-${path.basename(file)}`);
    await fs.copyFile(file, target);
    const handle = await fs.open(target, 'r+');
    try {
      await handle.sync();
      bytes += (await handle.stat()).size;
    } finally {
      await handle.close();
    }
  }
  return { bytes, files: files.length, seconds: (performance.now() - started) / 1000 };
}

async function runBench(options: {
  mib: number;
  partitions: number;
  writeMbps: number;
  seconds: number;
  batchMib: number | undefined;
  chunkMib: number | undefined;
  cpuProfDir: string | undefined;
}) {
  const replication = {
    ...(options.batchMib === undefined ? {} : { intraDc: { batchBytes: options.batchMib * MiB } }),
    ...(options.chunkMib === undefined ? {} : { logCopyChunkBytes: options.chunkMib * MiB }),
  };
  const perPartition = Math.ceil((options.mib * MiB) / options.partitions);
  const cluster = await DatanodeCluster.create({
    nodesPerDc: 2,
    replicasPerDc: 2,
    disksPerNode: 1,
    partitions: options.partitions,
    // Room for the data plus the lag phase's writes, in whole segments; capacity only bounds how far a
    // log may grow (nothing is preallocated).
    replicaCapacityBytes: SEGMENT * Math.ceil((2 * perPartition + 2 * 1024 * MiB) / SEGMENT),
    segmentBytes: SEGMENT,
    datanodeConfig: { replication },
    nodeArgs:
      options.cpuProfDir === undefined
        ? []
        : ['--cpu-prof', '--cpu-prof-dir', path.resolve(options.cpuProfDir)],
  });
  const client = new DataNodeClient({ clientId: 'replication-bench', requestTimeoutMs: 60_000 });
  const [source, target] = cluster.nodes as [DatanodeInfo, DatanodeInfo];
  try {
    note(`starting the source datanode in ${cluster.root}`);
    await cluster.startNode(0);

    note(`filling the source with ${options.mib} MiB of mixed-size blobs`);
    const payload = randomBytes(4 * MiB);
    let filled = 0;
    let next = 0;
    const fillStarted = performance.now();
    await Promise.all(
      Array.from({ length: FILL_CONCURRENCY }, async () => {
        while (filled < options.mib * MiB) {
          const size = blobSize(next++);
          filled += size;
          await put(client, source, options.partitions, payload.subarray(0, size));
        }
      }),
    );
    const fillSeconds = (performance.now() - fillStarted) / 1000;
    const sourceStats = await stats(client, source);
    note(`${sourceStats.blobs} blobs, ${(sourceStats.logBytes / MiB).toFixed(0)} MiB of log`);

    note('copying the source replica files with fs.copyFile');
    const copyDir = path.join(cluster.root, 'copy');
    await fs.mkdir(copyDir);
    const copy = await copyReplicaFiles([...cluster.replicaDirs(0).values()], copyDir);
    await fs.rm(copyDir, { recursive: true, force: true });

    note('starting the target with empty replicas: catch-up');
    await cluster.startNode(1);
    const cpuBefore = [await cpuSeconds(cluster.pid(0)), await cpuSeconds(cluster.pid(1))];
    const catchupStarted = performance.now();
    const deadline = catchupStarted + CATCHUP_TIMEOUT_MS;
    for (;;) {
      const lag = await totalLag(client, target).catch(() => undefined);
      if (lag?.caughtUp && (await stats(client, target)).blobs >= sourceStats.blobs) break;
      if (performance.now() > deadline) throw new Error('the target did not catch up in time');
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    const catchupSeconds = (performance.now() - catchupStarted) / 1000;
    const cpuAfter = [await cpuSeconds(cluster.pid(0)), await cpuSeconds(cluster.pid(1))];
    const cpuUsed = (i: number) =>
      cpuBefore[i] === undefined || cpuAfter[i] === undefined ? null : cpuAfter[i]! - cpuBefore[i]!;
    const targetStats = await stats(client, target);
    note(`caught up in ${catchupSeconds.toFixed(1)} s`);

    note(`lag under a steady ${options.writeMbps} MB/s write load for ${options.seconds} s`);
    const samples: number[] = [];
    const logSamples: number[] = [];
    // Log growth from here on: both logs take the same 64 KiB records (their ends differ by where each
    // log's segments happened to roll over, so the ends themselves are not compared).
    const [sourceBase, targetBase] = [await stats(client, source), await stats(client, target)];
    const blob = randomBytes(LAG_BLOB);
    const interval = (LAG_BLOB / (options.writeMbps * MiB)) * 1000;
    const writeStarted = performance.now();
    let written = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [lag, ahead, behind] = await Promise.all([
          totalLag(client, target),
          stats(client, source),
          stats(client, target),
        ]).catch(() => [undefined, undefined, undefined] as const);
        if (lag !== undefined) samples.push(lag.bytes);
        // The target's replicas take exactly the source's records: the difference of their growth is
        // what is not replicated yet, polled or not.
        if (ahead !== undefined && behind !== undefined)
          logSamples.push(ahead.logBytes - sourceBase.logBytes - (behind.logBytes - targetBase.logBytes));
        await new Promise((r) => setTimeout(r, SAMPLE_MS));
      }
    })();
    const writes: Promise<void>[] = [];
    while (performance.now() - writeStarted < options.seconds * 1000) {
      // A fixed rate: the i-th write starts at i × interval, however long earlier ones take.
      const due = writeStarted + written * interval;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      writes.push(put(client, source, options.partitions, blob));
      written += 1;
    }
    await Promise.all(writes);
    const writerSeconds = (performance.now() - writeStarted) / 1000;
    const drainStarted = performance.now();
    const writtenBlobs = (await stats(client, source)).blobs;
    for (;;) {
      const lag = await totalLag(client, target);
      if (lag.caughtUp && (await stats(client, target)).blobs >= writtenBlobs) break;
      if (performance.now() - drainStarted > CATCHUP_TIMEOUT_MS) throw new Error('lag did not drain');
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    const drainSeconds = (performance.now() - drainStarted) / 1000;
    sampling = false;
    await sampler;
    const lagPercentiles = percentiles(samples);
    const logPercentiles = percentiles(logSamples);

    const copyMbps = copy.bytes / MiB / copy.seconds;
    const catchupMbps = sourceStats.logBytes / MiB / catchupSeconds;
    return {
      benchmark: '@ambry/replication',
      node_version: process.version,
      datanodes: 2,
      partitions: options.partitions,
      intra_dc_batch_bytes:
        options.batchMib === undefined ? REPLICATION_DEFAULTS.intraDc.batchBytes : options.batchMib * MiB,
      data_mib: options.mib,
      blobs: sourceStats.blobs,
      source_log_bytes: sourceStats.logBytes,
      fill_mbps: filled / MiB / fillSeconds,
      copy_files: copy.files,
      copy_bytes: copy.bytes,
      copy_seconds: copy.seconds,
      copy_mbps: copyMbps,
      catchup_seconds: catchupSeconds,
      catchup_mbps: catchupMbps,
      catchup_blob_mbps: filled / MiB / catchupSeconds,
      catchup_ratio: catchupMbps / copyMbps,
      log_copy_chunk_bytes:
        options.chunkMib === undefined ? REPLICATION_DEFAULTS.logCopyChunkBytes : options.chunkMib * MiB,
      catchup_cpu_seconds_source: cpuUsed(0),
      catchup_cpu_seconds_target: cpuUsed(1),
      target_blobs: targetStats.blobs,
      target_log_bytes: targetStats.logBytes,
      lag_write_mbps: (written * LAG_BLOB) / MiB / writerSeconds,
      lag_writes: written,
      lag_samples: samples.length,
      lag_reported_p50_bytes: lagPercentiles.p50,
      lag_reported_p99_bytes: lagPercentiles.p99,
      lag_reported_max_bytes: Math.max(...samples),
      lag_log_p50_bytes: logPercentiles.p50,
      lag_log_p99_bytes: logPercentiles.p99,
      lag_log_max_bytes: Math.max(...logSamples),
      lag_drain_seconds: drainSeconds,
    };
  } finally {
    await client.close().catch(() => {});
    await cluster.destroy();
  }
}

async function main(): Promise<void> {
  const values = benchArgs({
    mib: { type: 'string', default: '1024' },
    partitions: { type: 'string', default: '4' },
    'write-mbps': { type: 'string', default: '20' },
    'batch-mib': { type: 'string' },
    'chunk-mib': { type: 'string' },
    'cpu-prof': { type: 'string' },
  });
  const report = await runBench({
    mib: count(values.mib, 'mib', 1, 64 * 1024),
    partitions: count(values.partitions, 'partitions', 1, 64),
    writeMbps: count(values['write-mbps'], 'write-mbps', 1, 1000),
    seconds: values.seconds,
    batchMib:
      values['batch-mib'] === undefined ? undefined : count(values['batch-mib'], 'batch-mib', 1, 1024),
    chunkMib: values['chunk-mib'] === undefined ? undefined : count(values['chunk-mib'], 'chunk-mib', 0, 32),
    cpuProfDir: values['cpu-prof'],
  });
  printReport(report, values.json);
}

await main();
