/**
 * HTTP benchmark: PUT (`POST /`) and GET of 4 KiB, 64 KiB, 1 MiB and 16 MiB blobs at 1 and 16 requests
 * in flight against the local cluster (3 data nodes and a frontend, every blob written to 3 replicas),
 * and the same requests in the same run against a baseline: a bare `node:http` server
 * (bench/baseline-server.ts) that streams each body into a file on the same disk, fdatasyncs it and
 * streams it back. Per case and side: ops/s, MB/s (MB = 2^20 bytes), p50 and p99 latency;
 * `*_ratio` = ours ÷ baseline ops/s.
 *
 *   pnpm --filter @ambry/local-cluster bench             table
 *   pnpm --filter @ambry/local-cluster bench --json      one JSON document (progress goes to stderr)
 *   --seconds S          time per case and side (default 3)
 *   --sizes LIST         a subset of 4k,64k,1m,16m (default all)
 *   --concurrency LIST   requests in flight, e.g. 1,16 (default 1,16)
 *   --max-ops N          most requests per case and side (default 50,000)
 *   --put-mib M          most MiB PUT per case and side (default 128), but at least 2 × concurrency
 *                        requests: with the defaults a full run PUTs about 2 GiB of bodies in all
 *
 * Both sides get the same client: node:http with a keep-alive Agent (maxSockets = concurrency), which
 * costs the client far less per request than fetch. After a short unrecorded warm-up of 4 KiB PUTs and
 * GETs on each side, each case first sends one `GET /healthCheck` per connection (not measured, no blob
 * written) so that connection setup stays out of it. GETs read blobs PUT earlier in the run
 * (both concurrencies of that size), chosen at random, so they come from the page cache on both sides.
 * The cluster runs from dist/ when the three apps are built (else from source, with a note), in a temp
 * data dir on free ports, and is stopped by pid with SIGTERM; the baseline is a child process too.
 * Everything lives under one temp dir, removed at the end.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freeClusterPorts, isAlive } from '../test/processes.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZES: Record<string, number> = { '4k': 4 * KiB, '64k': 64 * KiB, '1m': MiB, '16m': 16 * MiB };
const PAYLOADS_PER_SIZE = 4;
const WARM_UP_SECONDS = 0.5;
const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 30_000;
const REQUEST_TIMEOUT_MS = 60_000;

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BASELINE_SERVER = fileURLToPath(new URL('./baseline-server.ts', import.meta.url));

function note(message: string): void {
  process.stderr.write(`[http bench] ${message}\n`);
}

type Side = 'ours' | 'baseline';
type Op = 'put' | 'get';

// ---------------------------------------------------------------- processes

interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  output(): string;
}

function startProcess(name: string, args: readonly string[]): Proc {
  const child = spawn(process.execPath, [...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const append = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(null));
  });
  return { name, child, exited, output: () => output };
}

async function waitForOutput(proc: Proc, pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void proc.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadline) {
    const match = pattern.exec(proc.output());
    if (match) return match;
    if (exited) throw new Error(`${proc.name} exited while starting:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${proc.name}: timed out waiting for ${pattern}:\n${proc.output()}`);
}

/** SIGTERM by pid, SIGKILL past the deadline; returns the exit code (null when killed by a signal). */
async function stopProcess(proc: Proc): Promise<number | null> {
  const pid = proc.child.pid;
  if (pid === undefined || proc.child.exitCode !== null || proc.child.signalCode !== null) {
    return proc.child.exitCode;
  }
  process.kill(pid, 'SIGTERM');
  const code = await Promise.race([
    proc.exited,
    new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), STOP_TIMEOUT_MS).unref()),
  ]);
  if (code !== 'timeout') return code;
  note(`${proc.name} (pid ${pid}) did not stop in ${STOP_TIMEOUT_MS / 1000} s: SIGKILL`);
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  return proc.exited;
}

/** Newest modification time (ms) of the files under `dir`. */
async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    newest = Math.max(newest, (await stat(path.join(entry.parentPath, entry.name))).mtimeMs);
  }
  return newest;
}

