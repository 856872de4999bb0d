import {
  type ClusterLayout,
  type Heartbeat,
  loadLayout,
  type DataNode as MapNode,
  type MutableClusterMap,
  RedisClusterMap,
  StaticClusterMap,
} from '@ambry/clustermap';
import { DataNodeServer, type Endpoint, SealState } from '@ambry/protocol';
import type { FastifyInstance } from 'fastify';
import { type Logger as PinoLogger, pino } from 'pino';
import { createAdminServer } from './admin-server.js';
import type { DataNodeConfig } from './config.js';
import { ByteBudget, createHandlers } from './handlers.js';
import { DataNodeMetrics } from './metrics.js';
import { ReplicaSet } from './replica-set.js';

/**
 * One storage server: finds itself in the cluster map, opens the stores of its replicas, serves the wire
 * protocol and the admin HTTP port, and (with a Redis map) heartbeats and reports seal states and failed
 * disks. `stop` is the graceful shutdown SIGTERM runs.
 */

const SEAL_REPORT_INTERVAL_MS = 1000;

export interface StartedEndpoints {
  readonly wire: Endpoint;
  readonly admin: { readonly host: string; readonly port: number };
}

export class DataNode {
  private heartbeat: Heartbeat | undefined;
  private sealTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly config: DataNodeConfig,
    readonly logger: PinoLogger,
    readonly node: MapNode,
    private readonly map: MutableClusterMap & { close?: () => Promise<void> },
    readonly replicas: ReplicaSet,
    private readonly server: DataNodeServer,
    private readonly admin: FastifyInstance,
    readonly endpoints: StartedEndpoints,
  ) {}

  static async start(
    config: DataNodeConfig,
    logger: PinoLogger = pino({ level: config.logLevel }),
  ): Promise<DataNode> {
    const map = await openClusterMap(config, logger);
    const closeMap = async () => {
      if (map instanceof RedisClusterMap) await map.close();
    };
    try {
      const node = map.node(config.node);
      if (node === undefined) throw new Error(`node ${config.node} is not in the cluster map`);
      checkDisks(config, node);
      const hosted = map.replicasOnNode(node.key);
      const replicas = new ReplicaSet({
        node,
        replicas: hosted,
        storeConfig: {
          durability: config.durability,
          syncIntervalMs: config.syncIntervalMs,
          ...(config.segmentBytes === undefined ? {} : { segmentBytes: config.segmentBytes }),
        },
        diskErrorThreshold: config.diskErrorThreshold,
        faultInjection: config.testFaultInjection,
        logger: logger.child({ component: 'store' }),
        knownPartition: (id) => map.partition(id) !== undefined,
        replicaCapacity: (id) => map.partition(id)?.replicaCapacityBytes ?? 0,
        onDiskFailed: (mountPath) => {
          try {
            map.setDiskState(node.key, mountPath, 'failed');
          } catch (error) {
            logger.error({ err: error, mountPath }, 'could not report the failed disk to the cluster map');
          }
        },
      });
      const budget = new ByteBudget(config.maxBufferedBytes);
      const health = () => healthOf(replicas);
      let metrics: DataNodeMetrics | undefined;
      const server = new DataNodeServer({
        handlers: createHandlers({ replicas, budget, healthy: health }),
        onRequest: (outcome) => metrics?.observe(outcome),
        maxFrameBytes: config.maxFrameBytes,
        maxInFlightPerConnection: config.maxInFlightPerConnection,
        maxConnections: config.maxConnections,
        logger: logger.child({ component: 'wire' }),
      });
      metrics = new DataNodeMetrics(replicas, () => server.connectionCount);
      const admin = createAdminServer({
        logger: logger.child({ component: 'admin' }),
        replicas,
        metrics,
        health,
      });
      const host = config.listenHost ?? node.host;
      const adminPort = config.adminPort ?? node.adminPort;
      await admin.listen({ host, port: adminPort });
      const address = admin.server.address();
      const wire = await server.listen({ host, port: node.port });
      const dataNode = new DataNode(config, logger, node, map, replicas, server, admin, {
        wire,
        admin: { host, port: typeof address === 'object' && address !== null ? address.port : adminPort },
      });
      logger.info(
        { node: node.key, replicas: hosted.length, admin: dataNode.endpoints.admin },
        'datanode listening',
      );
      await replicas.openAll();
      dataNode.startReporting();
      logger.info({ ...healthOf(replicas) }, 'datanode ready');
      return dataNode;
    } catch (error) {
      await closeMap().catch(() => {});
      throw error;
    }
  }

  /** Stops accepting, lets in-flight requests finish, closes every store cleanly, then the rest. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.sealTimer);
      this.logger.info('datanode stopping');
      await this.server.close({ timeoutMs: this.config.shutdownTimeoutMs });
      await this.replicas.closeAll();
      await this.heartbeat?.stop().catch(() => {});
      await this.admin.close();
      if (this.map instanceof RedisClusterMap) await this.map.close().catch(() => {});
      this.logger.info('datanode stopped');
    })();
    return this.stopping;
  }

  private startReporting(): void {
    if (this.map instanceof RedisClusterMap) {
      this.heartbeat = this.map.startHeartbeat(this.node.key, {
        onError: (error) => this.logger.warn({ err: error }, 'heartbeat failed'),
      });
    }
    const report = () => {
      for (const replica of this.replicas.all()) {
        const sealed = replica.state === 'open' && replica.store?.stats().sealState === SealState.READ_ONLY;
        try {
          this.map.setReplicaSealed(replica.partitionId, this.node.key, sealed);
        } catch (error) {
          this.logger.warn({ err: error, partitionId: replica.partitionId }, 'could not report a seal state');
        }
      }
    };
    report();
    this.sealTimer = setInterval(report, SEAL_REPORT_INTERVAL_MS);
    this.sealTimer.unref();
  }
}

function healthOf(replicas: ReplicaSet): { ready: boolean; healthy: boolean; status: string } {
  const ready = replicas.ready;
  const failed = replicas.disksFailed;
  const healthy = ready && failed.length === 0;
  const status = !ready
    ? 'starting'
    : failed.length > 0
      ? `degraded: failed disks ${failed.join(', ')}`
      : 'ok';
  return { ready, healthy, status };
}

async function openClusterMap(config: DataNodeConfig, logger: PinoLogger): Promise<MutableClusterMap> {
  if (config.clusterMapDir !== undefined) {
    const layout: ClusterLayout = await loadLayout(config.clusterMapDir);
    const node = layout.nodes.find((n) => n.key === config.node);
    if (node === undefined) throw new Error(`node ${config.node} is not in ${config.clusterMapDir}`);
    return new StaticClusterMap(layout, { localDatacenter: node.datacenter });
  }
  return RedisClusterMap.connect({
    url: config.redisUrl!,
    clusterName: config.clusterName!,
    localDatacenter: config.datacenter!,
    logger: logger.child({ component: 'clustermap' }),
  });
}

function checkDisks(config: DataNodeConfig, node: MapNode): void {
  if (config.disks === undefined) return;
  const inMap = node.disks.map((d) => d.mountPath).sort();
  const configured = [...config.disks].sort();
  if (inMap.join('\n') !== configured.join('\n')) {
    throw new Error(
      `disks ${configured.join(', ')} do not match the cluster map's ${inMap.join(', ')} for ${node.key}`,
    );
  }
}
