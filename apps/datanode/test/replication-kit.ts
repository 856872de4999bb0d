/**
 * What the replication tests with real datanode processes share: a cluster (test-support), writes sent
 * straight to chosen replicas the way a router writes a quorum, and bounded waits and blob-by-blob
 * checks of convergence through direct GETs.
 */
import { randomBytes } from 'node:crypto';
import {
  AdminKind,
  BlobId,
  type BlobProperties,
  DataNodeClient,
  type Endpoint,
  ErrorCode,
  GetPart,
  NEVER_EXPIRES,
  type ReplicationLag,
} from '@ambry/protocol';
import { expect } from 'vitest';
import { DatanodeCluster, type DatanodeInfo } from '../../../test-support/datanode-cluster.js';

export const KiB = 1024;
export const TEST_TIMEOUT_MS = 180_000;
const CONVERGE_TIMEOUT_MS = 60_000;

/** Quick rounds and backoffs, so a restarted peer is noticed soon; tokens flushed often. */
const FAST_REPLICATION = {
  idleBackoffMinMs: 20,
  idleBackoffMaxMs: 200,
  errorBackoffMinMs: 50,
  errorBackoffMaxMs: 500,
  tokenFlushIntervalMs: 100,
};

let cluster: DatanodeCluster | undefined;
const client = new DataNodeClient({ clientId: 'replication-e2e', requestTimeoutMs: 10_000 });

/** Stops and removes the cluster the last `startCluster` made (by each test's afterEach). */
export async function destroyCluster(): Promise<void> {
  await cluster?.destroy();
  cluster = undefined;
}

export async function startCluster(
  options: { datacenters?: string[]; nodesPerDc?: number; partitions?: number; replicasPerDc?: number },
  replication: Record<string, unknown> = {},
): Promise<DatanodeCluster> {
  cluster = await DatanodeCluster.create({
    disksPerNode: 1,
    partitions: 2,
    segmentBytes: 4 * 1024 * 1024,
    ...options,
    datanodeConfig: { replication: { ...FAST_REPLICATION, ...replication } },
  });
  await cluster.start();
  return cluster;
}

const endpoint = (node: DatanodeInfo): Endpoint => ({ host: node.host, port: node.port });

// ---- writes, as a router would send them to the replicas it reaches --------------------------------

let opTime = Date.now();
/** One operation time per logical operation, shared by the replicas it is sent to. */
const nextOpTime = () => (opTime += 10);

export interface Written {
  readonly id: BlobId;
  readonly bytes: number;
}

export async function put(
  nodes: readonly DatanodeInfo[],
  partitionId: number,
  size: number,
): Promise<Written> {
  const id = BlobId.generate({ partitionId, datacenterId: 0, accountId: 7, containerId: 3 });
  const properties: BlobProperties = {
    blobSize: size,
    serviceId: 'replication-e2e',
    contentType: 'application/octet-stream',
    creationTimeMs: nextOpTime(),
    ttlSeconds: 24 * 3600,
    isPrivate: false,
    accountId: 7,
    containerId: 3,
  };
  const blob = randomBytes(size);
  const userMetadata = { n: id.toString().slice(0, 8) };
  for (const node of nodes) await client.put(endpoint(node), { blobId: id, properties, userMetadata, blob });
  return { id, bytes: size };
}

/** Replication may bring an update to a replica before the client does: that replica has it already. */
async function tolerateAlready(call: Promise<unknown>, already: ErrorCode): Promise<void> {
  try {
    await call;
  } catch (error) {
    if ((error as { code?: number }).code !== already) throw error;
  }
}

export async function del(nodes: readonly DatanodeInfo[], id: BlobId): Promise<void> {
  const operationTimeMs = nextOpTime();
  for (const node of nodes)
    await tolerateAlready(
      client.delete(endpoint(node), { blobId: id, operationTimeMs }),
      ErrorCode.BLOB_DELETED,
    );
}

export async function ttlUpdate(nodes: readonly DatanodeInfo[], id: BlobId): Promise<void> {
  const operationTimeMs = nextOpTime();
  for (const node of nodes)
    await tolerateAlready(
      client.ttlUpdate(endpoint(node), { blobId: id, expiresAtMs: NEVER_EXPIRES, operationTimeMs }),
      ErrorCode.BLOB_ALREADY_UPDATED,
    );
}

export async function undelete(nodes: readonly DatanodeInfo[], id: BlobId): Promise<void> {
  const operationTimeMs = nextOpTime();
  for (const node of nodes)
    await tolerateAlready(
      client.undelete(endpoint(node), { blobId: id, operationTimeMs }),
      ErrorCode.BLOB_ALREADY_UNDELETED,
    );
}

// ---- reads, straight from one node -------------------------------------------------------------------

/**
 * Everything a replica says about a blob: state, life version, the exact stored bytes. Without the
 * operation time: a PUT sent to two replicas gets each one's own clock (only updates carry the
 * caller's time), so replicas legitimately differ there; `operationTime` reads it separately.
 */