/** How to run the cluster: from dist/ when all three apps are built, else from source. */
async function clusterCommand(): Promise<{ args: string[]; from: 'dist' | 'source' }> {
  const apps = ['local-cluster', 'datanode', 'frontend'];
  const mains = apps.map((app) => path.join(REPO_ROOT, 'apps', app, 'dist', 'main.js'));
  const missing = apps.filter((_, i) => !existsSync(mains[i]!));
  if (missing.length > 0) {
    note(`no dist/main.js in ${missing.join(', ')}: running the cluster from source (tsx)`);
    const main = path.join(REPO_ROOT, 'apps', 'local-cluster', 'src', 'main.ts');
    return { args: ['--import', 'tsx', main, '--from-source'], from: 'source' };
  }
  for (const [i, app] of apps.entries()) {
    const built = (await stat(mains[i]!)).mtimeMs;
    if ((await newestMtime(path.join(REPO_ROOT, 'apps', app, 'src'))) > built) {
      note(
        `warning: apps/${app}/src is newer than its dist/: run \`pnpm build\` to measure the current code`,
      );
    }
  }
  return { args: [mains[0]!], from: 'dist' };
}

// ---------------------------------------------------------------- client

interface Response {
  status: number;
  location: string | undefined;
  bytes: number;
  body: Buffer | undefined;
}

/** One request over `agent`; the response body is counted, and kept only when `keep` (or on an error). */
function request(
  agent: http.Agent,
  base: URL,
  method: 'POST' | 'GET',
  urlPath: string,
  body: Buffer | undefined,
  keep = false,
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders =
      body === undefined
        ? {}
        : {
            'content-length': body.byteLength,
            'x-ambry-service-id': 'http-bench',
            'x-ambry-content-type': 'application/octet-stream',
          };
    const req = http.request(
      { agent, host: base.hostname, port: base.port, method, path: urlPath, headers },
      (res) => {
        const status = res.statusCode ?? 0;
        const chunks: Buffer[] = [];
        const collect = keep || status >= 300;
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.byteLength;
          if (collect) chunks.push(chunk);
        });
        res.once('error', reject);
        res.once('end', () =>
          resolve({
            status,
            location: res.headers.location,
            bytes,
            body: collect ? Buffer.concat(chunks) : undefined,
          }),
        );
      },
    );
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`${method} ${urlPath} timed out`)));
    req.once('error', reject);
    req.end(body);
  });
}

interface Stored {
  readonly location: string;
  readonly payload: number;
}

interface Target {
  readonly side: Side;
  readonly url: URL;
  /** Blobs PUT so far, by size label. */
  readonly stored: Map<string, Stored[]>;
  putBytes: number;
}

interface Payloads {
  readonly label: string;
  readonly size: number;
  readonly buffers: readonly Buffer[];
}

async function put(target: Target, agent: http.Agent, payloads: Payloads, index: number): Promise<void> {
  const payload = index % payloads.buffers.length;
  const res = await request(agent, target.url, 'POST', '/', payloads.buffers[payload]);
  if (res.status !== 201 || res.location === undefined || !/^\/\S+$/.test(res.location)) {
    throw new Error(
      `${target.side}: POST of ${payloads.size} bytes → ${res.status}, location ${res.location}: ${res.body?.toString()}`,
    );
  }
  target.putBytes += payloads.size;
  let list = target.stored.get(payloads.label);
  if (list === undefined) target.stored.set(payloads.label, (list = []));
  list.push({ location: res.location, payload });
}

async function get(target: Target, agent: http.Agent, payloads: Payloads): Promise<void> {
  const list = target.stored.get(payloads.label)!;
  const { location } = list[Math.floor(Math.random() * list.length)]!;
  const res = await request(agent, target.url, 'GET', location, undefined);
  if (res.status !== 200 || res.bytes !== payloads.size) {
    throw new Error(
      `${target.side}: GET ${location} → ${res.status} with ${res.bytes} bytes (expected ${payloads.size}): ` +
        `${res.body?.toString()}`,
    );
  }
}

/** `GET /healthCheck` on both sides: opens a keep-alive connection without writing a blob. */
async function health(target: Target, agent: http.Agent): Promise<void> {
  const res = await request(agent, target.url, 'GET', '/healthCheck', undefined);
  if (res.status !== 200)
    throw new Error(`${target.side}: GET /healthCheck → ${res.status}: ${res.body?.toString()}`);
}

/** Reads back the first blob of a size and compares its bytes with what was sent. */
async function verify(target: Target, payloads: Payloads): Promise<void> {
  const agent = new http.Agent({ keepAlive: false });
  try {
    const first = target.stored.get(payloads.label)![0]!;
    const res = await request(agent, target.url, 'GET', first.location, undefined, true);
    if (res.status !== 200 || !res.body!.equals(payloads.buffers[first.payload]!)) {
      throw new Error(`${target.side}: GET ${first.location} did not return the bytes PUT (${res.status})`);
    }
  } finally {
    agent.destroy();
  }
}

// ---------------------------------------------------------------- measurement

