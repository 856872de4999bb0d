import type { DataNode, Disk } from '@ambry/clustermap';
import type { PeerClass } from './config.js';

/**
 * One (local partition replica, peer replica) pair: what this node knows of its progress through the
 * peer's store. `token` only ever moves to a token whose entries are all applied, and applied means
 * durable here (see `applyEntries`).
 */
export interface RemoteReplica {
  readonly partitionId: number;
  readonly peer: DataNode;
  /** `host:port`. */
  readonly peerKey: string;
  readonly peerClass: PeerClass;
  /** The local disk holding this partition's replica: its token file lives there. */
  readonly localDisk: Disk;
  /** The peer store's token to send next; empty = from the beginning. */
  token: Uint8Array;
  /**
   * Incarnation id of the local store `token`'s data was written to ('' = unknown). When the local store
   * has another one (wiped, disk replaced), the token no longer describes it and starts over.
   */
  localIncarnation: string;
  /** Bytes of the peer's log after `token`, as the peer last reported; undefined before the first answer. */
  lagBytes: number | undefined;
  /** The last round reached the end of the peer's log with everything applied. */
  caughtUp: boolean;
  /** Round sequence number of the last poll (0 = never): ties in lag go to the least recently polled. */
  lastPolled: number;
  /** Why the last attempt did not complete, cleared by the next one that does. */
  problem: string | undefined;
}

/** Most lagging first: unknown lag (never polled) before any known lag, then least recently polled. */
export function byPriority(a: RemoteReplica, b: RemoteReplica): number {
  const lagA = a.lagBytes ?? Number.POSITIVE_INFINITY;
  const lagB = b.lagBytes ?? Number.POSITIVE_INFINITY;
  if (lagA !== lagB) return lagB > lagA ? 1 : -1;
  return a.lastPolled - b.lastPolled;
}
