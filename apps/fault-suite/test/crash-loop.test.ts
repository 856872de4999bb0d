import { DataNodeClient } from '@ambry/protocol';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DatanodeCluster } from '../../../test-support/datanode-cluster.js';
import { type FrontendProcess, startFrontendProcess } from '../../../test-support/frontend-process.js';
import { Ledger } from '../src/crash-ledger.js';
import { compareReplicas, type ReplicaHolder, replicationBehind } from '../src/crash-replicas.js';
import { buildSchedule, describeTarget, type KillCycle } from '../src/crash-schedule.js';
import { verifyReadBack } from '../src/crash-verify.js';
import { CHUNK_BYTES, Workload } from '../src/crash-workload.js';
import { profile, rssKiB, sleep } from '../src/fuzz-kit.js';
import { FaultReport } from '../src/report.js';

/**
 * The crash loop: 3 datanodes holding 3 replicas of every partition and a frontend, under writers and
 * readers through the frontend. Each cycle lets the workload run, then SIGKILLs a random datanode (or
 * sometimes the frontend) and restarts it after a while. At the end every acknowledged blob must read
 * back byte-identical, every acknowledged DELETE read 410, and once replication has caught up every
 * replica of every partition must hold the same keys in the same states, asked of each node directly.
 *
 * FAULTS_PROFILE=long runs 200 cycles (FAULTS_CYCLES overrides either profile's count).
 */
const PROFILE = profile();
const CYCLES = cycleCount();
const SETTLE_MS = 180_000;

function cycleCount(): number {
  const given = process.env.FAULTS_CYCLES?.trim();
  if (!given) return PROFILE.name === 'long' ? 200 : 8;
  const n = Number(given);
  if (!Number.isSafeInteger(n) || n < 1 || n > 100_000)
    throw new Error(`FAULTS_CYCLES must be 1..100000, got ${given}`);
  return n;
}

let cluster: DatanodeCluster;
let frontend: FrontendProcess;
let report: FaultReport;
const client = new DataNodeClient({ clientId: 'crash-loop', requestTimeoutMs: 10_000 });

const FRONTEND_CONFIG = { logLevel: 'error', router: { notFoundCacheMs: 0, chunkBytes: CHUNK_BYTES } };

beforeAll(async () => {
  report = new FaultReport('crash-loop', { profile: PROFILE.name, seed: PROFILE.seed, warmupCases: 1 });
  for (const name of ['cycles', 'datanode kills', 'frontend kills', 'blobs acknowledged', 'blobs lost'])
    report.count(name, 0);
  // Room for everything the long profile writes: a sealed partition would refuse PUTs, which is another
  // test (the fault matrix's full disk).
  cluster = await DatanodeCluster.create({
    nodesPerDc: 3,
    replicasPerDc: 3,
    partitions: 6,
    disksPerNode: 2,
    replicaCapacityBytes: 4 * 1024 ** 3,
  });
  await cluster.start();
  frontend = await startFrontendProcess(cluster, { config: FRONTEND_CONFIG });
}, 120_000);

afterAll(async () => {
  if (report) await report.finish();
  await frontend?.stop('SIGTERM').catch(() => {});
  await cluster?.destroy();
  client.close();
}, 120_000);

function holders(): ReplicaHolder[] {
  return cluster.nodes.map((node, index) => ({
    name: node.key,
    endpoint: { host: node.host, port: node.port },
    partitions: [...cluster.replicaDirs(index).keys()],
  }));
}

/** A process that died without being killed by the loop is a crash: counted, noted and restarted. */
async function reviveCrashed(cycle: number): Promise<void> {
  for (let index = 0; index < cluster.nodes.length; index++) {
    if (cluster.isRunning(index)) continue;
    report.count('crashes');
    report.note(`cycle ${cycle}: datanode ${index} died on its own: ${cluster.stderr(index).slice(-500)}`);
    await cluster.stopNode(index);
    await cluster.startNode(index);
  }
  if (frontend.child.exitCode !== null || frontend.child.signalCode !== null) {
    report.count('crashes');
    report.note(`cycle ${cycle}: the frontend died on its own: ${frontend.output().slice(-500)}`);
    frontend = await startFrontendProcess(cluster, { config: FRONTEND_CONFIG, port: frontend.port });
  }
}

