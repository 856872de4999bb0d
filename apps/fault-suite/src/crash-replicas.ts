/**
 * Replica agreement, asked of every datanode directly: REPLICATION_LAG until every (partition, peer)
 * pair is caught up, then each replica's keys and states from REPLICA_METADATA (from the empty token,
 * paged to the end), compared per partition across the nodes.
 */
import { AdminKind, type DataNodeClient, type Endpoint, ErrorCode, type MessageInfo } from '@ambry/protocol';

/** What must agree across replicas (not the operation time: each replica stamps its own PUT). */
export interface KeyState {
  readonly size: number;
  readonly deleted: boolean;
  readonly ttlUpdated: boolean;
  readonly undeleted: boolean;
  readonly expiresAtMs: number;
  readonly lifeVersion: number;
}

export interface ReplicaHolder {
  readonly name: string;
  readonly endpoint: Endpoint;
  /** Partitions this node hosts. */
  readonly partitions: readonly number[];
}

/** Pairs not caught up, as text; empty when every node reports every pair caught up with 0 lag. */
export async function replicationBehind(
  client: DataNodeClient,
  nodes: readonly ReplicaHolder[],
): Promise<string[]> {
  const behind: string[] = [];
  for (const node of nodes) {
    const result = await client.admin(
      node.endpoint,
      { kind: AdminKind.REPLICATION_LAG },
      { timeoutMs: 5000 },
    );
    const lag = result.replicationLag ?? [];
    // Every other replica of every partition is a peer: with n replicas per partition, n - 1 pairs each.
    const peers = new Set(lag.map((l) => l.peer)).size;
    if (lag.length === 0 || lag.length !== node.partitions.length * peers) {
      behind.push(`${node.name}: ${lag.length} lag entries for ${node.partitions.length} partitions`);
    }
    for (const l of lag) {
      if (!l.caughtUp || l.lagBytes !== 0) {
        behind.push(
          `${node.name} p${l.partitionId} <- ${l.peer}: lag ${l.lagBytes ?? '?'} caughtUp ${l.caughtUp}`,
        );
      }
    }
  }
  return behind;
}

const PAGE_BYTES = 4 * 1024 * 1024;
const MAX_PAGES = 100_000;

/** Every key of one replica with its current state. */
export async function replicaKeys(
  client: DataNodeClient,
  endpoint: Endpoint,
  partitionId: number,
): Promise<Map<string, KeyState>> {
  const keys = new Map<string, KeyState>();
  let token: Uint8Array = new Uint8Array(0);
  for (let page = 0; page < MAX_PAGES; page++) {
    const result = await client.replicaMetadata(
      endpoint,
      { partitions: [{ partitionId, token }], maxTotalBytes: PAGE_BYTES, requester: 'crash-loop-check' },
      { timeoutMs: 10_000 },
    );
    const part = result.partitions[0];
    if (!part)
      throw new Error(`no answer for partition ${partitionId} from ${endpoint.host}:${endpoint.port}`);
    if (part.error !== ErrorCode.OK) {
      throw new Error(
        `partition ${partitionId} at ${endpoint.host}:${endpoint.port}: ${ErrorCode[part.error]}`,
      );
    }
    // An entry carries its key's current state, so a later page's entry for the same key is newer.
    for (const entry of part.entries) keys.set(entry.blobId.toString(), stateOf(entry));
    if (part.entries.length === 0 && part.lagBytes === 0) return keys;
    token = part.token;
  }
  throw new Error(
    `partition ${partitionId} at ${endpoint.host}:${endpoint.port}: more than ${MAX_PAGES} pages`,
  );
}

function stateOf(entry: MessageInfo): KeyState {
  return {
    size: entry.size,
    deleted: entry.deleted,
    ttlUpdated: entry.ttlUpdated,
    undeleted: entry.undeleted,
    expiresAtMs: entry.expiresAtMs,
    lifeVersion: entry.lifeVersion,
  };
}

export interface ReplicaComparison {
  readonly partitions: number;
  /** Distinct keys over all replicas of all partitions. */
  readonly keys: number;
  /**
   * Keys some replica lacks while every replica holding them has them deleted: replication does not
   * copy a key deleted at the peer (as Ambry), so a replica that was down while a blob was put and
   * deleted never gets it. Allowed; counted.
   */
  readonly deletedNotCopied: number;
  /** Everything else that differs, one line per key. */
  readonly divergent: string[];
}

/**
 * What must agree: everything, except that a deleted key's expiry does not matter. A TTL update that
 * reaches a replica after its DELETE is refused there (as in Ambry: a deleted blob is not updated), so
 * replicas of a deleted blob may differ in `ttlUpdated` / `expiresAtMs` and serve the same 410.
 */
function comparable(state: KeyState): Partial<KeyState> {
  if (!state.deleted) return state;
  const { ttlUpdated: _ttl, expiresAtMs: _expiry, ...rest } = state;
  return rest;
}

export async function compareReplicas(
  client: DataNodeClient,
  nodes: readonly ReplicaHolder[],
): Promise<ReplicaComparison> {
  const partitions = [...new Set(nodes.flatMap((n) => n.partitions))].sort((a, b) => a - b);
  let keys = 0;
  let deletedNotCopied = 0;
  const divergent: string[] = [];
  for (const partitionId of partitions) {
    const holders = nodes.filter((n) => n.partitions.includes(partitionId));
    const maps = await Promise.all(holders.map((n) => replicaKeys(client, n.endpoint, partitionId)));
    const all = new Set(maps.flatMap((m) => [...m.keys()]));
    keys += all.size;
    for (const key of all) {
      const states = maps.map((m) => m.get(key));
      const present = states.filter((s): s is KeyState => s !== undefined);
      if (present.length < states.length && present.every((s) => s.deleted)) {
        deletedNotCopied++;
        continue;
      }
      const texts = states.map((s) => (s === undefined ? 'missing' : JSON.stringify(comparable(s))));
      if (texts.some((t) => t !== texts[0])) {
        divergent.push(`p${partitionId} ${key}: ${holders.map((h, i) => `${h.name}=${texts[i]}`).join(' ')}`);
      }
    }
  }
  return { partitions: partitions.length, keys, deletedNotCopied, divergent };
}
