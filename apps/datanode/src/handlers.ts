import {
  AdminKind,
  type AdminResult,
  type DataNodeHandlers,
  ErrorCode,
  GetPart,
  type GetResult,
  type ReplicaMetadataPartition,
  type ReplicaStats,
  type ReplicationLag,
  ServerError,
} from '@ambry/protocol';
import { type BlobStore, StoreError } from '@ambry/store';
import { ChunkBuffers } from './chunk-buffers.js';
import type { HostedReplica, ReplicaSet } from './replica-set.js';

/** LOG_CHUNK read buffers kept for reuse: eight answers of 16 MiB (the engine's default chunk). */
const MAX_POOLED_CHUNK_BYTES = 128 * 1024 * 1024;
/** LOG_CHUNK answers in memory at once (read, or waiting to be written); beyond it: SERVER_BUSY. */
const LOG_CHUNK_BUDGET_BYTES = 256 * 1024 * 1024;

/**
 * The wire requests, served by the stores of this node. Store refusals travel as their ErrorCode; I/O
 * failures also count against the replica's disk. Blob bytes held by requests in progress are bounded:
 * past the budget a request gets SERVER_BUSY instead of more memory.
 */

export class ByteBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  get inUse(): number {
    return this.used;
  }

  /** Takes `bytes` (always allowed when nothing is in use, so one large request can pass) or refuses. */
  take(bytes: number): () => void {
    const release = this.tryTake(bytes);
    if (release === undefined) {
      throw new ServerError(ErrorCode.SERVER_BUSY, `${this.used} bytes in flight, limit ${this.limit}`);
    }
    return release;
  }

  /** `take` that answers undefined instead of refusing. */
  tryTake(bytes: number): (() => void) | undefined {
    if (this.used > 0 && this.used + bytes > this.limit) return undefined;
    this.used += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= bytes;
    };
  }
}

export interface HandlerContext {
  readonly replicas: ReplicaSet;
  readonly budget: ByteBudget;
  readonly healthy: () => { healthy: boolean; status: string };
  /** Replication lag per (partition, peer); undefined when the node runs no replication. */
  readonly replicationLag?: () => readonly ReplicationLag[] | undefined;
  /** The partition's replica is being rebuilt from a peer's log: clients' writes are refused meanwhile. */
  readonly rebuilding?: (partitionId: number) => boolean;
}

