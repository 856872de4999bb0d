/**
 * Storing the layout (both files' JSON) in Redis: push, pull, and the version-checked replacement that
 * add-partitions uses. Every replacement raises `layout:version` and publishes a `layout` message.
 */
import type { Redis } from 'ioredis';
import { type AddPartitionsOptions, addPartitionsToFiles } from './add-partitions.js';
import { ClusterMapError } from './errors.js';
import type { ClusterLayout } from './layout.js';
import { buildLayout } from './load.js';
import { closeRedis, connectRedis } from './redis-connection.js';
import { type RedisMessage, redisKeys } from './redis-keys.js';
import type { HardwareFile, PartitionsFile } from './schema.js';

export interface LayoutFiles {
  readonly hardware: HardwareFile;
  readonly partitions: PartitionsFile;
}

export interface StoredLayout extends LayoutFiles {
  readonly layout: ClusterLayout;
  /** Value of `layout:version`. */
  readonly version: number;
}

/** Writes both files (validated first), raises the version and publishes; returns the new version. */
export async function writeLayout(
  client: Redis,
  cluster: string,
  files: LayoutFiles,
  origin = 'cli',
): Promise<number> {
  const layout = buildLayout(files.hardware, files.partitions);
  if (layout.clusterName !== cluster) {
    throw new ClusterMapError(`the layout is for cluster "${layout.clusterName}", not "${cluster}"`);
  }
  return (await storeLayout(client, cluster, files, origin)) as number;
}

/**
 * Stores both files and raises the version in one transaction, then announces it; undefined when a
 * WATCH on the connection aborted the transaction.
 */
async function storeLayout(
  client: Redis,
  cluster: string,
  files: LayoutFiles,
  origin: string,
): Promise<number | undefined> {
  const keys = redisKeys(cluster);
  const result = await client
    .multi()
    .set(keys.hardware, JSON.stringify(files.hardware))
    .set(keys.partitions, JSON.stringify(files.partitions))
    .incr(keys.layoutVersion)
    .exec();
  if (result === null) return undefined;
  const version = Number(result[2]?.[1]);
  await publish(client, cluster, { origin, kind: 'layout', version });
  return version;
}

export async function publish(client: Redis, cluster: string, message: RedisMessage): Promise<void> {
  await client.publish(redisKeys(cluster).channel, JSON.stringify(message));
}

/** Reads and validates the stored layout; throws ClusterMapError when the cluster has none. */
export async function readLayout(client: Redis, cluster: string): Promise<StoredLayout> {
  const keys = redisKeys(cluster);
  const [hardwareText, partitionsText, version] = await client.mget(
    keys.hardware,
    keys.partitions,
    keys.layoutVersion,
  );
  if (hardwareText == null || partitionsText == null) {
    throw new ClusterMapError(`no layout stored for cluster "${cluster}" (push one first)`);
  }
  const hardware = JSON.parse(hardwareText) as HardwareFile;
  const partitions = JSON.parse(partitionsText) as PartitionsFile;
  return { hardware, partitions, layout: buildLayout(hardware, partitions), version: Number(version ?? 0) };
}

/**
 * Replaces the layout only if nobody changed it since `expectedVersion` (WATCH/MULTI); returns the new
 * version, or undefined when it lost the race (read again and retry).
 */
export async function replaceLayoutIfUnchanged(
  client: Redis,
  cluster: string,
  expectedVersion: number,
  files: LayoutFiles,
  origin: string,
): Promise<number | undefined> {
  buildLayout(files.hardware, files.partitions);
  const keys = redisKeys(cluster);
  await client.watch(keys.layoutVersion);
  const current = Number((await client.get(keys.layoutVersion)) ?? 0);
  if (current !== expectedVersion) {
    await client.unwatch();
    return undefined;
  }
  return storeLayout(client, cluster, files, origin);
}

/** Pushes a layout to the Redis at `url` for `cluster`; returns the new layout version. */
export async function pushLayout(url: string, cluster: string, files: LayoutFiles): Promise<number> {
  const client = await connectRedis(url, { reconnect: false });
  try {
    return await writeLayout(client, cluster, files);
  } finally {
    await closeRedis(client);
  }
}

/** Pulls the layout of `cluster` from the Redis at `url`. */
export async function pullLayout(url: string, cluster: string): Promise<StoredLayout> {
  const client = await connectRedis(url, { reconnect: false });
  try {
    return await readLayout(client, cluster);
  } finally {
    await closeRedis(client);
  }
}

/** Adds partitions to the layout stored in Redis (retrying if another writer raced); returns it. */
export async function addPartitionsInRedis(
  url: string,
  cluster: string,
  options: AddPartitionsOptions,
  origin = 'cli',
): Promise<StoredLayout> {
  // A connection of its own: WATCH must not share a connection with other MULTI/EXEC blocks.
  const client = await connectRedis(url, { reconnect: false });
  try {
    for (let attempt = 0; attempt < 10; attempt++) {
      const current = await readLayout(client, cluster);
      const partitions = addPartitionsToFiles(current.hardware, current.partitions, options);
      const files = { hardware: current.hardware, partitions };
      const version = await replaceLayoutIfUnchanged(client, cluster, current.version, files, origin);
      if (version !== undefined)
        return { ...files, layout: buildLayout(files.hardware, files.partitions), version };
    }
    throw new Error(`add-partitions: the layout of ${cluster} kept changing; try again`);
  } finally {
    await closeRedis(client);
  }
}
