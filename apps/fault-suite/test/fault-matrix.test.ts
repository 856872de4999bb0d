/**
 * The fault matrix (issue 9, suite 2): three real datanodes (3 replicas, put quorum 2) and a real
 * frontend, one fault at a time under a bounded writer + reader load through the frontend:
 * EIO on one disk, a full disk (ENOSPC on writes), a slow node, a node whose connections are dropped,
 * a blackholed node (the last three through a TCP proxy between the frontend and one datanode), and
 * bytes flipped inside a log segment on disk. During each fault PUT and GET must keep succeeding and
 * every successful GET must return the acknowledged bytes; after it is cleared the cluster must be
 * healthy and serve every request again. Judged by counts, never by time.
 * `FAULTS_PROFILE=long` holds each fault for ten times the requests.
 */
import net from 'node:net';
import { BlobId, DataNodeClient, ErrorCode } from '@ambry/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { profile } from '../src/fuzz-kit.js';
import { MatrixCluster } from '../src/matrix-cluster.js';
import { flipBytes, locateBlobs } from '../src/matrix-corrupt.js';
import {
  availability,
  BlobLedger,
  describeFailures,
  getBlob,
  type LoadResult,
  putBlob,
  randomBytes,
  runLoad,
  seededRandom,
  sha256,
} from '../src/matrix-load.js';
import { metricSum } from '../src/matrix-metrics.js';
import { MatrixProxy } from '../src/matrix-proxy.js';
import { FaultReport } from '../src/report.js';

const PROFILE = profile();
const SCALE = PROFILE.name === 'long' ? 10 : 1;
/** Requests a fault is held for. */
const PUTS_PER_FAULT = 24 * SCALE;
const GETS_PER_FAULT = 36 * SCALE;
/** After a fault is cleared every one of these must succeed. */
const RECOVERY_REQUESTS = 8;
const WRITERS = 2;
const READERS = 3;
/** Mixed sizes; with 64 KiB chunks the largest two are chunked blobs (data chunks + metadata blob). */
const SIZES = [200, 4 * 1024, 60 * 1024, 150 * 1024];
const CHUNK_BYTES = 64 * 1024;
/** One request's bound: past it the request counts as a hang. */
const REQUEST_TIMEOUT_MS = 30_000;
/** During a fault at least this share of each kind of request must succeed (3 replicas, quorum 2). */
const MIN_AVAILABILITY = 0.75;
const HEALTH_WAIT_MS = 60_000;

/** The node behind the proxy (network faults), the node whose disks fail, the node whose log rots. */
const PROXIED = 1;
const DISK_NODE = 2;
const ROT_NODE = 0;

const ROUTER = {
  // A blackholed replica costs one timeout per request until the failure detector takes it out.
  requestTimeoutMs: 1500,
  nodeBackoffMs: 2000,
  diskBackoffMs: 2000,
  chunkBytes: CHUNK_BYTES,
  // Ids are random: a not-found cache only hides blobs a moment after their PUT.
  notFoundCacheMs: 0,
};

let matrix: MatrixCluster;
let report: FaultReport;
const ledger = new BlobLedger();
const random = seededRandom(PROFILE.seed);
const table: string[] = [];

beforeAll(async () => {
  report = new FaultReport('fault-matrix', { profile: PROFILE.name, seed: PROFILE.seed, warmupCases: 0 });
  for (const name of ['faults injected', 'corrupt reads served', 'corruptions detected', 'blobs lost'])
    report.count(name, 0);
  matrix = await MatrixCluster.start({ proxiedNode: PROXIED, router: ROUTER });
  // A healthy baseline: blobs written before any fault, so readers during a fault also read old data.
  const warm = await load(16, 16);
  expect(warm.puts.ok).toBe(warm.puts.attempts);
  expect(warm.gets.ok).toBe(warm.gets.attempts);
});

afterAll(async () => {
  if (report) {
    report.note(`availability per fault (PUT % / GET % of requests during the fault):\n${table.join('\n')}`);
    await report.finish();
  }
  await matrix?.stop();
});

