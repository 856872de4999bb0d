/**
 * A cluster of REAL datanode processes for router, frontend, replication and fault tests and benches:
 * a static cluster map in a temp dir, every node on its own free port of 127.0.0.1, each process started
 * from the datanode's sources with tsx (a path, not an import: nothing imports an app) and stopped by pid.
 * Shared by the packages' tests; not published.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type GeneratedLayout, generateLayout, StaticClusterMap, writeLayoutFiles } from '@ambry/clustermap';
import { freePort } from './redis-server.js';

const DATANODE_MAIN = fileURLToPath(new URL('../apps/datanode/src/main.ts', import.meta.url));
const MiB = 1024 * 1024;
/** Captured stderr per node: enough for a start failure's stack, bounded for long benches. */
const STDERR_LIMIT = 64 * 1024;
/** A node that is not healthy by then is reported as a failed start (tsx compiles on first run). */
const START_TIMEOUT_MS = 30_000;
const STOP_KILL_AFTER_MS = 10_000;

export interface DatanodeClusterOptions {
  /** Default ['dc1']. */
  datacenters?: readonly string[];
  /** Default 3. */
  nodesPerDc?: number;
  /** Default 2. */
  disksPerNode?: number;
  /** Default 8. */
  partitions?: number;
  /** Default 3. */
  replicasPerDc?: number;
  /** Default 256 MiB. */
  replicaCapacityBytes?: number;
  /** The datanode's `segmentBytes`; default 16 MiB. */
  segmentBytes?: number;
  /** Extra keys merged into every datanode's config file. */
  datanodeConfig?: Record<string, unknown>;
  /** Extra environment for every datanode process. */
  env?: NodeJS.ProcessEnv;
  /** Arguments for node itself, before the script (a bench passes `--cpu-prof`). */
  nodeArgs?: readonly string[];
  /** Default: a fresh mkdtemp under os.tmpdir(), removed by destroy(). */
  root?: string;
}

export interface DatanodeInfo {
  /** `host:port`, the node's key in the cluster map. */
  readonly key: string;
  readonly host: string;
  readonly port: number;
  readonly adminPort: number;
  readonly datacenter: string;
  readonly configFile: string;
}

interface Running {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  done: boolean;
}

export class DatanodeCluster {
  readonly #running = new Map<number, Running>();
  readonly #stderr = new Map<number, string>();

  private constructor(
    readonly root: string,
    readonly mapDir: string,
    readonly nodes: readonly DatanodeInfo[],
    private readonly env: NodeJS.ProcessEnv,
    private readonly ownsRoot: boolean,
    private readonly datacenters: readonly string[],
    private readonly layout?: GeneratedLayout,
    private readonly nodeArgs: readonly string[] = [],
  ) {}