export function createHandlers(ctx: HandlerContext): DataNodeHandlers {
  const { replicas, budget } = ctx;
  const chunkBuffers = new ChunkBuffers(MAX_POOLED_CHUNK_BYTES);
  const logChunkBudget = new ByteBudget(LOG_CHUNK_BUDGET_BYTES);

  /**
   * A client's write to a replica being rebuilt from a peer's log would end the copy (the log must stay
   * a prefix of the peer's): refused as TEMPORARILY_DISABLED, which a router counts against this replica
   * only and places on the others. The write reaches this replica by replication once the copy is done.
   */
  function refuseWhileRebuilding(partitionId: number): void {
    if (ctx.rebuilding?.(partitionId) === true) {
      throw new ServerError(
        ErrorCode.TEMPORARILY_DISABLED,
        `replica ${partitionId} is being rebuilt from a peer's log; its writes come by replication`,
      );
    }
  }

  /** Runs `work` on the partition's store, mapping store errors to wire errors. */
  async function withStore<T>(partitionId: number, work: (store: BlobStore) => Promise<T>): Promise<T> {
    const { replica, store } = replicas.storeFor(partitionId);
    try {
      return await work(store);
    } catch (error) {
      throw toServerError(replica, error, replicas);
    }
  }

  return {
    put: (request) => {
      refuseWhileRebuilding(request.blobId.partitionId);
      const release = budget.take(request.blob.byteLength);
      return withStore(request.blobId.partitionId, async (store) => {
        await store.put({
          id: request.blobId,
          properties: request.properties,
          userMetadata: request.userMetadata,
          blob: request.blob,
          blobChecksum: request.blobChecksum,
        });
        return undefined;
      }).finally(release);
    },

    get: (request) =>
      withStore(request.blobId.partitionId, async (store): Promise<GetResult> => {
        const part = request.part ?? GetPart.ALL;
        const flags = { includeDeleted: request.includeDeleted, includeExpired: request.includeExpired };
        if (part === GetPart.INFO) {
          const info = await store.getInfo(request.blobId, flags);
          return {
            properties: info.properties,
            userMetadata: info.userMetadata,
            // The exact stored bytes travel (unknown extensions included), so a replica copies them as is.
            propertiesBytes: info.propertiesBytes,
            userMetadataBytes: info.userMetadataBytes,
            blobSize: info.blobSize,
            blobChecksum: info.blobChecksum,
            state: info.state,
            blob: new Uint8Array(0),
          };
        }
        // The read's size is known only after it: refuse to answer when over the budget (the bytes are
        // dropped instead of queued on the socket), and count them while the response is being built.
        const blob = await store.get(request.blobId, { ...flags, range: request.range });
        const release = budget.take(blob.blob.byteLength);
        setImmediate(release);
        return {
          properties: part === GetPart.ALL ? blob.properties : undefined,
          userMetadata: part === GetPart.ALL ? blob.userMetadata : undefined,
          propertiesBytes: part === GetPart.ALL ? blob.propertiesBytes : undefined,
          userMetadataBytes: part === GetPart.ALL ? blob.userMetadataBytes : undefined,
          blobSize: blob.blobSize,
          blobChecksum: blob.blobChecksum,
          range: blob.range,
          state: blob.state,
          blob: blob.blob,
        };
      }),

    delete: (request) =>
      withStore(request.blobId.partitionId, async (store) => {
        refuseWhileRebuilding(request.blobId.partitionId);
        await store.delete(request.blobId, { operationTimeMs: request.operationTimeMs });
        return undefined;
      }),

    ttlUpdate: (request) =>
      withStore(request.blobId.partitionId, async (store) => {
        refuseWhileRebuilding(request.blobId.partitionId);
        await store.updateTtl(request.blobId, request.expiresAtMs, {
          operationTimeMs: request.operationTimeMs,
        });
        return undefined;
      }),

    undelete: (request) =>
      withStore(request.blobId.partitionId, async (store) => {
        refuseWhileRebuilding(request.blobId.partitionId);
        const result = await store.undelete(request.blobId, { operationTimeMs: request.operationTimeMs });
        return { lifeVersion: result.lifeVersion };
      }),

    replicaMetadata: async (request) => {
      const partitions: ReplicaMetadataPartition[] = [];
      let remaining = request.maxTotalBytes;
      for (const { partitionId, token } of request.partitions) {
        try {
          const found = await withStore(partitionId, (store) =>
            store.findEntriesSince(token, Math.max(1, remaining)),
          );
          // The journal yields one entry per record (a PUT and its DELETE are two), each with its key's
          // size: a key counts once against the request's budget.
          remaining -= uniqueKeyBytes(found.entries);
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
      return { partitions };
    },

    logChunk: (request, context) =>
      withStore(request.partitionId, async (store) => {
        // A budget of their own (a copy that stops reading its answers pins only other copies, never
        // GETs and PUTs), and a pooled buffer to read into; both are given back once the answer is
        // written to the connection. A record larger than asked for is charged before it is read.
        const releases = [logChunkBudget.take(request.maxBytes)];
        const releaseAll = () => {
          for (const release of releases.splice(0)) release();
        };
        try {
          const buffer = chunkBuffers.take(request.maxBytes);
          releases.push(() => chunkBuffers.give(buffer));
          const chunk = await store.readLogChunk(request.token, request.maxBytes, buffer, (bytes) => {
            const release = logChunkBudget.tryTake(bytes);
            if (release !== undefined) releases.push(release);
            return release !== undefined;
          });
          context.afterResponse(releaseAll);
          return chunk;
        } catch (error) {
          releaseAll();
          throw error;
        }
      }),

    admin: async (request): Promise<AdminResult> => {
      const { healthy, status } = ctx.healthy();
      if (request.kind === AdminKind.HEALTH) return { healthy, status, replicas: [] };
      const wanted =
        request.partitionIds !== undefined && request.partitionIds.length > 0
          ? new Set(request.partitionIds)
          : undefined;
      if (request.kind === AdminKind.REPLICATION_LAG) {
        const lag = ctx.replicationLag?.() ?? [];
        return {
          healthy,
          status,
          replicas: [],
          replicationLag: lag.filter((l) => wanted === undefined || wanted.has(l.partitionId)),
        };
      }
      return {
        healthy,
        status,
        replicas: replicas
          .all()
          .filter((r) => wanted === undefined || wanted.has(r.partitionId))
          .map(replicaStats),
      };
    },
  };
}

function uniqueKeyBytes(entries: readonly { blobId: { toString(): string }; size: number }[]): number {
  const seen = new Set<string>();
  let bytes = 0;
  for (const entry of entries) {
    const key = entry.blobId.toString();
    if (seen.has(key)) continue;
    seen.add(key);
    bytes += entry.size;
  }
  return bytes;
}

export function replicaStats(replica: HostedReplica): ReplicaStats {
  const stats = replica.state === 'open' ? replica.store?.stats() : undefined;
  return {
    partitionId: replica.partitionId,
    sealState: stats?.sealState ?? 0,
    available: replica.state === 'open' && stats?.available === true,
    bytesUsed: stats?.bytesUsed ?? 0,
    capacityBytes: stats?.capacityBytes ?? replica.capacityBytes,
    blobCount: stats?.blobCount ?? 0,
  };
}

function toServerError(replica: HostedReplica, error: unknown, replicas: ReplicaSet): unknown {
  if (error instanceof StoreError) {
    replicas.reportStoreError(replica, error);
    return new ServerError(error.code, error.message);
  }
  return error;
}
