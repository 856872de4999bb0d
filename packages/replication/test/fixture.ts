/**
 * Data nodes in one process: each node a DataNodeServer on a MemoryNetwork serving GET and
 * REPLICA_METADATA from real BlobStores (one per replica, under the disk's mount path in a temp dir),
 * the way apps/datanode answers them. Tests write to the stores directly (as a quorum PUT would have)
 * and run a ReplicationEngine per node with its own DataNodeClient.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildLayout,
  type ClusterLayout,
  type DataNode,
  generateLayout,
  StaticClusterMap,
} from '@ambry/clustermap';
import {
  BlobId,
  type BlobProperties,
  DataNodeClient,
  type DataNodeHandlers,
  DataNodeServer,
  ErrorCode,
  GetPart,
  type GetResult,
  MemoryNetwork,
  type MessageInfo,
  type ReplicaMetadataPartition,
  ServerError,
} from '@ambry/protocol';
import { BlobStore, StoreError } from '@ambry/store';
import { expect } from 'vitest';
import { ReplicationEngine, type ReplicationEngineOptions } from '../src/index.js';

const KiB = 1024;
const STORE = { capacityBytes: 64 * 256 * KiB, segmentBytes: 256 * KiB, maxMemoryRecords: 50 };

export interface ServedRequest {
  readonly node: string;
  readonly type: 'get' | 'replicaMetadata' | 'logChunk';
  readonly requester: string;
  readonly partitions: number;
  readonly bytes: number;
  /** REPLICA_METADATA: per partition, the token asked with, the token answered and the entries. */
  readonly tokens?: readonly {
    readonly partitionId: number;
    readonly sent: Uint8Array;
    readonly answered: Uint8Array;
    readonly entries: number;
  }[];
}

export type Hook = (
  node: DataNode,
  type: 'get' | 'replicaMetadata' | 'logChunk',
  blobId?: BlobId,
) => Promise<void> | void;

export interface Fixture {
  readonly network: MemoryNetwork;
  readonly layout: ClusterLayout;
  readonly nodes: readonly DataNode[];
  readonly partitionIds: readonly number[];
  nodesIn(datacenter: string): DataNode[];
  store(node: DataNode, partitionId: number): BlobStore;
  /** Closes the store, deletes its directory and opens a new, empty one (a new incarnation). */
  recreateStore(node: DataNode, partitionId: number): Promise<BlobStore>;
  /** Closes a store without reopening it (a failed replica). */
  closeStore(node: DataNode, partitionId: number): Promise<void>;
  /** An engine for `node`, closed by `close`; log copies are off unless `config.logCopyChunkBytes` is set. */
  engine(node: DataNode, options?: Partial<ReplicationEngineOptions>): Promise<ReplicationEngine>;
  /** Every request to `node` resets its connection; returns the function that heals it. */
  disconnect(node: DataNode): () => void;
  /** Requests served so far (cleared by `resetServed`). */
  served(): readonly ServedRequest[];
  resetServed(): void;
  /** Runs before a GET / REPLICA_METADATA handler; returns the function that removes it. */
  intercept(hook: Hook): () => void;
  close(): Promise<void>;
}

export interface FixtureOptions {
  readonly datacenters?: readonly string[];
  readonly nodesPerDc?: number;
  readonly partitions?: number;
  readonly replicasPerDc?: number;
}

