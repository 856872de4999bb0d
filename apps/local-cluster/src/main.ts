#!/usr/bin/env node
/**
 * `pnpm start` at the repository root: the local cluster. Creates it under the data directory on the
 * first run (cluster-files.ts), starts the data nodes and then one frontend per datacenter as child
 * processes on 127.0.0.1, waits until each is healthy, prints where to reach it, and stops every child
 * on Ctrl-C / SIGTERM. A later run starts the same cluster with its data.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import {
  type ClusterFiles,
  DEFAULT_DATANODE_BASE_PORT,
  DEFAULT_FRONTEND_PORT,
  LocalClusterError,
  type ProcessFiles,
  prepareCluster,
} from './cluster-files.js';
import { Child } from './supervisor.js';

const KILL_AFTER_MS = 15_000;

function integer(min: number, max: number) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer in ${min}..${max}`);
    }
    return n;
  };
}

const program = new Command()
  .name('ambry-local-cluster')
  .description(
    'Run a blob store on this machine: data nodes and a frontend, static cluster map, no other service',
  )
  .option(
    '--data-dir <dir>',
    'where the cluster lives (env AMBRY_DATA_DIR)',
    process.env.AMBRY_DATA_DIR ?? '.data',
  )
  .option('--datacenters <n>', 'datacenters of a new cluster, 3 data nodes each', integer(1, 4))
  .option(
    '--port <port>',
    `frontend port; dc2's frontend gets the next one (default ${DEFAULT_FRONTEND_PORT})`,
    integer(1, 65_535),
  )
  .option(
    '--datanode-base-port <port>',
    `first data-node port of a new cluster (default ${DEFAULT_DATANODE_BASE_PORT}; admin ports are +1000)`,
    integer(1, 64_000),
  )
  .option(
    '--startup-timeout-ms <ms>',
    'how long each process may take to become healthy',
    integer(1, 600_000),
    60_000,
  )
  .option('--from-source', 'run the apps from their TypeScript sources (tsx) instead of dist/')
  .parse();

interface Options {
  dataDir: string;
  datacenters?: number;
  port?: number;
  datanodeBasePort?: number;
  startupTimeoutMs: number;
  fromSource?: boolean;
}
const options = program.opts<Options>();

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
function entryPoint(app: 'datanode' | 'frontend'): string[] {
  const appDir = path.join(repoRoot, 'apps', app);
  return options.fromSource
    ? ['--import', 'tsx', path.join(appDir, 'src', 'main.ts')]
    : [path.join(appDir, 'dist', 'main.js')];
}

const children: Child[] = [];
let shuttingDown = false;

async function stopAll(): Promise<void> {
  // Until none runs: a child launched while the first round was stopping is caught by the next one.
  for (let round = 0; round < 3 && children.some((c) => c.running); round++) {
    const frontends = children.filter((c) => c.spec.name.startsWith('frontend'));
    const datanodes = children.filter((c) => !c.spec.name.startsWith('frontend'));
    // Frontends first, so no request is cut off by a data node going away under it.
    await Promise.all(frontends.map((c) => c.stop(KILL_AFTER_MS)));
    await Promise.all(datanodes.map((c) => c.stop(KILL_AFTER_MS)));
  }
}

function shutdown(signal: string, exitCode: number): void {
  if (shuttingDown) return;
  shuttingDown = true;
  console.log(`\n${signal}: stopping ${children.filter((c) => c.running).length} processes…`);
  stopAll().then(
    async () => {
      await releasePidFile();
      console.log('stopped');
      process.exit(exitCode);
    },
    (error: unknown) => {
      console.error(`stop failed: ${String(error)}`);
      process.exit(1);
    },
  );
}

function launch(files: ProcessFiles, app: 'datanode' | 'frontend'): Child {
  if (shuttingDown) throw new LocalClusterError('stopping: not starting anything more');
  const child = new Child({
    name: files.name,
    nodeArgs: [...entryPoint(app), '--config', files.configFile],
    cwd: repoRoot,
    logFile: files.logFile,
    healthUrl: files.healthUrl,
  });
  children.push(child);
  void child.exited.then(async (code) => {
    if (shuttingDown || child.stopping) return;
    console.error(
      `${files.name} (pid ${child.pid}) exited unexpectedly with code ${code}\n${await child.logTail()}`,
    );
    // Without its frontend the cluster serves nobody; a lost data node is what replicas are for.
    if (app === 'frontend') shutdown('frontend exited', 1);
  });
  return child;
}

/**
 * `<data dir>/pids.json`: this process and its children. A second local cluster on the same data
 * directory is refused while the first one lives (its ports and files are taken).
 */
