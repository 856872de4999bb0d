import {
  type ClusterLayout,
  type Heartbeat,
  loadLayout,
  type DataNode as MapNode,
  type MutableClusterMap,
  RedisClusterMap,
  StaticClusterMap,
} from '@ambry/clustermap';
import { DataNodeClient, DataNodeServer, type Endpoint, SealState } from '@ambry/protocol';
import { ReplicationEngine } from '@ambry/replication';
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
 * disks. Unless `replicationEnabled` is false, a replication engine pulls from every peer sharing a
 * partition with this node once the stores are open. `stop` is the graceful shutdown SIGTERM runs.
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
  /** The replication engine and its client to the peers; undefined when replication is off. */
  replication: ReplicationEngine | undefined;
  private replicationClient: DataNodeClient | undefined;

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
      let dataNode: DataNode | undefined;
      const engine = () => dataNode?.replication;
      const server = new DataNodeServer({
        handlers: createHandlers({
          replicas,
          budget,
          healthy: health,
          rebuilding: (partitionId) => engine()?.rebuilding(partitionId) === true,
          replicationLag: () =>
            engine()
              ?.lag()
              .map((l) => ({
                partitionId: l.partitionId,
                peer: l.peer,
                caughtUp: l.caughtUp,
                ...(l.lagBytes === undefined ? {} : { lagBytes: l.lagBytes }),
              })),
        }),
        onRequest: (outcome) => metrics?.observe(outcome),
        maxFrameBytes: config.maxFrameBytes,
        maxInFlightPerConnection: config.maxInFlightPerConnection,
        maxConnections: config.maxConnections,
        logger: logger.child({ component: 'wire' }),
      });
      metrics = new DataNodeMetrics(replicas, () => server.connectionCount, engine);
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
      dataNode = new DataNode(config, logger, node, map, replicas, server, admin, {
        wire,
        admin: { host, port: typeof address === 'object' && address !== null ? address.port : adminPort },
      });
      logger.info(
        { node: node.key, replicas: hosted.length, admin: dataNode.endpoints.admin },
        'datanode listening',
      );
      await replicas.openAll();
      await dataNode.startReplication();
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
      // Replication first stops writing (a batch cut short keeps its old token) and persists its
      // tokens, while the server drains: both before the stores close.
      await Promise.all([
        this.server.close({ timeoutMs: this.config.shutdownTimeoutMs }),
        this.stopReplication(),
      ]);
      await this.replicas.closeAll();
      await this.heartbeat?.stop().catch(() => {});
      await this.admin.close();
      if (this.map instanceof RedisClusterMap) await this.map.close().catch(() => {});
      this.logger.info('datanode stopped');
    })();
    return this.stopping;
  }

  private async startReplication(): Promise<void> {
    if (!this.config.replicationEnabled) return;
    if (this.config.durability === 'interval') {
      // Tokens are persisted for data the store acknowledged; under `interval` that is not yet synced.
      this.logger.warn(
        'replication under interval durability: a crash can lose replicated writes whose tokens were already persisted; they are not fetched again',
      );
    }
    const client = new DataNodeClient({
      clientId: `replication@${this.node.key}`,
      maxFrameBytes: this.config.maxFrameBytes,
      logger: this.logger.child({ component: 'replication-client' }),
    });
    const replicas = this.replicas;
    try {
      this.replication = await ReplicationEngine.create({
        clusterMap: this.map,
        localNode: this.node.key,
        // A replica that failed (or is closing) has no store: the engine skips it and reports it.
        stores: (partitionId) => replicas.storeFor(partitionId).store,
        client,
        config: this.config.replication,
        logger: this.logger.child({ component: 'replication' }),
      });
    } catch (error) {
      await client.close().catch(() => {});
      throw error;
    }
    this.replicationClient = client;
    this.replication.start();
    this.logger.info({ peers: this.replication.peers().length }, 'replication started');
  }

  private async stopReplication(): Promise<void> {
    const engine = this.replication;
    if (engine === undefined) return;
    await engine.stop().catch((error: unknown) => {
      this.logger.error({ err: error }, 'replication did not stop cleanly');
    });
    await this.replicationClient?.close().catch(() => {});
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