async function killAndRestart({ cycle, target, downMs }: KillCycle): Promise<void> {
  if (target.kind === 'datanode') {
    await cluster.stopNode(target.index, 'SIGKILL');
    report.count('datanode kills');
    await sleep(downMs);
    await cluster.startNode(target.index);
  } else {
    await frontend.stop('SIGKILL');
    report.count('frontend kills');
    await sleep(downMs);
    frontend = await startFrontendProcess(cluster, { config: FRONTEND_CONFIG, port: frontend.port });
  }
  report.count('cycles');
  if (cycle % 10 === 0 || cycle === CYCLES - 1) {
    for (let index = 0; index < cluster.nodes.length; index++) {
      const rss = rssKiB(cluster.pid(index));
      if (rss !== undefined) report.sampleMemory(`datanode ${index}`, cycle, rss);
    }
    const rss = rssKiB(frontend.child.pid);
    if (rss !== undefined) report.sampleMemory('frontend', cycle, rss);
  }
}

async function settle(): Promise<string[]> {
  const deadline = Date.now() + SETTLE_MS;
  let behind: string[] = [];
  while (Date.now() < deadline) {
    behind = await replicationBehind(client, holders()).catch((error) => [String(error)]);
    if (behind.length === 0) return behind;
    await sleep(500);
  }
  return behind;
}

it(`${CYCLES} kill cycles lose no acknowledged blob, and the replicas converge`, async () => {
  const ledger = new Ledger();
  const schedule = buildSchedule({
    seed: PROFILE.seed,
    cycles: CYCLES,
    datanodes: cluster.nodes.length,
    frontendShare: 0.15,
    loadMs: [800, 2500],
    downMs: [200, 2000],
  });
  const workload = new Workload({
    url: frontend.url,
    seed: PROFILE.seed,
    writers: 3,
    readers: 2,
    thinkMs: [0, 20],
    requestBoundMs: 30_000,
    ledger,
    report,
  });
  workload.start();
  try {
    for (const cycle of schedule) {
      await sleep(cycle.loadMs);
      await reviveCrashed(cycle.cycle);
      if (cycle.cycle % 25 === 0) {
        process.stdout.write(
          `crash loop: cycle ${cycle.cycle}/${CYCLES}, killing ${describeTarget(cycle.target)}\n`,
        );
      }
      await killAndRestart(cycle);
    }
    // A last stretch with everything up, so the final writes land on all three replicas too.
    await sleep(1000);
  } finally {
    await workload.stop();
  }
  await reviveCrashed(CYCLES);

  // Reads go to any replica (the first answer wins, as in Ambry): a replica that missed a DELETE or
  // TTL update may answer until replication brings it, so the read-back waits for replication first.
  const behind = await settle();
  for (const line of behind.slice(0, 10)) report.note(`not caught up after ${SETTLE_MS} ms: ${line}`);
  const readBack = await verifyReadBack(ledger, {
    url: frontend.url,
    boundMs: 30_000,
    attempts: 5,
    retryDelayMs: 1000,
    parallel: 4,
  });
  report.count('blobs read back', readBack.checked);
  report.count('blobs lost', readBack.lost.length);
  report.count('acknowledged deletes not seen', readBack.deletesNotSeen.length);
  report.count('unacknowledged deletes read wrong', readBack.unknownWrong.length);
  report.count('acknowledged ttl updates lost', readBack.ttlLost.length);
  for (const line of [
    ...readBack.lost,
    ...readBack.deletesNotSeen,
    ...readBack.unknownWrong,
    ...readBack.ttlLost,
  ].slice(0, 20))
    report.note(line);

  const comparison = await compareReplicas(client, holders());
  report.count('replica keys compared', comparison.keys);
  report.count('deleted keys not copied', comparison.deletedNotCopied);
  report.count('replica divergences', comparison.divergent.length);
  for (const line of comparison.divergent.slice(0, 20)) report.note(`divergent: ${line}`);

  expect(report.get('blobs acknowledged')).toBeGreaterThan(CYCLES);
  expect(readBack.lost).toEqual([]);
  expect(readBack.deletesNotSeen).toEqual([]);
  expect(readBack.unknownWrong).toEqual([]);
  expect(readBack.ttlLost).toEqual([]);
  expect(report.get('reads wrong bytes')).toBe(0);
  expect(report.get('hangs')).toBe(0);
  expect(report.get('crashes')).toBe(0);
  expect(behind).toEqual([]);
  expect(comparison.divergent).toEqual([]);
});