interface CaseResult {
  ops: number;
  seconds: number;
  opsPerSecond: number;
  mibPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** The run stopped at the op cap before the time was up. */
  capped: boolean;
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/**
 * `concurrency` loops of `op` over one keep-alive agent until `seconds` elapse or `maxOps` have started,
 * after one unmeasured `warm` request per connection (so connection setup is not measured).
 */
async function measure(
  concurrency: number,
  seconds: number,
  maxOps: number,
  size: number,
  warm: (agent: http.Agent) => Promise<void>,
  op: (agent: http.Agent, index: number) => Promise<void>,
): Promise<CaseResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  try {
    await Promise.all(Array.from({ length: concurrency }, () => warm(agent)));
    let index = 0;
    const latencies: number[] = [];
    let started = 0;
    const begin = performance.now();
    const deadline = begin + seconds * 1000;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (started < maxOps && performance.now() < deadline) {
          started += 1;
          const t0 = performance.now();
          await op(agent, index++);
          latencies.push(performance.now() - t0);
        }
      }),
    );
    const elapsed = (performance.now() - begin) / 1000;
    const sorted = Float64Array.from(latencies).sort();
    return {
      ops: latencies.length,
      seconds: elapsed,
      opsPerSecond: latencies.length / elapsed,
      mibPerSecond: (latencies.length * size) / MiB / elapsed,
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
      capped: started >= maxOps,
    };
  } finally {
    agent.destroy();
  }
}

interface Options {
  seconds: number;
  sizes: string[];
  concurrency: number[];
  maxOps: number;
  putMiB: number;
}

function putCap(size: number, concurrency: number, options: Options): number {
  return Math.min(options.maxOps, Math.max(2 * concurrency, Math.floor((options.putMiB * MiB) / size)));
}

/** Unrecorded 4 KiB PUTs and GETs on both sides, so neither meets the first case with cold code. */
async function warmUp(targets: readonly Target[]): Promise<void> {
  const payloads: Payloads = { label: 'warm-up', size: 4 * KiB, buffers: [randomBytes(4 * KiB)] };
  for (const target of targets) {
    note(`warm-up ${target.side}: ${WARM_UP_SECONDS} s of 4 KiB PUTs, then of GETs`);
    const warm = (agent: http.Agent) => health(target, agent);
    await measure(4, WARM_UP_SECONDS, 1_000, payloads.size, warm, (agent, i) =>
      put(target, agent, payloads, i),
    );
    await measure(4, WARM_UP_SECONDS, 10_000, payloads.size, warm, (agent) => get(target, agent, payloads));
    target.stored.delete(payloads.label);
    target.putBytes = 0;
  }
}

async function runCases(ours: Target, baseline: Target, options: Options) {
  const results: Record<string, number> = {};
  const table: TableRow[] = [];
  const capped: string[] = [];
  for (const label of options.sizes) {
    const size = SIZES[label]!;
    const payloads: Payloads = {
      label,
      size,
      buffers: Array.from({ length: PAYLOADS_PER_SIZE }, () => randomBytes(size)),
    };
    for (const op of ['put', 'get'] as Op[]) {
      for (const concurrency of options.concurrency) {
        const name = `${op}_${label}_c${concurrency}`;
        const maxOps = op === 'put' ? putCap(size, concurrency, options) : options.maxOps;
        const bySide = {} as Record<Side, CaseResult>;
        for (const target of [ours, baseline]) {
          note(`${name} ${target.side}: ${options.seconds} s or ${maxOps.toLocaleString('en-US')} requests`);
          const m = await measure(
            concurrency,
            options.seconds,
            maxOps,
            size,
            (agent) => health(target, agent),
            (agent, index) =>
              op === 'put' ? put(target, agent, payloads, index) : get(target, agent, payloads),
          );
          bySide[target.side] = m;
          if (m.capped) {
            capped.push(`${name} ${target.side}`);
            note(`  capped at ${m.ops} requests after ${m.seconds.toFixed(2)} s`);
          }
          const prefix = target.side === 'ours' ? name : `${name}_baseline`;
          results[`${prefix}_ops`] = m.opsPerSecond;
          results[`${prefix}_mbps`] = m.mibPerSecond;
          results[`${prefix}_p50_ms`] = m.p50Ms;
          results[`${prefix}_p99_ms`] = m.p99Ms;
          results[`${prefix}_count`] = m.ops;
        }
        results[`${name}_ratio`] = bySide.ours.opsPerSecond / bySide.baseline.opsPerSecond;
        table.push({ name, ours: bySide.ours, baseline: bySide.baseline });
      }
      if (op === 'put') {
        await verify(ours, payloads);
        await verify(baseline, payloads);
      }
    }
  }
  return { results, table, capped };
}