function load(puts: number, gets: number): Promise<LoadResult> {
  return runLoad({
    url: matrix.url,
    ledger,
    random,
    puts,
    gets,
    writers: WRITERS,
    readers: READERS,
    sizes: SIZES,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
  });
}

async function waitHealthy(): Promise<void> {
  const deadline = Date.now() + HEALTH_WAIT_MS;
  for (;;) {
    const all = await Promise.all(matrix.cluster.nodes.map((_, i) => matrix.health(i)));
    if (all.every((h) => h.status === 200 && h.healthy === true && (h.failedDisks ?? []).length === 0))
      return;
    if (Date.now() > deadline) throw new Error(`cluster not healthy after the fault: ${JSON.stringify(all)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function checkAlive(fault: string): void {
  const alive = matrix.processesAlive();
  const dead = alive.datanodes.filter((up) => !up).length + (alive.frontend ? 0 : 1);
  if (dead > 0) {
    report.count('crashes', dead);
    report.note(`${fault}: ${dead} process(es) died`);
  }
  expect(alive, fault).toEqual({ datanodes: matrix.cluster.nodes.map(() => true), frontend: true });
}

/**
 * Injects a fault, holds it for the load, records availability, clears it, waits for health and
 * checks that every request succeeds again. Returns the load seen during the fault.
 */
async function underFault(
  fault: string,
  inject: () => Promise<void>,
  clear: () => Promise<void>,
): Promise<LoadResult> {
  report.count('faults injected');
  await inject();
  let during: LoadResult;
  try {
    during = await load(PUTS_PER_FAULT, GETS_PER_FAULT);
  } finally {
    await clear();
  }
  const put = availability(during.puts);
  const get = availability(during.gets);
  report.count(`availability put ${fault}`, put);
  report.count(`availability get ${fault}`, get);
  report.count('corrupt reads served', during.corruptReads);
  report.count('hangs', during.hangs);
  table.push(
    `  ${fault.padEnd(16)} PUT ${String(put).padStart(5)}% (${during.puts.ok}/${during.puts.attempts}, failed: ${describeFailures(during.puts)})` +
      `  GET ${String(get).padStart(5)}% (${during.gets.ok}/${during.gets.attempts}, failed: ${describeFailures(during.gets)})`,
  );
  if (during.sampleFailures.length > 0) report.note(`${fault}: ${during.sampleFailures.join('; ')}`);
  checkAlive(fault);
  await waitHealthy();
  const after = await load(RECOVERY_REQUESTS, RECOVERY_REQUESTS);
  expect(during.corruptReads, `${fault}: wrong bytes served`).toBe(0);
  expect(during.hangs, `${fault}: requests past ${REQUEST_TIMEOUT_MS} ms`).toBe(0);
  expect(during.puts.ok, `${fault}: PUTs during the fault`).toBeGreaterThanOrEqual(
    Math.ceil(during.puts.attempts * MIN_AVAILABILITY),
  );
  expect(during.gets.ok, `${fault}: GETs during the fault`).toBeGreaterThanOrEqual(
    Math.ceil(during.gets.attempts * MIN_AVAILABILITY),
  );
  expect(after.puts.ok, `${fault}: PUTs after clearing (${describeFailures(after.puts)})`).toBe(
    after.puts.attempts,
  );
  expect(after.gets.ok, `${fault}: GETs after clearing (${describeFailures(after.gets)})`).toBe(
    after.gets.attempts,
  );
  return during;
}

describe('the matrix proxy', () => {
  it('passes, delays, drops and blackholes', async () => {
    const echo = net.createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const proxy = await MatrixProxy.start({
      host: '127.0.0.1',
      port: (echo.address() as net.AddressInfo).port,
    });
    const roundTrip = (timeoutMs: number) =>
      new Promise<string>((resolve) => {
        const socket = net.connect(proxy.port, '127.0.0.1', () => socket.write('ping'));
        const timer = setTimeout(() => {
          socket.destroy();
          resolve('timeout');
        }, timeoutMs);
        socket.once('data', (data) => {
          clearTimeout(timer);
          socket.destroy();
          resolve(data.toString());
        });
        socket.once('error', () => {
          clearTimeout(timer);
          resolve('error');
        });
        socket.once('close', () => {
          clearTimeout(timer);
          resolve('closed');
        });
      });
    try {
      expect(await roundTrip(5000)).toBe('ping');
      proxy.setMode({ kind: 'delay', ms: 50 });
      expect(await roundTrip(5000)).toBe('ping');
      proxy.setMode({ kind: 'drop' });
      expect(['error', 'closed']).toContain(await roundTrip(5000));
      proxy.setMode({ kind: 'blackhole' });
      expect(await roundTrip(300)).toBe('timeout');
      expect(proxy.counts.bytesSwallowed).toBeGreaterThan(0);
      proxy.setMode({ kind: 'pass' });
      expect(await roundTrip(5000)).toBe('ping');
      expect(proxy.counts.reset).toBeGreaterThan(0);
    } finally {
      await proxy.close();
      await new Promise<void>((resolve) => echo.close(() => resolve()));
    }
  });
});

describe('fault matrix', () => {
  it('EIO on one disk', async () => {
    const [disk] = matrix.disks(DISK_NODE);
    await underFault(
      'eio-disk',
      () => matrix.diskFault(DISK_NODE, { mountPath: disk!, code: 'EIO' }),
      async () => {
        // The fault hit: the node took the disk out of service (then a restart brings it back).
        expect((await matrix.health(DISK_NODE)).failedDisks).toEqual([disk]);
        await matrix.restartNode(DISK_NODE);
      },
    );
  });

  it('a full disk (ENOSPC on writes)', async () => {
    const [, disk] = matrix.disks(DISK_NODE);
    await underFault(
      'full-disk',
      () => matrix.diskFault(DISK_NODE, { mountPath: disk!, code: 'ENOSPC' }),
      async () => {
        const metrics = await matrix.metrics(DISK_NODE);
        const refused =
          metricSum(metrics, 'ambry_datanode_requests_total', { type: 'put', result: 'DISK_FULL' }) +
          metricSum(metrics, 'ambry_datanode_requests_total', { type: 'put', result: 'PARTITION_READ_ONLY' });
        expect(refused, 'PUTs the full disk refused').toBeGreaterThan(0);
        // Reads went on and the disk was not taken for a failed one.
        expect((await matrix.health(DISK_NODE)).failedDisks).toEqual([]);
        // The store stays sealed read-only until reopened (space freed, node restarted).
        await matrix.restartNode(DISK_NODE);
      },
    );
  });

  it('a slow node (added latency on its connections)', async () => {
    const before = matrix.proxy.counts.bytesForwarded;
    await underFault(
      'slow-node',
      async () => matrix.proxy.setMode({ kind: 'delay', ms: 250 }),
      async () => {
        expect(matrix.proxy.counts.bytesForwarded).toBeGreaterThan(before);
        matrix.proxy.setMode({ kind: 'pass' });
      },
    );
  });

  it('one node cut off: connections dropped', async () => {
    const before = matrix.proxy.counts.reset;
    await underFault(
      'node-dropped',
      async () => matrix.proxy.setMode({ kind: 'drop' }),
      async () => {
        expect(matrix.proxy.counts.reset).toBeGreaterThan(before);
        matrix.proxy.setMode({ kind: 'pass' });
      },
    );
  });

  it('one node cut off: blackholed (accepted, never answered)', async () => {
    const before = matrix.proxy.counts.bytesSwallowed;
    await underFault(
      'node-blackholed',
      async () => matrix.proxy.setMode({ kind: 'blackhole' }),
      async () => {
        expect(matrix.proxy.counts.bytesSwallowed).toBeGreaterThan(before);
        matrix.proxy.setMode({ kind: 'pass' });
      },
    );
  });

  it('bytes flipped inside a log segment: detected, never served, read from another replica', async () => {
    report.count('faults injected');
    // Single-chunk blobs, so each one is one record whose bytes lie whole in one segment.
    const blobs = new Map<string, Buffer>();
    const count = 8 * SCALE;
    for (let i = 0; i < count; i++) {
      const bytes = randomBytes(1024 + Math.floor(random() * 30 * 1024), random);
      const { outcome, id } = await putBlob(matrix.url, bytes, REQUEST_TIMEOUT_MS);
      expect(outcome).toBe(201);
      blobs.set(id!, bytes);
      ledger.add({ id: id!, size: bytes.length, sha256: sha256(bytes) });
    }
    // The node may have missed the PUT (quorum 2) and hold it only once replication copied it.
    const dirs = [...matrix.cluster.replicaDirs(ROT_NODE).values()];
    const deadline = Date.now() + 60_000;
    let found = await locateBlobs(dirs, blobs);
    while (found.size < blobs.size && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      found = await locateBlobs(dirs, blobs);
    }
    expect(found.size, 'blobs replicated to the node before the rot').toBe(blobs.size);
    // The node keeps running: bit rot happens under a live process, and its reads go to the file.
    for (const [id, where] of found) {
      await flipBytes(where.file, where.offset + Math.floor(blobs.get(id)!.length / 2), 4);
    }
    const detectedBefore = metricSum(await matrix.metrics(ROT_NODE), 'ambry_datanode_corrupt_records_total');

    // At the wire: the node refuses every rotten blob with DATA_CORRUPT, never sends its bytes.
    const node = matrix.cluster.nodes[ROT_NODE]!;
    const client = new DataNodeClient({ clientId: 'fault-matrix' });
    try {
      for (const id of blobs.keys()) {
        const response = await client.send(
          { host: node.host, port: node.port },
          { type: 'get', blobId: BlobId.parse(id) },
          { timeoutMs: 10_000 },
        );
        expect(response.error, `direct GET of ${id}`).toBe(ErrorCode.DATA_CORRUPT);
      }
    } finally {
      await client.close();
    }

    // Through the frontend: every read is answered byte-correct (from another replica).
    let served = 0;
    let wrong = 0;
    let failed = 0;
    for (let round = 0; round < 3; round++) {
      for (const [id, bytes] of blobs) {
        const got = await getBlob(matrix.url, id, REQUEST_TIMEOUT_MS);
        if (got.outcome === 'hang') report.count('hangs');
        if (got.outcome !== 200) failed++;
        else if (got.bytes!.equals(bytes)) served++;
        else wrong++;
      }
    }
    const metrics = await matrix.metrics(ROT_NODE);
    const detected = metricSum(metrics, 'ambry_datanode_corrupt_records_total') - detectedBefore;
    report.count('corruptions detected', detected);
    report.count('corrupt reads served', wrong);
    report.count('availability put corrupt-segment', 100);
    const get = Math.round((served / (served + wrong + failed)) * 1000) / 10;
    report.count('availability get corrupt-segment', get);
    table.push(
      `  ${'corrupt-segment'.padEnd(16)} GET ${String(get).padStart(5)}% (${served}/${served + wrong + failed}); ` +
        `${blobs.size} records rotted on node ${ROT_NODE}, ${detected} corrupt reads refused there`,
    );
    expect(wrong, 'rotten bytes served').toBe(0);
    expect(failed, 'GETs of rotten blobs that failed').toBe(0);
    // Every direct GET above was refused, so the node counted at least that many.
    expect(detected).toBeGreaterThanOrEqual(blobs.size);
    checkAlive('corrupt-segment');
  });

  it('every blob acknowledged through the matrix reads back byte-identical', async () => {
    await waitHealthy();
    let lost = 0;
    for (const blob of ledger.all()) {
      const got = await getBlob(matrix.url, blob.id, REQUEST_TIMEOUT_MS);
      if (got.outcome !== 200 || sha256(got.bytes!) !== blob.sha256) {
        lost++;
        report.note(`lost ${blob.id}: ${got.outcome}`);
      }
    }
    report.count('blobs acknowledged', ledger.size);
    report.count('blobs lost', lost);
    expect(lost).toBe(0);
  });
});
