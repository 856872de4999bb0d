import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateLayout, writeLayoutFiles } from '@ambry/clustermap';
import { DataNodeClient, type Endpoint } from '@ambry/protocol';
import type { DataNodeConfigInput } from '../src/config.js';

/**
 * Real datanode processes for tests: a one-node static cluster map in a temp dir, free ports on
 * 127.0.0.1, the process started from source with tsx and stopped by pid.
 */

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export async function waitFor(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (
      await Promise.resolve()
        .then(check)
        .catch(() => false)
    )
      return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface ClusterDir {
  readonly root: string;
  readonly mapDir: string;
  readonly port: number;
  readonly adminPort: number;
  readonly nodeKey: string;
  readonly disks: readonly string[];
  /** Partition ids of the map, and which disk each lives on. */
  readonly partitions: ReadonlyMap<number, string>;
  /** Partition id → the directory of its replica's store. */
  readonly replicaDirs: ReadonlyMap<number, string>;
  readonly configFile: string;
}

/** A one-node map (`disks` disks, `partitions` partitions) and a config file for it. */
export async function makeCluster(
  options: {
    disks?: number;
    partitions?: number;
    replicaCapacityBytes?: number;
    diskCapacityBytes?: number;
    config?: Partial<DataNodeConfigInput>;
  } = {},
): Promise<ClusterDir> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ambry-datanode-'));
  const port = await freePort();
  const adminPort = await freePort();
  const mapDir = path.join(root, 'map');
  const layout = generateLayout({
    datacenters: ['dc1'],
    nodesPerDc: 1,
    disksPerNode: options.disks ?? 2,
    partitions: options.partitions ?? 4,
    replicasPerDc: 1,
    basePort: port,
    replicaCapacityBytes: options.replicaCapacityBytes ?? 64 * 1024 * 1024,
    diskCapacityBytes: options.diskCapacityBytes ?? 1024 * 1024 * 1024,
    mountPathPrefix: path.join(root, 'disks'),
  });
  await writeLayoutFiles(mapDir, layout);
  const nodeKey = `127.0.0.1:${port}`;
  const disks = layout.hardware.datacenters[0]!.nodes[0]!.disks.map((d) => d.mountPath);
  const partitions = new Map<number, string>();
  const replicaDirs = new Map<number, string>();
  for (const p of layout.partitions.partitions) {
    partitions.set(p.id, p.replicas[0]!.mountPath);
    replicaDirs.set(p.id, path.join(p.replicas[0]!.mountPath, `partition-${p.id}`));
  }
  const configFile = path.join(root, 'datanode.json');
  const config: DataNodeConfigInput = {
    node: nodeKey,
    adminPort,
    clusterMapDir: mapDir,
    segmentBytes: 16 * 1024 * 1024,
    logLevel: 'warn',
    ...options.config,
  };
  await fs.writeFile(configFile, JSON.stringify(config, null, 2));
  return { root, mapDir, port, adminPort, nodeKey, disks, partitions, replicaDirs, configFile };
}

export interface RunningNode {
  readonly child: ChildProcess;
  readonly client: DataNodeClient;
  readonly endpoint: Endpoint;
  stderr(): string;
  /** Sends the signal and waits for the exit; resolves with the exit code (null when killed). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts the datanode on `cluster` and waits until /health says ready. `nodeArgs` go to node itself
 * (the bench passes `--cpu-prof`).
 */
export async function startNode(
  cluster: ClusterDir,
  env: NodeJS.ProcessEnv = {},
  nodeArgs: readonly string[] = [],
): Promise<RunningNode> {
  const child = spawn(
    process.execPath,
    [...nodeArgs, '--import', 'tsx', MAIN, '--config', cluster.configFile],
    {
      env: { ...process.env, ...env },
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
  // waitFor treats a throwing check as "not yet", so an early exit is checked for outside of it.
  await waitFor(async () => {
    if (done) return true;
    const response = await fetch(`http://127.0.0.1:${cluster.adminPort}/health`);
    return response.status === 200;
  }, 'datanode /health').catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
  if (done) throw new Error(`datanode exited during start:\n${stderr}`);
  const client = new DataNodeClient({ clientId: 'datanode-test' });
  return {
    child,
    client,
    endpoint: { host: '127.0.0.1', port: cluster.port },
    stderr: () => stderr,
    stop: async (signal = 'SIGTERM') => {
      await client.close().catch(() => {});
      if (!done) child.kill(signal);
      return exited;
    },
  };
}