// ---------------------------------------------------------------- run

/** On a failed case: the warnings and errors at the end of each cluster process's log, to stderr. */
async function logTails(logDir: string): Promise<void> {
  for (const name of await readdir(logDir).catch(() => [] as string[])) {
    const lines = (await readFile(path.join(logDir, name), 'utf8')).split('\n');
    const notable = lines.filter((line) => /"level":(4|5|6)0|Error/.test(line)).slice(-10);
    if (notable.length > 0) note(`${name}, last warnings and errors:\n${notable.join('\n')}`);
  }
}

async function runBench(options: Options) {
  const root = await mkdtemp(path.join(os.tmpdir(), 'http-bench-'));
  const procs: Proc[] = [];
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      // In reverse order of start; the cluster stops its frontend, then its data nodes.
      for (const proc of [...procs].reverse()) {
        const code = await stopProcess(proc).catch((error: unknown) => {
          note(`stopping ${proc.name}: ${String(error)}`);
          return null;
        });
        if (code !== 0) note(`${proc.name} exited with ${code} on SIGTERM:\n${proc.output().slice(-4000)}`);
      }
      // Every process the cluster started must be gone; any left over is killed by its pid.
      for (const proc of procs) {
        for (const match of proc.output().matchAll(/processes: (.*)/g)) {
          for (const pid of [...match[1]!.matchAll(/=(\d+)/g)].map((m) => Number(m[1]))) {
            if (isAlive(pid)) {
              note(`pid ${pid} of ${proc.name} still running: SIGKILL`);
              process.kill(pid, 'SIGKILL');
            }
          }
        }
      }
      await rm(root, { recursive: true, force: true });
    })());
  const onSignal = (signal: NodeJS.Signals) => {
    note(`${signal}: stopping`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const dataDir = path.join(root, 'cluster');
    const baselineDir = path.join(root, 'baseline');
    await mkdir(baselineDir);
    const { base, frontend } = await freeClusterPorts();
    const command = await clusterCommand();
    note(`starting the local cluster (from ${command.from}) in ${dataDir}`);
    const startedAt = performance.now();
    const cluster = startProcess('local cluster', [
      ...command.args,
      '--data-dir',
      dataDir,
      '--port',
      String(frontend),
      '--datanode-base-port',
      String(base),
    ]);
    procs.push(cluster);
    await waitForOutput(cluster, /is up/, START_TIMEOUT_MS);
    const oursUrl = (await waitForOutput(cluster, /frontend \(dc1\): (\S+)/, START_TIMEOUT_MS))[1]!;
    const clusterStartSeconds = (performance.now() - startedAt) / 1000;
    note(`cluster up at ${oursUrl} in ${clusterStartSeconds.toFixed(1)} s`);

    const server = startProcess('baseline server', [
      '--import',
      'tsx',
      BASELINE_SERVER,
      '--dir',
      baselineDir,
    ]);
    procs.push(server);
    const baselineUrl = JSON.parse((await waitForOutput(server, /^\{.*\}$/m, 30_000))[0]).url as string;
    note(`baseline up at ${baselineUrl}`);

    const ours: Target = { side: 'ours', url: new URL(oursUrl), stored: new Map(), putBytes: 0 };
    const baseline: Target = { side: 'baseline', url: new URL(baselineUrl), stored: new Map(), putBytes: 0 };
    const loadBefore = os.loadavg()[0]!;
    const benchStarted = performance.now();
    await warmUp([ours, baseline]);
    const { results, table, capped } = await runCases(ours, baseline, options).catch(
      async (error: unknown) => {
        await logTails(path.join(dataDir, 'logs'));
        throw error;
      },
    );
    const benchSeconds = (performance.now() - benchStarted) / 1000;
    const loadAfter = os.loadavg()[0]!;
    note('stopping the cluster (SIGTERM) and the baseline server');
    await cleanup();
    for (const proc of procs) {
      if ((await proc.exited) !== 0) throw new Error(`${proc.name} did not exit cleanly on SIGTERM`);
    }
    const report = {
      benchmark: '@ambry/local-cluster http',
      node_version: process.version,
      cpus: os.cpus().length,
      // Anything else running on the machine skews both sides; these say how busy it was.
      loadavg_1m_before: loadBefore,
      loadavg_1m_after: loadAfter,
      cluster_from: command.from,
      cluster: '1 datacenter × 3 data nodes × 2 disks, 32 partitions × 3 replicas, group-commit fsync',
      baseline: 'node:http child process, one file per blob + fdatasync, same temp dir',
      client: 'node:http keep-alive Agent, maxSockets = concurrency, in the bench process',
      seconds_per_case: options.seconds,
      max_ops_per_case: options.maxOps,
      put_mib_per_case: options.putMiB,
      sizes: options.sizes.join(','),
      concurrency: options.concurrency.join(','),
      cluster_start_seconds: clusterStartSeconds,
      bench_seconds: benchSeconds,
      put_mib_ours: ours.putBytes / MiB,
      put_mib_baseline: baseline.putBytes / MiB,
      capped_cases: capped,
      ...results,
    };
    return { report, table };
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await cleanup();
  }
}

