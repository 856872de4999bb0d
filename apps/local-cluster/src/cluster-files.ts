/**
 * The files of a local cluster under one data directory:
 *
 *   cluster.json                the shape chosen on the first run (written last: its presence means complete)
 *   map/hardware.json, map/partitions.json   the static cluster map
 *   config/<name>.json          one config per process, rewritten on every start
 *   nodes/<port>/disk<k>/       the data nodes' disks (absolute paths in the map: keep the directory where it is)
 *   logs/<name>.log             each process's output
 *
 * The shape (datacenters, ports, segment size) is fixed by the first run, because the map names nodes by
 * `host:port` and stores refuse to reopen with another segment size. Only the frontend port may change.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateLayout, writeLayoutFiles } from '@ambry/clustermap';

export const SHAPE_VERSION = 1;
const HOST = '127.0.0.1';

export interface ClusterShape {
  readonly version: number;
  readonly datacenters: readonly string[];
  readonly nodesPerDc: number;
  readonly disksPerNode: number;
  readonly partitions: number;
  readonly replicasPerDc: number;
  readonly datanodeBasePort: number;
  readonly segmentBytes: number;
  readonly replicaCapacityBytes: number;
}

export const DEFAULT_SHAPE: Omit<ClusterShape, 'datacenters' | 'datanodeBasePort'> = {
  version: SHAPE_VERSION,
  nodesPerDc: 3,
  disksPerNode: 2,
  partitions: 32,
  replicasPerDc: 3,
  // Room to grow on a laptop without preallocating anything: capacity only drives seal thresholds.
  replicaCapacityBytes: 8 * 2 ** 30,
  segmentBytes: 256 * 2 ** 20,
};

export const DEFAULT_DATANODE_BASE_PORT = 6667;
export const DEFAULT_FRONTEND_PORT = 1174;
/** Datanode admin ports are the data ports plus this (the map generator's default). */
const ADMIN_PORT_OFFSET = 1000;

export interface ProcessFiles {
  readonly name: string;
  readonly datacenter: string;
  readonly configFile: string;
  readonly logFile: string;
  /** Where the process says it is ready: GET → 200. */
  readonly healthUrl: string;
}

export interface DatanodeFiles extends ProcessFiles {
  readonly port: number;
}

export interface FrontendFiles extends ProcessFiles {
  readonly url: string;
}

export interface ClusterFiles {
  readonly dataDir: string;
  readonly mapDir: string;
  readonly shape: ClusterShape;
  /** False when an existing cluster was found. */
  readonly created: boolean;
  readonly datanodes: readonly DatanodeFiles[];
  /** One per datacenter, on consecutive ports from the frontend port. */
  readonly frontends: readonly FrontendFiles[];
}

export interface PrepareOptions {
  readonly dataDir: string;
  /** Only for a new cluster; an existing one with another count is refused. */
  readonly datacenters?: number;
  readonly datanodeBasePort?: number;
  readonly frontendPort?: number;
}

export class LocalClusterError extends Error {
  override readonly name = 'LocalClusterError';
}

export async function prepareCluster(options: PrepareOptions): Promise<ClusterFiles> {
  const dataDir = path.resolve(options.dataDir);
  const mapDir = path.join(dataDir, 'map');
  const shapeFile = path.join(dataDir, 'cluster.json');
  let shape = await readShape(shapeFile);
  const created = shape === undefined;
  if (shape === undefined) {
    shape = {
      ...DEFAULT_SHAPE,
      datacenters: Array.from({ length: options.datacenters ?? 1 }, (_, i) => `dc${i + 1}`),
      datanodeBasePort: options.datanodeBasePort ?? DEFAULT_DATANODE_BASE_PORT,
    };
    await createCluster(dataDir, mapDir, shape);
    await writeFile(shapeFile, `${JSON.stringify(shape, null, 2)}\n`);
  } else {
    checkCompatible(shape, options, dataDir);
  }
  const frontendPort = options.frontendPort ?? DEFAULT_FRONTEND_PORT;
  const files = processFiles(dataDir, shape, frontendPort);
  await mkdir(path.join(dataDir, 'config'), { recursive: true });
  await mkdir(path.join(dataDir, 'logs'), { recursive: true });
  await Promise.all([
    ...files.datanodes.map((node) =>
      writeJson(node.configFile, {
        node: `${HOST}:${node.port}`,
        clusterMapDir: mapDir,
        segmentBytes: shape.segmentBytes,
        logLevel: 'info',
      }),
    ),
    ...files.frontends.map((frontend, i) =>
      writeJson(frontend.configFile, {
        host: HOST,
        port: frontendPort + i,
        clusterMapDir: mapDir,
        datacenter: frontend.datacenter,
        logLevel: 'info',
      }),
    ),
  ]);
  return { dataDir, mapDir, shape, created, ...files };
}