export async function startFixture(options: FixtureOptions = {}): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'replication-'));
  const generated = generateLayout({
    datacenters: options.datacenters ?? ['dc1'],
    nodesPerDc: options.nodesPerDc ?? 3,
    disksPerNode: 1,
    partitions: options.partitions ?? 2,
    replicasPerDc: options.replicasPerDc ?? 3,
    mountPathPrefix: dir,
  });
  const layout = buildLayout(generated.hardware, generated.partitions);
  const network = new MemoryNetwork();
  const stores = new Map<string, BlobStore>();
  const servers: DataNodeServer[] = [];
  const engines: ReplicationEngine[] = [];
  const clients: DataNodeClient[] = [];
  const hooks = new Set<Hook>();
  let served: ServedRequest[] = [];
  const key = (node: DataNode, partitionId: number) => `${node.key}#${partitionId}`;
  const storeDir = (node: DataNode, partitionId: number) => join(node.disks[0]!.mountPath, `p${partitionId}`);
  const openStore = async (node: DataNode, partitionId: number) => {
    const store = await BlobStore.open({ ...STORE, dir: storeDir(node, partitionId) });
    stores.set(key(node, partitionId), store);
    return store;
  };

  for (const node of layout.nodes) {
    for (const partition of layout.partitions) {
      if (partition.replicas.some((r) => r.node.key === node.key)) await openStore(node, partition.id);
    }
    const withStore = async <T>(partitionId: number, work: (store: BlobStore) => Promise<T>): Promise<T> => {
      const store = stores.get(key(node, partitionId));
      if (store === undefined)
        throw new ServerError(ErrorCode.PARTITION_UNKNOWN, `no replica ${partitionId}`);
      try {
        return await work(store);
      } catch (error) {
        throw error instanceof StoreError ? new ServerError(error.code, error.message) : error;
      }
    };
    const handlers: DataNodeHandlers = {
      get: async (request, context) => {
        for (const hook of hooks) await hook(node, 'get', request.blobId);
        const result = await withStore(request.blobId.partitionId, async (store): Promise<GetResult> => {
          const flags = { includeDeleted: request.includeDeleted, includeExpired: request.includeExpired };
          const part = request.part ?? GetPart.ALL;
          if (part === GetPart.INFO) {
            const info = await store.getInfo(request.blobId, flags);
            return { ...info, blob: new Uint8Array(0) };
          }
          const blob = await store.get(request.blobId, { ...flags, range: request.range });
          return {
            properties: part === GetPart.ALL ? blob.properties : undefined,
            userMetadata: part === GetPart.ALL ? blob.userMetadata : undefined,
            // As apps/datanode answers: the exact stored encodings.
            propertiesBytes: part === GetPart.ALL ? blob.propertiesBytes : undefined,
            userMetadataBytes: part === GetPart.ALL ? blob.userMetadataBytes : undefined,
            blobSize: blob.blobSize,
            blobChecksum: blob.blobChecksum,
            range: blob.range,
            state: blob.state,
            blob: blob.blob,
          };
        });
        served.push({
          node: node.key,
          type: 'get',
          requester: context.clientId,
          partitions: 1,
          bytes: result.blob.byteLength,
        });
        return result;
      },
      logChunk: async (request, context) => {
        for (const hook of hooks) await hook(node, 'logChunk');
        const chunk = await withStore(request.partitionId, (store) =>
          store.readLogChunk(request.token, request.maxBytes),
        );
        served.push({
          node: node.key,
          type: 'logChunk',
          requester: context.clientId,
          partitions: 1,
          bytes: chunk.records.byteLength,
        });
        return chunk;
      },
      // As apps/datanode answers it: the byte budget is shared by the partitions in request order.
      replicaMetadata: async (request, context) => {
        for (const hook of hooks) await hook(node, 'replicaMetadata');
        const partitions: ReplicaMetadataPartition[] = [];
        let remaining = request.maxTotalBytes;
        for (const { partitionId, token } of request.partitions) {
          try {
            const found = await withStore(partitionId, (store) =>
              store.findEntriesSince(token, Math.max(1, remaining)),
            );
            remaining -= found.entries.reduce((sum, e) => sum + e.size, 0);
            partitions.push({
              partitionId,
              error: ErrorCode.OK,
              entries: found.entries,
              token: found.token,
              lagBytes: found.lagBytes,
            });
          } catch (error) {
            if (!(error instanceof ServerError)) throw error;
            partitions.push({ partitionId, error: error.code, entries: [], token, lagBytes: 0 });
          }
        }
        served.push({
          node: node.key,
          type: 'replicaMetadata',
          requester: context.clientId,
          partitions: request.partitions.length,
          bytes: 0,
          tokens: partitions.map((part, i) => ({
            partitionId: part.partitionId,
            sent: request.partitions[i]!.token,
            answered: part.token,
            entries: part.entries.length,
          })),
        });
        return { partitions };
      },
    };
    const server = new DataNodeServer({ handlers, transport: network.transport({ host: node.host }) });
    await server.listen({ host: node.host, port: node.port });
    servers.push(server);
  }

  return {
    network,
    layout,
    nodes: layout.nodes,
    partitionIds: layout.partitions.map((p) => p.id),
    nodesIn: (datacenter) => layout.nodes.filter((n) => n.datacenter === datacenter),
    store: (node, partitionId) => {
      const store = stores.get(key(node, partitionId));
      if (store === undefined) throw new Error(`no store ${key(node, partitionId)}`);
      return store;
    },
    recreateStore: async (node, partitionId) => {
      await stores.get(key(node, partitionId))?.close();
      await rm(storeDir(node, partitionId), { recursive: true, force: true });
      return openStore(node, partitionId);
    },
    closeStore: async (node, partitionId) => {
      await stores.get(key(node, partitionId))?.close();
    },
    engine: async (node, { config, ...overrides } = {}) => {
      const client = new DataNodeClient({
        transport: network.transport({ host: `replication-${node.port}` }),
        clientId: node.key,
        requestTimeoutMs: 2000,
        reconnectBackoff: { initialMs: 5, maxMs: 20 },
      });
      clients.push(client);
      const engine = await ReplicationEngine.create({
        clusterMap: new StaticClusterMap(layout, { localDatacenter: node.datacenter }),
        localNode: node.key,
        stores: (partitionId) => stores.get(key(node, partitionId)),
        client,
        ...overrides,
        // Blob by blob unless a test asks for log copies: most tests are about that path.
        config: { logCopyChunkBytes: 0, ...config },
      });
      engines.push(engine);
      return engine;
    },
    disconnect: (node) =>
      network.addFault({ endpoint: { host: node.host, port: node.port }, action: { kind: 'disconnect' } }),
    served: () => served,
    resetServed: () => {
      served = [];
    },
    intercept: (hook) => {
      hooks.add(hook);
      return () => hooks.delete(hook);
    },
    close: async () => {
      for (const engine of engines) await engine.stop();
      for (const client of clients) await client.close();
      for (const server of servers) await server.close({ timeoutMs: 100 });
      for (const store of stores.values()) await store.close().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// ---- writing like a router would, and comparing replicas -----------------------------------------------

let sequence = 0;

export interface TestBlob {
  readonly id: BlobId;
  readonly properties: BlobProperties;
  readonly blob: Buffer;
  readonly userMetadata: Record<string, string>;
}

export function makeBlob(
  partitionId: number,
  options: { size?: number; ttlSeconds?: number; creationTimeMs?: number } = {},
): TestBlob {
  sequence += 1;
  const size = options.size ?? 100 + ((sequence * 7919) % 5000);
  const blob = Buffer.alloc(size);
  for (let i = 0; i < size; i++) blob[i] = (i * 31 + sequence) & 0xff;
  return {
    id: BlobId.generate({ partitionId, datacenterId: 0, accountId: 101, containerId: 5 }),
    properties: {
      blobSize: size,
      serviceId: 'replication-test',
      contentType: 'application/octet-stream',
      creationTimeMs: options.creationTimeMs ?? 1_700_000_000_000 + sequence,
      ttlSeconds: options.ttlSeconds ?? -1,
      isPrivate: false,
      accountId: 101,
      containerId: 5,
    },
    blob,
    userMetadata: { n: String(sequence) },
  };
}

/** Operation times every replica shares (a router's replicas would have near-equal clocks). */
let opTime = 1_750_000_000_000;
export const nextOpTime = (): number => (opTime += 1000);

export async function putOn(stores: readonly BlobStore[], blob: TestBlob): Promise<void> {
  const operationTimeMs = nextOpTime();
  for (const store of stores) {
    await store.put({
      id: blob.id,
      properties: blob.properties,
      userMetadata: blob.userMetadata,
      blob: blob.blob,
      operationTimeMs,
    });
  }
}

export async function deleteOn(stores: readonly BlobStore[], id: BlobId): Promise<void> {
  const operationTimeMs = nextOpTime();
  for (const store of stores) await store.delete(id, { operationTimeMs });
}

export async function ttlUpdateOn(stores: readonly BlobStore[], id: BlobId, expiresAtMs = -1): Promise<void> {
  const operationTimeMs = nextOpTime();
  for (const store of stores) await store.updateTtl(id, expiresAtMs, { operationTimeMs });
}

export async function undeleteOn(stores: readonly BlobStore[], id: BlobId): Promise<void> {
  const operationTimeMs = nextOpTime();
  for (const store of stores) await store.undelete(id, { operationTimeMs });
}

/** Each key's full state (flags, life version, times, sizes) as the store reports it to replication. */
export async function stateOf(store: BlobStore): Promise<Map<string, Omit<MessageInfo, 'blobId'>>> {
  const out = new Map<string, Omit<MessageInfo, 'blobId'>>();
  let token: Uint8Array = new Uint8Array(0);
  for (let i = 0; i < 10_000; i++) {
    const found = await store.findEntriesSince(token, 1024 * 1024);
    for (const { blobId, ...rest } of found.entries) out.set(blobId.toString(), rest);
    token = found.token;
    if (found.entries.length === 0) break;
  }
  return out;
}

/** The stored bytes of a blob (properties, user metadata, blob), or the error code. */
export async function contentOf(store: BlobStore, id: BlobId): Promise<string> {
  try {
    const got = await store.get(id, { includeDeleted: true, includeExpired: true });
    return `${got.propertiesBytes.toString('hex')}|${got.userMetadataBytes.toString('hex')}|${got.blob.toString('hex')}`;
  } catch (error) {
    if (error instanceof StoreError) return `error ${ErrorCode[error.code]}`;
    throw error;
  }
}

/** Every key of `expected` is in `actual` with the same state and bytes; keys `skipped` may be absent. */
export async function expectSameReplica(
  expected: BlobStore,
  actual: BlobStore,
  skipped: ReadonlySet<string> = new Set(),
): Promise<void> {
  const want = await stateOf(expected);
  const have = await stateOf(actual);
  for (const [id, state] of want) {
    if (skipped.has(id) && !have.has(id)) continue;
    expect(have.get(id), `state of ${id}`).toEqual(state);
  }
  for (const id of have.keys()) expect(want.has(id), `extra blob ${id}`).toBe(true);
  for (const id of want.keys()) {
    if (skipped.has(id) && !have.has(id)) continue;
    const blobId = BlobId.parse(id);
    expect(await contentOf(actual, blobId), `content of ${id}`).toBe(await contentOf(expected, blobId));
  }
}

/** Waits (bounded by turns, not by a time threshold) until `condition` holds. */
export async function eventually(condition: () => boolean | Promise<boolean>, turns = 2000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error('condition not reached');
}

export type Trio = [DataNode, DataNode, DataNode];
export type Pair = [DataNode, DataNode];