// ---------------------------------------------------------------- output

interface TableRow {
  name: string;
  ours: CaseResult;
  baseline: CaseResult;
}

function fmt(value: number, digits = 1): string {
  if (!Number.isFinite(value)) return '-';
  return value >= 1000 ? Math.round(value).toLocaleString('en-US') : value.toFixed(value >= 100 ? 0 : digits);
}

function printTable(report: Record<string, unknown>, rows: readonly TableRow[]): void {
  const header = [
    'case',
    'ops/s',
    'MiB/s',
    'p50 ms',
    'p99 ms',
    'n',
    'base ops/s',
    'base MiB/s',
    'base p50',
    'base p99',
    'base n',
    'ratio',
  ];
  const cells = rows.map(({ name, ours, baseline }) => [
    name,
    fmt(ours.opsPerSecond),
    fmt(ours.mibPerSecond),
    fmt(ours.p50Ms, 2),
    fmt(ours.p99Ms, 2),
    `${ours.ops}${ours.capped ? '*' : ''}`,
    fmt(baseline.opsPerSecond),
    fmt(baseline.mibPerSecond),
    fmt(baseline.p50Ms, 2),
    fmt(baseline.p99Ms, 2),
    `${baseline.ops}${baseline.capped ? '*' : ''}`,
    (ours.opsPerSecond / baseline.opsPerSecond).toFixed(3),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]!.length)));
  const line = (row: readonly string[]) =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  for (const key of [
    'node_version',
    'cpus',
    'loadavg_1m_before',
    'loadavg_1m_after',
    'cluster_from',
    'cluster',
    'baseline',
    'client',
    'seconds_per_case',
  ]) {
    console.log(`${key}: ${String(report[key])}`);
  }
  console.log(
    `PUT bodies: ${fmt(report.put_mib_ours as number)} MiB to ours (×3 replicas on disk), ` +
      `${fmt(report.put_mib_baseline as number)} MiB to the baseline`,
  );
  console.log('');
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const row of cells) console.log(line(row));
  console.log('');
  console.log(
    'ratio = ours ÷ baseline ops/s; MiB/s in 2^20 bytes; n = requests measured, * = stopped at the cap',
  );
}

// ---------------------------------------------------------------- main

function integer(raw: string, name: string, min: number, max: number): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`--${name} must be an integer in [${min}, ${max}]`);
  }
  return value;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    // pnpm forwards a literal `--` when called as `pnpm bench -- --json`.
    args: process.argv.slice(2).filter((arg) => arg !== '--'),
    options: {
      json: { type: 'boolean', default: false },
      seconds: { type: 'string', default: '3' },
      sizes: { type: 'string', default: Object.keys(SIZES).join(',') },
      concurrency: { type: 'string', default: '1,16' },
      'max-ops': { type: 'string', default: '50000' },
      'put-mib': { type: 'string', default: '128' },
    },
  });
  const seconds = Number(values.seconds);
  if (!(seconds > 0 && seconds <= 60)) throw new Error('--seconds must be in (0, 60]');
  const sizes = values.sizes.split(',').map((s) => s.trim().toLowerCase());
  for (const size of sizes) {
    if (!(size in SIZES))
      throw new Error(`--sizes: unknown size ${size} (one of ${Object.keys(SIZES).join(',')})`);
  }
  const concurrency = values.concurrency.split(',').map((c) => integer(c.trim(), 'concurrency', 1, 256));
  const { report, table } = await runBench({
    seconds,
    sizes,
    concurrency,
    maxOps: integer(values['max-ops'], 'max-ops', 1, 10_000_000),
    putMiB: integer(values['put-mib'], 'put-mib', 1, 64 * 1024),
  });
  if (values.json) console.log(JSON.stringify(report, null, 2));
  else printTable(report, table);
}

await main();