  /** Writes the map and one config file per node; starts nothing. */
  static async create(options: DatanodeClusterOptions = {}): Promise<DatanodeCluster> {
    const datacenters = options.datacenters ?? ['dc1'];
    const ownsRoot = options.root === undefined;
    const root = options.root ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'ambry-cluster-')));
    await fs.mkdir(root, { recursive: true });
    const mapDir = path.join(root, 'map');
    const generated = generateLayout({
      datacenters,
      nodesPerDc: options.nodesPerDc ?? 3,
      disksPerNode: options.disksPerNode ?? 2,
      partitions: options.partitions ?? 8,
      replicasPerDc: options.replicasPerDc ?? 3,
      replicaCapacityBytes: options.replicaCapacityBytes ?? 256 * MiB,
      diskCapacityBytes: 64 * 1024 * MiB,
      mountPathPrefix: path.join(root, 'disks'),
    });
    // The generator numbers ports from basePort; any of those may be taken on a shared machine, so
    // every node gets ports picked free one by one (mount paths keep the generated numbers: they are
    // only names).
    const layout = await withFreePorts(generated);
    await writeLayoutFiles(mapDir, layout);
    const nodes: DatanodeInfo[] = [];
    for (const dc of layout.hardware.datacenters) {
      for (const node of dc.nodes) {
        const key = `${node.host}:${node.port}`;
        const configFile = path.join(root, `datanode-${node.port}.json`);
        const config = {
          node: key,
          adminPort: node.adminPort,
          clusterMapDir: mapDir,
          segmentBytes: options.segmentBytes ?? 16 * MiB,
          logLevel: 'warn',
          ...options.datanodeConfig,
        };
        await fs.writeFile(configFile, JSON.stringify(config, null, 2));
        nodes.push({
          key,
          host: node.host,
          port: node.port,
          adminPort: node.adminPort,
          datacenter: dc.name,
          configFile,
        });
      }
    }
    return new DatanodeCluster(
      root,
      mapDir,
      nodes,
      options.env ?? {},
      ownsRoot,
      datacenters,
      layout,
      options.nodeArgs,
    );
  }

  /** Starts every node in parallel and waits until each answers /health with 200. */
  async start(): Promise<void> {
    const results = await Promise.allSettled(this.nodes.map((_, index) => this.startNode(index)));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length > 0) throw failed[0]!.reason;
  }

  async startNode(index: number): Promise<void> {
    const node = this.#node(index);
    if (this.isRunning(index)) throw new Error(`datanode ${node.key} is already running`);
    this.#stderr.set(index, '');
    const args = [...this.nodeArgs, '--import', 'tsx', DATANODE_MAIN, '--config', node.configFile];
    const child = spawn(process.execPath, args, {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const running: Running = {
      child,
      done: false,
      exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    };
    void running.exited.then(() => {
      running.done = true;
    });
    this.#running.set(index, running);
    child.stderr!.on('data', (chunk: Buffer) => {
      const text = (this.#stderr.get(index) ?? '') + chunk.toString();
      this.#stderr.set(index, text.length > STDERR_LIMIT ? text.slice(-STDERR_LIMIT) : text);
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (running.done) {
        throw new Error(`datanode ${node.key} exited during start:\n${this.stderr(index)}`);
      }
      if (await healthy(node.adminPort)) return;
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        await running.exited;
        throw new Error(
          `datanode ${node.key} not healthy after ${START_TIMEOUT_MS} ms:\n${this.stderr(index)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Sends `signal` (default SIGTERM) and waits for the exit; the exit code, null when killed. */
  async stopNode(index: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    this.#node(index);
    const running = this.#running.get(index);
    if (!running) return null;
    if (!running.done && running.child.pid !== undefined) process.kill(running.child.pid, signal);
    const code = await running.exited;
    this.#running.delete(index);
    return code;
  }

  isRunning(index: number): boolean {
    const running = this.#running.get(index);
    return running !== undefined && !running.done;
  }

  /** The last 64 KiB of the node's stderr (of its latest start). */
  stderr(index: number): string {
    return this.#stderr.get(index) ?? '';
  }

  pid(index: number): number | undefined {
    return this.isRunning(index) ? this.#running.get(index)!.child.pid : undefined;
  }

  /**
   * The partitions node `index` hosts, each with the directory of its replica's store (the datanode
   * keeps a replica in `<disk mount path>/partition-<id>`): for tests that wipe or inspect one.
   */
  replicaDirs(index: number): Map<number, string> {
    const node = this.#node(index);
    const dirs = new Map<number, string>();
    for (const partition of this.layout?.partitions.partitions ?? []) {
      for (const replica of partition.replicas) {
        if (replica.host === node.host && replica.port === node.port) {
          dirs.set(partition.id, path.join(replica.mountPath, `partition-${partition.id}`));
        }
      }
    }
    return dirs;
  }

  /** The map as the router would load it; local datacenter by default the first one. */
  loadClusterMap(localDatacenter?: string): Promise<StaticClusterMap> {
    return StaticClusterMap.load(this.mapDir, { localDatacenter: localDatacenter ?? this.datacenters[0]! });
  }

  /** SIGTERM to every running node, SIGKILL to those still running after 10 s; waits for every exit. */
  async stop(): Promise<void> {
    await Promise.all(
      [...this.#running.keys()].map(async (index) => {
        const running = this.#running.get(index)!;
        const timer = setTimeout(() => {
          if (!running.done && running.child.pid !== undefined) process.kill(running.child.pid, 'SIGKILL');
        }, STOP_KILL_AFTER_MS);
        try {
          await this.stopNode(index, 'SIGTERM');
        } finally {
          clearTimeout(timer);
        }
      }),
    );
  }

  /** stop(), then removes the root directory when create() made it. */
  async destroy(): Promise<void> {
    await this.stop();
    if (this.ownsRoot) await fs.rm(this.root, { recursive: true, force: true });
  }

  #node(index: number): DatanodeInfo {
    const node = this.nodes[index];
    if (!node) throw new Error(`no datanode ${index} (the cluster has ${this.nodes.length})`);
    return node;
  }
}

async function healthy(adminPort: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${adminPort}/health`, {
      signal: AbortSignal.timeout(2000),
    });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

/** The layout with every node's port and admin port (and every replica's port) replaced by free ones. */
async function withFreePorts(layout: GeneratedLayout): Promise<GeneratedLayout> {
  const ports = new Map<number, number>();
  const taken = new Set<number>();
  // freePort closes its probe socket before returning, so the same port could come back twice.
  const fresh = async () => {
    for (let i = 0; i < 100; i++) {
      const port = await freePort();
      if (!taken.has(port)) {
        taken.add(port);
        return port;
      }
    }
    throw new Error('no distinct free port found in 100 tries');
  };
  const datacenters = [];
  for (const dc of layout.hardware.datacenters) {
    const nodes = [];
    for (const node of dc.nodes) {
      const port = await fresh();
      ports.set(node.port, port);
      nodes.push({ ...node, port, adminPort: await fresh() });
    }
    datacenters.push({ ...dc, nodes });
  }
  const portOf = (old: number) => {
    const port = ports.get(old);
    if (port === undefined) throw new Error(`replica on unknown node port ${old}`);
    return port;
  };
  return {
    hardware: { ...layout.hardware, datacenters },
    partitions: {
      ...layout.partitions,
      partitions: layout.partitions.partitions.map((p) => ({
        ...p,
        replicas: p.replicas.map((r) => ({ ...r, port: portOf(r.port) })),
      })),
    },
  };
}
