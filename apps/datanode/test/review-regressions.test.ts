import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadLayout, StaticClusterMap } from '@ambry/clustermap';
import { BlobId, ErrorCode, ServerError, silentLogger } from '@ambry/protocol';
import { afterEach, expect, it } from 'vitest';
import { ReplicaSet } from '../src/replica-set.js';
import { type ClusterDir, makeCluster, waitFor } from './harness.js';

/** Regressions found by reviewing src/: each failed before its fix. */

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

let cluster: ClusterDir | undefined;
let replicas: ReplicaSet | undefined;
let child: ChildProcess | undefined;
let socket: Socket | undefined;

afterEach(async () => {
  socket?.destroy();
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
  await replicas?.closeAll();
  if (cluster) await fs.rm(cluster.root, { recursive: true, force: true });
  cluster = undefined;
  replicas = undefined;
  child = undefined;
  socket = undefined;
});

/** A ReplicaSet over a one-node static map in a temp dir, as DataNode.start builds it. */
async function replicaSet(options: { disks?: number; partitions?: number } = {}) {
  cluster = await makeCluster(options);
  const layout = await loadLayout(cluster.mapDir);
  const map = new StaticClusterMap(layout, { localDatacenter: 'dc1' });
  const node = map.node(cluster.nodeKey)!;
  const failed: string[] = [];
  const set = new ReplicaSet({
    node,
    replicas: map.replicasOnNode(node.key),
    storeConfig: { segmentBytes: 16 * 1024 * 1024 },
    diskErrorThreshold: 1,
    faultInjection: false,
    logger: silentLogger,
    onDiskFailed: (mountPath) => failed.push(mountPath),
    knownPartition: (id) => map.partition(id) !== undefined,
    replicaCapacity: (id) => map.partition(id)?.replicaCapacityBytes ?? 0,
  });
  replicas = set;
  return { set, failed, cluster };
}

function codeOf(work: () => unknown): ErrorCode | undefined {
  try {
    work();
    return undefined;
  } catch (error) {
    return error instanceof ServerError ? error.code : undefined;
  }
}

it('a request that outlives shutdown and hits a closed store does not mark its disk failed', async () => {
  const { set, failed, cluster } = await replicaSet();
  await set.openAll();
  const partitionId = [...cluster.partitions.keys()][0]!;
  // What a handler holds when RpcServer's shutdown timeout destroys its connection but not its work.
  const { replica, store } = set.storeFor(partitionId);
  await set.closeAll();
  const id = BlobId.generate({ partitionId, datacenterId: 0, accountId: 1, containerId: 1 });
  const error = await store.get(id).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect((error as { code?: unknown }).code).toBe(ErrorCode.REPLICA_UNAVAILABLE);
  set.reportStoreError(replica, error as never);
  // A graceful stop must not report a healthy disk as failed (in Redis mode that outlives the process).
  expect(set.disksFailed).toEqual([]);
  expect(failed).toEqual([]);
});

it('a replica that fails to open for a reason other than its disk answers REPLICA_UNAVAILABLE', async () => {
  const { set, cluster } = await replicaSet({ disks: 1, partitions: 2 });
  const [broken, fine] = [...cluster.partitions.keys()] as [number, number];
  // Log files without a descriptor: the store refuses to open it as DATA_CORRUPT; the disk is fine.
  const dir = path.join(cluster.partitions.get(broken)!, `partition-${broken}`);
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, '0.log'), 'stray');
  await set.openAll();
  expect(set.disksFailed).toEqual([]);
  expect(set.all().find((r) => r.partitionId === broken)!.state).toBe('failed');
  expect(codeOf(() => set.storeFor(broken))).toBe(ErrorCode.REPLICA_UNAVAILABLE);
  expect(codeOf(() => set.storeFor(fine))).toBeUndefined();
});

it('a second SIGTERM during a graceful shutdown does not kill the process: it still exits 0', async () => {
  cluster = await makeCluster({ config: { logLevel: 'info', shutdownTimeoutMs: 60_000 } });
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, '--config', cluster.configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = proc;
  let stdout = '';
  proc.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  proc.stderr!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const c = cluster;
  await waitFor(async () => {
    const response = await fetch(`http://127.0.0.1:${c.adminPort}/health`);
    return response.status === 200;
  }, 'datanode /health');

  // A client that never half-closes keeps the shutdown waiting (up to shutdownTimeoutMs) for it.
  const open = connect({ host: '127.0.0.1', port: c.port, allowHalfOpen: true });
  socket = open;
  open.on('error', () => {});
  let ended = false;
  open.on('end', () => {
    ended = true;
  });
  open.resume();
  await new Promise<void>((resolve) => open.once('connect', () => resolve()));
  await waitFor(async () => {
    const text = await (await fetch(`http://127.0.0.1:${c.adminPort}/metrics`)).text();
    return /^ambry_datanode_open_connections 1$/m.test(text);
  }, 'the connection to be accepted');

  proc.kill('SIGTERM');
  await waitFor(() => ended, 'the server to begin its shutdown');
  proc.kill('SIGTERM');
  // Unfixed, the second signal killed the process: the wait ends on the exit and the check below fails.
  await waitFor(
    () =>
      stdout.includes('shutdown already in progress') || proc.exitCode !== null || proc.signalCode !== null,
    'the second signal to be handled',
  );
  open.end();
  expect(await exited).toEqual({ code: 0, signal: null });
});
