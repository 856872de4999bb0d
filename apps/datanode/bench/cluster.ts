/**
 * The benchmark's datanode: a one-node, one-disk static map in a temp dir with free ports on 127.0.0.1
 * (test/harness.ts's approach, with replicas large enough for the bench's blobs), and the process
 * started from source with tsx, optionally under `--cpu-prof`, and stopped by pid.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateLayout, writeLayoutFiles } from '@ambry/clustermap';
import type { Endpoint } from '@ambry/protocol';
import type { DataNodeConfigInput } from '../src/config.js';
import { freePort, waitFor } from '../test/harness.js';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const GiB = 1024 * 1024 * 1024;

export interface BenchCluster {
  readonly root: string;
  readonly port: number;
  readonly adminPort: number;
  readonly configFile: string;
  /** Partition id → replica directory (the store the datanode opens for it). */
  readonly replicaDirs: ReadonlyMap<number, string>;
  readonly replicaCapacityBytes: number;
  readonly config: DataNodeConfigInput;
}

export async function makeBenchCluster(
  partitions: number,
  replicaCapacityBytes: number,
): Promise<BenchCluster> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ambry-datanode-bench-'));
  try {
    const port = await freePort();
    const adminPort = await freePort();
    const mapDir = path.join(root, 'map');
    const layout = generateLayout({
      datacenters: ['dc1'],
      nodesPerDc: 1,
      disksPerNode: 1,
      partitions,
      replicasPerDc: 1,
      basePort: port,
      replicaCapacityBytes,
      diskCapacityBytes: Math.max(replicaCapacityBytes * partitions, 4 * GiB),
      mountPathPrefix: path.join(root, 'disks'),
    });
    await writeLayoutFiles(mapDir, layout);
    const replicaDirs = new Map<number, string>();
    for (const p of layout.partitions.partitions) {
      replicaDirs.set(p.id, path.join(p.replicas[0]!.mountPath, `partition-${p.id}`));
    }
    const config: DataNodeConfigInput = {
      node: `127.0.0.1:${port}`,
      adminPort,
      clusterMapDir: mapDir,
      logLevel: 'warn',
    };
    const configFile = path.join(root, 'datanode.json');
    await fs.writeFile(configFile, JSON.stringify(config, null, 2));
    return { root, port, adminPort, configFile, replicaDirs, replicaCapacityBytes, config };
  } catch (error) {
    await fs.rm(root, { recursive: true, force: true });
    throw error;
  }
}

export interface BenchNode {
  readonly child: ChildProcess;
  readonly endpoint: Endpoint;
  stderr(): string;
  /** Sends the signal to the pid and waits for the exit; resolves with the exit code (null if killed). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts the datanode and waits for /health 200; `cpuProfDir` runs it under `--cpu-prof`. */
export async function startBenchNode(cluster: BenchCluster, cpuProfDir?: string): Promise<BenchNode> {
  const profile = cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', cpuProfDir];
  const child = spawn(
    process.execPath,
    [...profile, '--import', 'tsx', MAIN, '--config', cluster.configFile],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => {
    done = true;
  });
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (!done && child.pid !== undefined) process.kill(child.pid, signal);
    return exited;
  };
  try {
    // waitFor swallows errors thrown by the check, so an early exit ends the wait by returning true.
    await waitFor(async () => {
      if (done) return true;
      const response = await fetch(`http://127.0.0.1:${cluster.adminPort}/health`);
      return response.status === 200;
    }, 'datanode /health');
    if (done) throw new Error(`datanode exited during start:\n${stderr}`);
  } catch (error) {
    await stop('SIGKILL');
    throw error;
  }
  return { child, endpoint: { host: '127.0.0.1', port: cluster.port }, stderr: () => stderr, stop };
}
