/**
 * The fault matrix's cluster: three real datanodes (3 replicas of every partition, test fault injection
 * on), a TCP proxy in front of one of them, and a real frontend that reaches that node only through the
 * proxy. The frontend gets its own copy of the static cluster map in which the proxied node's port is
 * the proxy's; the datanodes keep the original map, so replication between them stays direct. A node's
 * key is `host:port`, and the frontend uses it only to connect, so the renamed node is the same node
 * to everything it does.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { HARDWARE_FILE, type HardwareFile, PARTITIONS_FILE, type PartitionsFile } from '@ambry/clustermap';
import { DatanodeCluster } from '../../../test-support/datanode-cluster.js';
import { type FrontendProcess, startFrontendProcess } from '../../../test-support/frontend-process.js';
import { MatrixProxy } from './matrix-proxy.js';

export interface MatrixClusterOptions {
  /** Index of the node the proxy stands in front of. */
  readonly proxiedNode: number;
  /** The frontend's router settings (timeouts, backoffs, chunk size). */
  readonly router: Record<string, unknown>;
}

export class MatrixCluster {
  private constructor(
    readonly cluster: DatanodeCluster,
    readonly proxy: MatrixProxy,
    readonly proxiedNode: number,
    readonly frontend: FrontendProcess,
  ) {}

  static async start(options: MatrixClusterOptions): Promise<MatrixCluster> {
    const cluster = await DatanodeCluster.create({
      partitions: 6,
      disksPerNode: 2,
      datanodeConfig: { testFaultInjection: true },
    });
    let proxy: MatrixProxy | undefined;
    try {
      await cluster.start();
      const node = cluster.nodes[options.proxiedNode]!;
      proxy = await MatrixProxy.start({ host: node.host, port: node.port });
      const frontendMap = path.join(cluster.root, 'frontend-map');
      await writeProxiedMap(cluster.mapDir, frontendMap, node.port, proxy.port);
      const frontend = await startFrontendProcess(cluster, {
        config: { clusterMapDir: frontendMap, logLevel: 'error', router: options.router },
      });
      return new MatrixCluster(cluster, proxy, options.proxiedNode, frontend);
    } catch (error) {
      await proxy?.close();
      await cluster.destroy();
      throw error;
    }
  }

  get url(): string {
    return this.frontend.url;
  }

  /** The disks (mount paths) of node `index`, from where its replicas live. */
  disks(index: number): string[] {
    return [...new Set([...this.cluster.replicaDirs(index).values()].map((dir) => path.dirname(dir)))].sort();
  }

  /** `POST /test/disk-fault` on node `index`'s admin port. */
  async diskFault(index: number, body: { mountPath: string; code?: string; ops?: string[] }): Promise<void> {
    const response = await fetch(`${this.#admin(index)}/test/disk-fault`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`disk fault on node ${index}: ${response.status} ${text}`);
  }

  async health(index: number): Promise<{ status: number; healthy?: boolean; failedDisks?: string[] }> {
    try {
      const response = await fetch(`${this.#admin(index)}/health`, { signal: AbortSignal.timeout(5000) });
      const body = (await response.json()) as { healthy?: boolean; failedDisks?: string[] };
      // The body has a `status` of its own ("ok"): the HTTP status is the one that counts here.
      return { healthy: body.healthy, failedDisks: body.failedDisks, status: response.status };
    } catch {
      return { status: 0 };
    }
  }

  /** Prometheus text of node `index`. */
  async metrics(index: number): Promise<string> {
    const response = await fetch(`${this.#admin(index)}/metrics`, { signal: AbortSignal.timeout(5000) });
    return response.text();
  }

  /** A graceful stop and a fresh start: an injected disk fault lives in the process, so this clears it. */
  async restartNode(index: number): Promise<void> {
    await this.cluster.stopNode(index, 'SIGTERM');
    await this.cluster.startNode(index);
  }

  /** Every datanode and the frontend still running (none crashed). */
  processesAlive(): { datanodes: boolean[]; frontend: boolean } {
    return {
      datanodes: this.cluster.nodes.map((_, i) => this.cluster.isRunning(i)),
      frontend: this.frontend.child.exitCode === null && this.frontend.child.signalCode === null,
    };
  }

  async stop(): Promise<void> {
    await this.frontend.stop('SIGTERM').catch(() => {});
    await this.proxy.close();
    await this.cluster.destroy();
  }

  #admin(index: number): string {
    return `http://127.0.0.1:${this.cluster.nodes[index]!.adminPort}`;
  }
}

/** Copies the static map from `from` to `to`, the node on `nodePort` renamed to listen on `proxyPort`. */
export async function writeProxiedMap(
  from: string,
  to: string,
  nodePort: number,
  proxyPort: number,
): Promise<void> {
  const hardware = JSON.parse(await fs.readFile(path.join(from, HARDWARE_FILE), 'utf8')) as HardwareFile;
  const partitions = JSON.parse(
    await fs.readFile(path.join(from, PARTITIONS_FILE), 'utf8'),
  ) as PartitionsFile;
  let renamed = 0;
  const proxied: HardwareFile = {
    ...hardware,
    datacenters: hardware.datacenters.map((dc) => ({
      ...dc,
      nodes: dc.nodes.map((node) => {
        if (node.port !== nodePort) return node;
        renamed++;
        return { ...node, port: proxyPort };
      }),
    })),
  };
  if (renamed !== 1) throw new Error(`expected one node on port ${nodePort} in the map, found ${renamed}`);
  const proxiedPartitions: PartitionsFile = {
    ...partitions,
    partitions: partitions.partitions.map((p) => ({
      ...p,
      replicas: p.replicas.map((r) => (r.port === nodePort ? { ...r, port: proxyPort } : r)),
    })),
  };
  await fs.mkdir(to, { recursive: true });
  await fs.writeFile(path.join(to, HARDWARE_FILE), `${JSON.stringify(proxied, null, 2)}\n`);
  await fs.writeFile(path.join(to, PARTITIONS_FILE), `${JSON.stringify(proxiedPartitions, null, 2)}\n`);
}
