/**
 * A whole cluster in one process: 2 datacenters × 3 nodes × 1 disk, each node a DataNodeServer on a
 * MemoryNetwork whose handlers keep one BlobStore per replica in a temp dir. Faults come from the
 * network (disconnect, blackhole) or from `failReplica`, which makes one replica answer an error code.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLayout, type DataNode, generateLayout, StaticClusterMap } from '@ambry/clustermap';
import {
  type BlobId,
  type DataNodeHandlers,
  DataNodeServer,
  ErrorCode,
  GetPart,
  MemoryNetwork,
  ServerError,
} from '@ambry/protocol';
import { BlobStore, StoreError } from '@ambry/store';
import type { ChangeCapture } from '../src/change-capture.js';
import type { RouterConfigInput } from '../src/config.js';
import { Router } from '../src/router.js';

const KiB = 1024;
// Segments large enough for a 256 KiB chunk (the large-response class), small enough to roll in tests.
const STORE = { capacityBytes: 32 * 512 * KiB, segmentBytes: 512 * KiB };
export const PARTITIONS = 3;

export interface ClusterFixture {
  readonly network: MemoryNetwork;
  readonly nodes: readonly DataNode[];
  nodesIn(datacenter: string): DataNode[];
  /** A router whose local datacenter is `datacenter` (default dc1); closed by `close`. */
  router(options?: {
    datacenter?: string;
    config?: RouterConfigInput;
    random?: () => number;
    clock?: () => number;
    changeCapture?: ChangeCapture;
  }): Router;
  /** The replica of `partitionId` on `node` answers `code` to every request until cleared. */
  failReplica(partitionId: number, node: DataNode, code: ErrorCode): void;
  /** Every request to `node` resets its connection (a node that is down, without waiting for timeouts). */
  disconnect(node: DataNode): () => void;
  /** Copies a blob to the replicas of its partition that lack it, as replication would. */
  replicate(id: BlobId): Promise<void>;
  /**
   * Waits until no request is in flight or being handled anywhere: operations return at quorum, and a
   * test that reads next must not race the stragglers.
   */
  settle(): Promise<void>;
  /**
   * `hook` sees every request a node receives, before its handler; a ServerError it throws is the
   * node's answer. Returns the function that removes it.
   */
  intercept(hook: RequestHook): () => void;
  /** ADMIN requests answered so far, by every node. */
  adminRequests(): number;
  /** Replicas of the blob's partition that hold it (deleted or not), as `host:port`. */
  holders(id: BlobId): Promise<string[]>;
  close(): Promise<void>;
}

export type RequestHook = (operation: keyof DataNodeHandlers, blobId: BlobId) => void;

function asServerError(error: unknown): unknown {
  return error instanceof StoreError ? new ServerError(error.code, error.message) : error;
}