let pidFile: string | undefined;

async function claimPidFile(dataDir: string): Promise<void> {
  const file = path.join(dataDir, 'pids.json');
  const previous = await readFile(file, 'utf8').then(
    (text) => JSON.parse(text) as { supervisor?: number },
    () => undefined,
  );
  if (
    previous?.supervisor !== undefined &&
    previous.supervisor !== process.pid &&
    isAlive(previous.supervisor)
  ) {
    throw new LocalClusterError(
      `a local cluster (pid ${previous.supervisor}) already runs on ${dataDir}: stop it first (kill ${previous.supervisor})`,
    );
  }
  pidFile = file;
  await writePidFile();
}

async function writePidFile(): Promise<void> {
  if (pidFile === undefined) return;
  const pids = Object.fromEntries(children.map((c) => [c.spec.name, c.pid]));
  await writeFile(pidFile, `${JSON.stringify({ supervisor: process.pid, children: pids }, null, 2)}\n`);
}

async function releasePidFile(): Promise<void> {
  if (pidFile !== undefined) await rm(pidFile, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, but someone else's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function banner(files: ClusterFiles): string {
  const { shape } = files;
  const [first] = files.frontends;
  const url = first?.url ?? '';
  return [
    `Ambry local cluster is up: ${shape.datacenters.length} datacenter(s) × ${shape.nodesPerDc} data nodes × ` +
      `${shape.disksPerNode} disks, ${shape.partitions} partitions × ${shape.replicasPerDc} replicas per datacenter`,
    `  data: ${files.dataDir}${files.created ? ' (new)' : ' (existing data)'}`,
    ...files.frontends.map((f) => `  frontend (${f.datacenter}): ${f.url}`),
    `  processes: ${children.map((c) => `${c.spec.name}=${c.pid}`).join(' ')}`,
    `  logs: ${path.join(files.dataDir, 'logs')}`,
    'Try it:',
    `  curl -i -X POST ${url}/ -H 'x-ambry-service-id: demo' -H 'x-ambry-content-type: text/plain' --data-binary 'hello, blob store'`,
    `  curl -i ${url}/<the id in the Location header>`,
    'Ctrl-C stops the cluster; the next start keeps its data.',
  ].join('\n');
}

process.on('SIGINT', () => shutdown('SIGINT', 0));
process.on('SIGTERM', () => shutdown('SIGTERM', 0));

try {
  const files = await prepareCluster({
    dataDir: options.dataDir,
    ...(options.datacenters === undefined ? {} : { datacenters: options.datacenters }),
    ...(options.port === undefined ? {} : { frontendPort: options.port }),
    ...(options.datanodeBasePort === undefined ? {} : { datanodeBasePort: options.datanodeBasePort }),
  });
  await claimPidFile(files.dataDir);
  console.log(
    `${files.created ? 'Created' : 'Starting'} the local cluster in ${files.dataDir}: ` +
      `${files.datanodes.length} data nodes, then ${files.frontends.length} frontend(s)…`,
  );
  const datanodes = files.datanodes.map((f) => launch(f, 'datanode'));
  await Promise.all(datanodes.map((c) => c.waitHealthy(options.startupTimeoutMs)));
  const frontends = files.frontends.map((f) => launch(f, 'frontend'));
  await Promise.all(frontends.map((c) => c.waitHealthy(options.startupTimeoutMs)));
  if (!shuttingDown) {
    await writePidFile();
    console.log(banner(files));
  }
} catch (error) {
  // While a signal's shutdown runs, a start cut short is expected: that shutdown reports and exits.
  if (!shuttingDown) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(
      error instanceof LocalClusterError ? message : `the local cluster did not start: ${message}`,
    );
    shuttingDown = true;
    await stopAll();
    await releasePidFile();
    process.exit(1);
  }
}
