/**
 * The order an operation tries a partition's replicas in (Ambry's SimpleOperationTracker pool). The
 * order is the proxy mechanism: a GET that misses locally spills to the originating datacenter (where
 * the blob was written, so it is there even before replication), then elsewhere. Unusable replicas
 * (down or probing) go last instead of being dropped, so an operation still has somewhere to go when
 * the failure detector is wrong or everything is down.
 */
import type { Replica } from '@ambry/clustermap';

export interface ReplicaOrderOptions {
  /** Name of the datacenter this process runs in. */
  readonly localDatacenter: string;
  /** From the blob id; its replicas come right after the local ones (even without `crossDatacenter`). */
  readonly originatingDatacenterId?: number;
  /** Include datacenters other than the local and originating ones. */
  readonly crossDatacenter: boolean;
  /** In [0, 1); injected so an order can be reproduced. */
  readonly random: () => number;
  readonly usable: (replica: Replica) => boolean;
}

/**
 * Usable local replicas (shuffled, to spread load), usable originating-datacenter replicas
 * (shuffled), usable replicas of other datacenters if `crossDatacenter` (shuffled), then the unusable
 * ones in that same group order. Replicas outside the considered datacenters are left out.
 */
export function orderReplicas(replicas: readonly Replica[], options: ReplicaOrderOptions): Replica[] {
  const groups: [Replica[], Replica[], Replica[]] = [[], [], []];
  const unusable: [Replica[], Replica[], Replica[]] = [[], [], []];
  for (const replica of replicas) {
    const group = groupOf(replica, options);
    if (group === undefined) continue;
    (options.usable(replica) ? groups : unusable)[group].push(replica);
  }
  const ordered: Replica[] = [];
  for (const group of groups) ordered.push(...shuffle(group, options.random));
  for (const group of unusable) ordered.push(...group);
  return ordered;
}

function groupOf(replica: Replica, options: ReplicaOrderOptions): 0 | 1 | 2 | undefined {
  if (replica.node.datacenter === options.localDatacenter) return 0;
  if (replica.node.datacenterId === options.originatingDatacenterId) return 1;
  return options.crossDatacenter ? 2 : undefined;
}

/** Fisher–Yates, in place. */
function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    // min() guards a random() that returns exactly 1.
    const j = Math.min(i, Math.floor(random() * (i + 1)));
    const a = items[i]!;
    items[i] = items[j]!;
    items[j] = a;
  }
  return items;
}