export async function startCluster(): Promise<ClusterFixture> {
  const generated = generateLayout({
    datacenters: ['dc1', 'dc2'],
    nodesPerDc: 3,
    disksPerNode: 1,
    partitions: PARTITIONS,
    replicasPerDc: 3,
  });
  const layout = buildLayout(generated.hardware, generated.partitions);
  const network = new MemoryNetwork();
  const dir = await mkdtemp(join(tmpdir(), 'router-cluster-'));
  const stores = new Map<string, BlobStore>();
  const failing = new Map<string, ErrorCode>();
  const servers: DataNodeServer[] = [];
  let handling = 0;
  let adminRequests = 0;
  const hooks = new Set<RequestHook>();
  const counted =
    <A extends [{ readonly blobId: BlobId }, ...unknown[]], R>(
      operation: keyof DataNodeHandlers,
      handler: (...args: A) => Promise<R>,
    ) =>
    async (...args: A) => {
      handling += 1;
      try {
        for (const hook of hooks) hook(operation, args[0].blobId);
        return await handler(...args);
      } finally {
        handling -= 1;
      }
    };
  const routers: Router[] = [];
  const storeKey = (node: DataNode, partitionId: number) => `${node.key}#${partitionId}`;

  for (const node of layout.nodes) {
    for (const partition of layout.partitions) {
      if (!partition.replicas.some((r) => r.node.key === node.key)) continue;
      const storeDir = join(dir, `${node.port}`, `p${partition.id}`);
      stores.set(storeKey(node, partition.id), await BlobStore.open({ ...STORE, dir: storeDir }));
    }
    const storeFor = (blobId: BlobId): BlobStore => {
      const key = storeKey(node, blobId.partitionId);
      const code = failing.get(key);
      if (code !== undefined) throw new ServerError(code, 'injected by the fixture');
      const store = stores.get(key);
      if (store === undefined) throw new ServerError(ErrorCode.PARTITION_UNKNOWN, `no replica ${key}`);
      return store;
    };
    const handlers: DataNodeHandlers = {
      put: async (r) => {
        await storeFor(r.blobId)
          .put({ id: r.blobId, properties: r.properties, userMetadata: r.userMetadata, blob: r.blob })
          .catch((e: unknown) => Promise.reject(asServerError(e)));
      },
      get: async (r) => {
        const store = storeFor(r.blobId);
        const options = {
          includeDeleted: r.includeDeleted ?? false,
          includeExpired: r.includeExpired ?? false,
        };
        try {
          if (r.part === GetPart.INFO) {
            const info = await store.getInfo(r.blobId, options);
            return { ...info, blob: new Uint8Array(0) };
          }
          return await store.get(r.blobId, r.range === undefined ? options : { ...options, range: r.range });
        } catch (error) {
          throw asServerError(error);
        }
      },
      delete: async (r) => {
        await storeFor(r.blobId)
          .delete(r.blobId, { operationTimeMs: r.operationTimeMs })
          .catch((e: unknown) => Promise.reject(asServerError(e)));
      },
      ttlUpdate: async (r) => {
        await storeFor(r.blobId)
          .updateTtl(r.blobId, r.expiresAtMs, { operationTimeMs: r.operationTimeMs })
          .catch((e: unknown) => Promise.reject(asServerError(e)));
      },
      undelete: async (r) => {
        const written = await storeFor(r.blobId)
          .undelete(r.blobId, { operationTimeMs: r.operationTimeMs })
          .catch((e: unknown) => Promise.reject(asServerError(e)));
        return { lifeVersion: written.lifeVersion };
      },
    };
    const countedHandlers: DataNodeHandlers = {
      put: counted('put', handlers.put!),
      get: counted('get', handlers.get!),
      delete: counted('delete', handlers.delete!),
      ttlUpdate: counted('ttlUpdate', handlers.ttlUpdate!),
      undelete: counted('undelete', handlers.undelete!),
      // What the router's health check asks; counted without a blob id.
      admin: async () => {
        adminRequests += 1;
        return { healthy: true, status: 'ok', replicas: [] };
      },
    };
    const server = new DataNodeServer({
      handlers: countedHandlers,
      transport: network.transport({ host: node.host }),
    });
    await server.listen({ host: node.host, port: node.port });
    servers.push(server);
  }

  const replicaStores = (id: BlobId) =>
    layout.nodes.flatMap((node) => {
      const store = stores.get(storeKey(node, id.partitionId));
      return store === undefined ? [] : [{ node, store }];
    });
  const holders = async (id: BlobId) => {
    const out: string[] = [];
    for (const { node, store } of replicaStores(id)) {
      const found = await store.getInfo(id, { includeDeleted: true, includeExpired: true }).then(
        () => true,
        () => false,
      );
      if (found) out.push(node.key);
    }
    return out;
  };

  return {
    network,
    nodes: layout.nodes,
    nodesIn: (datacenter) => layout.nodes.filter((n) => n.datacenter === datacenter),
    router: (options = {}) => {
      const clusterMap = new StaticClusterMap(layout, { localDatacenter: options.datacenter ?? 'dc1' });
      const router = Router.create({
        clusterMap,
        transport: network.transport({ host: 'router' }),
        ...(options.config === undefined ? {} : { config: options.config }),
        ...(options.random === undefined ? {} : { random: options.random }),
        ...(options.clock === undefined ? {} : { clock: options.clock }),
        ...(options.changeCapture === undefined ? {} : { changeCapture: options.changeCapture }),
      });
      routers.push(router);
      return router;
    },
    failReplica: (partitionId, node, code) => failing.set(storeKey(node, partitionId), code),
    disconnect: (node) =>
      network.addFault({ endpoint: { host: node.host, port: node.port }, action: { kind: 'disconnect' } }),
    holders,
    adminRequests: () => adminRequests,
    intercept: (hook) => {
      hooks.add(hook);
      return () => hooks.delete(hook);
    },
    settle: async () => {
      // Bounded; a few quiet turns in a row, since a delivered request reaches its handler a turn later.
      let quiet = 0;
      for (let turn = 0; turn < 5000 && quiet < 3; turn++) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        quiet = handling === 0 && network.stats.bytesInFlight === 0 ? quiet + 1 : 0;
      }
    },
    replicate: async (id) => {
      const all = replicaStores(id);
      let source: { blob: Buffer; propertiesBytes: Buffer; userMetadataBytes: Buffer } | undefined;
      for (const { store } of all) {
        source ??= await store.get(id, { includeDeleted: true, includeExpired: true }).catch(() => undefined);
      }
      if (source === undefined) throw new Error(`no replica holds ${id}`);
      const have = new Set(await holders(id));
      for (const { node, store } of all) {
        if (have.has(node.key)) continue;
        await store.put({
          id,
          properties: source.propertiesBytes,
          userMetadata: source.userMetadataBytes,
          blob: source.blob,
        });
      }
    },
    close: async () => {
      for (const router of routers) await router.close();
      for (const server of servers) await server.close({ timeoutMs: 100 });
      for (const store of stores.values()) await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
