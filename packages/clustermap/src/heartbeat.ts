/**
 * Liveness through keys with expiry: a data node SETs `heartbeat:<node>` with PX ttl every interval
 * and adds itself to `heartbeat-nodes`; a process sees a node of that set as down when its key has
 * expired (found by a periodic MGET, no keyspace notifications needed) and up again when it returns.
 * Nodes that never sent a heartbeat are not judged by liveness.
 */
import type { Redis } from 'ioredis';
import { ClusterMapError } from './errors.js';
import { redisKeys } from './redis-keys.js';

export interface HeartbeatOptions {
  /** How often the key is refreshed; default 1000 ms. */
  intervalMs?: number;
  /** Expiry of the key; must exceed intervalMs; default 3 x intervalMs. */
  ttlMs?: number;
  /** Called when a beat fails (Redis unreachable); beats go on. */
  onError?: (error: unknown) => void;
}

export interface Heartbeat {
  /** Stops beating; the key then expires after its ttl, or at once with `{ expireNow: true }`. */
  stop(options?: { expireNow?: boolean }): Promise<void>;
}

export function startHeartbeat(
  client: Redis,
  cluster: string,
  node: string,
  options: HeartbeatOptions = {},
): Heartbeat {
  const intervalMs = options.intervalMs ?? 1000;
  const ttlMs = options.ttlMs ?? 3 * intervalMs;
  if (!(intervalMs > 0) || !(ttlMs > intervalMs)) {
    throw new ClusterMapError(`heartbeat ttlMs (${ttlMs}) must exceed intervalMs (${intervalMs}) > 0`);
  }
  const keys = redisKeys(cluster);
  const beat = async () => {
    try {
      await client
        .multi()
        .set(keys.heartbeat(node), String(Date.now()), 'PX', Math.ceil(ttlMs))
        .sadd(keys.heartbeatNodes, node)
        .exec();
    } catch (error) {
      options.onError?.(error);
    }
  };
  void beat();
  const timer = setInterval(() => void beat(), intervalMs);
  timer.unref();
  return {
    async stop({ expireNow = false } = {}) {
      clearInterval(timer);
      if (expireNow) {
        try {
          await client.del(keys.heartbeat(node));
        } catch (error) {
          options.onError?.(error);
        }
      }
    },
  };
}

/** Nodes that have sent heartbeats and whose key has expired. */
export async function expiredHeartbeats(client: Redis, cluster: string): Promise<Set<string>> {
  const keys = redisKeys(cluster);
  const nodes = await client.smembers(keys.heartbeatNodes);
  if (nodes.length === 0) return new Set();
  const values = await client.mget(...nodes.map((n) => keys.heartbeat(n)));
  return new Set(nodes.filter((_, i) => values[i] == null));
}
