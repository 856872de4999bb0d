/**
 * Can this router take a put right now? Asks every local data node for its health (one ADMIN HEALTH
 * request each, with the request timeout) and counts the writable partitions whose put quorum sits on
 * nodes that answered healthy. This is what a load balancer's health check should see: a frontend
 * whose local data nodes are gone must stop getting traffic, even before a put has failed.
 *
 * Probe outcomes feed the failure detector like any replica answer, so a dead node is marked down by
 * the health checks of an idle frontend and a revived one comes back without waiting for a request.
 */
import type { Partition } from '@ambry/clustermap';
import { AdminKind, TransportError } from '@ambry/protocol';
import { classifyReplicaError } from './errors.js';
import type { RouterContext } from './replica-requests.js';

export interface RouterHealth {
  /** Some writable partition has its put quorum on local nodes that answered healthy. */
  readonly ok: boolean;
  /** Writable partitions whose put quorum is reachable. */
  readonly writablePartitions: number;
  readonly localNodes: number;
  readonly reachableLocalNodes: number;
  /** One line for humans: why not ok, or the counts. */
  readonly message: string;
}

export async function checkHealth(context: RouterContext, signal: AbortSignal): Promise<RouterHealth> {
  const { clusterMap, client, config, detector } = context;
  const nodes = clusterMap.localDatacenter.nodes;
  const answers = await Promise.all(
    nodes.map(async (node) => {
      try {
        const result = await client.admin(
          { host: node.host, port: node.port },
          { kind: AdminKind.HEALTH },
          { timeoutMs: config.requestTimeoutMs, signal },
        );
        detector.recordSuccess(node.key);
        return result.healthy;
      } catch (error) {
        // Only a transport failure says the node is unwell; our own abort says nothing.
        if (error instanceof TransportError && classifyReplicaError(error, 'get') === 'node') {
          detector.recordFailure('node', node.key);
        }
        return false;
      }
    }),
  );
  const reachable = new Set(nodes.filter((_, i) => answers[i] === true).map((node) => node.key));
  const writable = clusterMap.writablePartitions().filter((p) => hasReachableQuorum(context, p, reachable));
  const ok = writable.length > 0;
  const counts = `${reachable.size}/${nodes.length} local nodes healthy, ${writable.length} writable partitions`;
  return {
    ok,
    writablePartitions: writable.length,
    localNodes: nodes.length,
    reachableLocalNodes: reachable.size,
    message: ok ? counts : `no partition can reach its put quorum: ${counts}`,
  };
}

function hasReachableQuorum(
  context: RouterContext,
  partition: Partition,
  reachable: ReadonlySet<string>,
): boolean {
  const { clusterMap, config } = context;
  const local = clusterMap
    .replicas(partition.id)
    .filter((r) => r.node.datacenterId === clusterMap.localDatacenter.id);
  const target = Math.min(config.putSuccessTarget, local.length);
  const ready = local.filter((r) => reachable.has(r.node.key) && clusterMap.isReplicaWritable(r));
  return target > 0 && ready.length >= target;
}