export async function snapshot(node: DatanodeInfo, id: BlobId): Promise<string> {
  try {
    const got = await client.get(endpoint(node), {
      blobId: id,
      part: GetPart.ALL,
      includeDeleted: true,
      includeExpired: true,
    });
    const { operationTimeMs: _, ...state } = got.state;
    return JSON.stringify({
      state,
      blobSize: got.blobSize,
      checksum: got.blobChecksum.toString(16),
      properties: Buffer.from(got.propertiesBytes ?? []).toString('hex'),
      userMetadata: Buffer.from(got.userMetadataBytes ?? []).toString('hex'),
      blob: Buffer.from(got.blob).toString('base64'),
    });
  } catch (error) {
    const code = (error as { code?: number }).code;
    return `error ${code === undefined ? String(error) : ErrorCode[code]}`;
  }
}

async function operationTime(node: DatanodeInfo, id: BlobId): Promise<number> {
  const got = await client.get(endpoint(node), {
    blobId: id,
    part: GetPart.INFO,
    includeDeleted: true,
    includeExpired: true,
  });
  return got.state.operationTimeMs;
}

export async function lagOf(node: DatanodeInfo): Promise<readonly ReplicationLag[]> {
  const result = await client.admin(endpoint(node), { kind: AdminKind.REPLICATION_LAG });
  return result.replicationLag ?? [];
}

/** PUT records (blobs) the node's replicas hold, over every partition. */
export async function blobCount(node: DatanodeInfo): Promise<number> {
  const result = await client.admin(endpoint(node), { kind: AdminKind.REPLICA_STATS });
  return result.replicas.reduce((sum, r) => sum + r.blobCount, 0);
}

/** Log bytes of the node's replicas after their segment headers (32 bytes; one segment each here). */
export async function bytesUsedBeyondHeaders(node: DatanodeInfo): Promise<number> {
  const result = await client.admin(endpoint(node), { kind: AdminKind.REPLICA_STATS });
  return result.replicas.reduce((sum, r) => sum + r.bytesUsed - 32, 0);
}

/** Sum of a metric's series on the node's /metrics (every label combination). */
export async function metric(node: DatanodeInfo, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${node.adminPort}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.split(' ').pop());
  }
  return sum;
}

export async function waitFor(check: () => Promise<boolean>, what: string, detail: () => string = () => '') {
  const deadline = Date.now() + CONVERGE_TIMEOUT_MS;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${CONVERGE_TIMEOUT_MS} ms waiting for ${what}; ${detail()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const NOT_FOUND = `error ${ErrorCode[ErrorCode.BLOB_NOT_FOUND]}`;

/**
 * Every pair of `node` caught up, and every blob reads the same on `node` as on `reference`. A blob put
 * and deleted while `node` was away is not fetched (replication skips a key it lacks that is deleted at
 * the peer, as Ambry does): those, `neverCopied`, read BLOB_NOT_FOUND, or deleted as at the reference
 * when a log copy carried their records.
 */
export async function waitConverged(
  node: DatanodeInfo,
  reference: DatanodeInfo,
  ids: readonly BlobId[],
  neverCopied: ReadonlySet<BlobId> = new Set(),
): Promise<void> {
  let last = '';
  await waitFor(
    async () => {
      const lag = await lagOf(node);
      if (lag.length === 0 || !lag.every((l) => l.caughtUp && l.lagBytes === 0)) {
        last = `lag ${JSON.stringify(lag)}`;
        return false;
      }
      for (const id of ids) {
        const [have, want] = [await snapshot(node, id), await snapshot(reference, id)];
        if (have !== want && !(neverCopied.has(id) && have === NOT_FOUND)) {
          last = `${id}: ${have.slice(0, 300)} vs ${want.slice(0, 300)}`;
          return false;
        }
      }
      return true;
    },
    `${node.key} to converge with ${reference.key}`,
    () => last,
  );
}

/**
 * The final, strict check, blob by blob: the same state, life version and bytes as `references[0]`,
 * and the operation time the references agree on.
 */
export async function expectSameBlobs(
  node: DatanodeInfo,
  references: readonly DatanodeInfo[],
  ids: readonly BlobId[],
  neverCopied: ReadonlySet<BlobId> = new Set(),
): Promise<void> {
  for (const id of ids) {
    const want = await snapshot(references[0]!, id);
    expect(want, `reference copy of ${id}`).not.toMatch(/^error/);
    if (neverCopied.has(id)) {
      expect(JSON.parse(want).state.deleted, `${id} deleted at the reference`).toBe(true);
      const have = await snapshot(node, id);
      if (have !== want) expect(have, `${id} never copied to ${node.key}`).toBe(NOT_FOUND);
      continue;
    }
    expect(await snapshot(node, id), `copy of ${id} on ${node.key}`).toBe(want);
    // An update carries the caller's operation time, so replicas that agree on it must be matched; a
    // blob never updated has each replica's own PUT time (the copy has its source's, or its own).
    const times = new Set(await Promise.all(references.map((r) => operationTime(r, id))));
    if (times.size === 1)
      expect(await operationTime(node, id), `operation time of ${id} on ${node.key}`).toBe([...times][0]);
  }
}