async function readShape(file: string): Promise<ClusterShape | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let shape: ClusterShape;
  try {
    shape = JSON.parse(text) as ClusterShape;
  } catch {
    throw new LocalClusterError(`${file} is not valid JSON: fix or delete it (deleting it keeps no data)`);
  }
  if (shape.version !== SHAPE_VERSION || !Array.isArray(shape.datacenters)) {
    throw new LocalClusterError(`${file} was written by another version (expected version ${SHAPE_VERSION})`);
  }
  return shape;
}

function checkCompatible(shape: ClusterShape, options: PrepareOptions, dataDir: string): void {
  if (options.datacenters !== undefined && options.datacenters !== shape.datacenters.length) {
    throw new LocalClusterError(
      `${dataDir} holds a cluster of ${shape.datacenters.length} datacenter(s), not ${options.datacenters}: ` +
        'drop the option, or use another data directory (--data-dir) for a new cluster',
    );
  }
  if (options.datanodeBasePort !== undefined && options.datanodeBasePort !== shape.datanodeBasePort) {
    throw new LocalClusterError(
      `${dataDir} holds a cluster whose data nodes use ports from ${shape.datanodeBasePort}, ` +
        `not ${options.datanodeBasePort}: the cluster map names nodes by port`,
    );
  }
}

async function createCluster(dataDir: string, mapDir: string, shape: ClusterShape): Promise<void> {
  const layout = generateLayout({
    datacenters: shape.datacenters,
    nodesPerDc: shape.nodesPerDc,
    disksPerNode: shape.disksPerNode,
    partitions: shape.partitions,
    replicasPerDc: shape.replicasPerDc,
    host: HOST,
    basePort: shape.datanodeBasePort,
    adminPortOffset: ADMIN_PORT_OFFSET,
    replicaCapacityBytes: shape.replicaCapacityBytes,
    mountPathPrefix: path.join(dataDir, 'nodes'),
  });
  await mkdir(mapDir, { recursive: true });
  await writeLayoutFiles(mapDir, layout);
}

function processFiles(dataDir: string, shape: ClusterShape, frontendPort: number) {
  const file = (dir: string, name: string, ext: string) => path.join(dataDir, dir, `${name}.${ext}`);
  const datanodes: DatanodeFiles[] = [];
  shape.datacenters.forEach((datacenter, dc) => {
    for (let n = 0; n < shape.nodesPerDc; n++) {
      const port = shape.datanodeBasePort + dc * shape.nodesPerDc + n;
      const name = `datanode-${datacenter}-${n + 1}`;
      datanodes.push({
        name,
        datacenter,
        port,
        configFile: file('config', name, 'json'),
        logFile: file('logs', name, 'log'),
        healthUrl: `http://${HOST}:${port + ADMIN_PORT_OFFSET}/health`,
      });
    }
  });
  const frontends: FrontendFiles[] = shape.datacenters.map((datacenter, i) => {
    const name = `frontend-${datacenter}`;
    const url = `http://${HOST}:${frontendPort + i}`;
    return {
      name,
      datacenter,
      url,
      configFile: file('config', name, 'json'),
      logFile: file('logs', name, 'log'),
      healthUrl: `${url}/healthCheck`,
    };
  });
  return { datanodes, frontends };
}

async function writeJson(file: string, value: unknown): Promise<void> {
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}
