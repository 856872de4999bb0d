/**
 * The Redis commands of ambry-clustermap: push, pull, set-state, add-partitions.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { describeLayout } from './balance.js';
import { integer } from './cli-options.js';
import { ClusterMapError } from './errors.js';
import { loadLayout } from './load.js';
import { RedisClusterMap } from './redis-cluster-map.js';
import { addPartitionsInRedis, pullLayout, pushLayout } from './redis-layout.js';
import {
  DISK_STATES,
  type DiskState,
  NODE_STATES,
  type NodeState,
  PARTITION_STATES,
  type PartitionState,
} from './states.js';
import { writeLayoutFiles } from './write-files.js';

type Fail = (error: unknown) => void;

/** Errors from ioredis (refused connection, timeouts) become one-line ClusterMapErrors. */
async function withRedis(url: string, fail: Fail, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    if (error instanceof ClusterMapError || !(error instanceof Error)) fail(error);
    else fail(new ClusterMapError(`redis ${url}: ${error.message}`));
  }
}

function redisOptions(command: Command): Command {
  return command
    .requiredOption('--redis <url>', 'Redis URL, e.g. redis://127.0.0.1:6379')
    .requiredOption('--cluster <name>', 'cluster name (keys live under ambry:<name>:)');
}

export function addRedisCommands(program: Command, fail: Fail): void {
  redisOptions(
    program
      .command('push')
      .description(
        'validate DIR/hardware.json and DIR/partitions.json and store them in Redis (raises the layout version)',
      )
      .argument('<dir>', 'directory holding the two files'),
  ).action(async (dir: string, opts: { redis: string; cluster: string }) => {
    await withRedis(opts.redis, fail, async () => {
      const files = await loadFiles(resolve(dir));
      const version = await pushLayout(opts.redis, opts.cluster, files);
      process.stdout.write(
        `pushed ${opts.cluster} layout version ${version}: ${describeLayout(files.layout)}\n`,
      );
    });
  });

  redisOptions(
    program
      .command('pull')
      .description('write the layout stored in Redis to DIR/hardware.json and DIR/partitions.json'),
  )
    .requiredOption('--out <dir>', 'directory to write the two files to (created if missing)')
    .action(async (opts: { redis: string; cluster: string; out: string }) => {
      await withRedis(opts.redis, fail, async () => {
        const stored = await pullLayout(opts.redis, opts.cluster);
        const out = resolve(opts.out);
        await writeLayoutFiles(out, stored);
        process.stdout.write(
          `wrote ${out}/hardware.json and partitions.json (layout version ${stored.version}): ${describeLayout(stored.layout)}\n`,
        );
      });
    });

  redisOptions(
    program
      .command('set-state')
      .description(
        'set a state in Redis and publish it: a node (--node --state up|down|maintenance), a disk (--node --disk --state available|failed) or a partition (--partition --state read-write|read-only)',
      ),
  )
    .option('--node <host:port>', 'the node (or the node of --disk)')
    .option('--disk <mountPath>', 'a disk of --node')
    .option('--partition <id>', 'a partition', integer(0))
    .addOption(
      new Option('--state <state>', 'the new state')
        .choices([...new Set<string>([...NODE_STATES, ...DISK_STATES, ...PARTITION_STATES])])
        .makeOptionMandatory(),
    )
    .action(
      async (opts: {
        redis: string;
        cluster: string;
        node?: string;
        disk?: string;
        partition?: number;
        state: string;
      }) => {
        await withRedis(opts.redis, fail, async () => {
          const target = stateTarget(opts);
          const stored = await pullLayout(opts.redis, opts.cluster);
          const map = await RedisClusterMap.connect({
            url: opts.redis,
            clusterName: opts.cluster,
            localDatacenter: stored.layout.datacenters[0]!.name,
            livenessIntervalMs: 0,
          });
          try {
            const changed = target(map);
            await map.settled();
            process.stdout.write(
              changed
                ? `set ${describeTarget(opts)} to ${opts.state}\n`
                : `${describeTarget(opts)} already ${opts.state}\n`,
            );
          } finally {
            await map.close();
          }
        });
      },
    );

  redisOptions(
    program
      .command('add-partitions')
      .description(
        'add partitions to the layout in Redis, placed rack-aware on the existing disks (raises the version; every map reloads)',
      ),
  )
    .requiredOption('--count <n>', 'how many partitions to add', integer(1))
    .option(
      '--replicas-per-dc <n>',
      'replicas in each datacenter (default: as most existing partitions)',
      integer(1),
    )
    .option(
      '--replica-capacity <bytes>',
      'capacity of each replica (default: as the last partition)',
      integer(1),
    )
    .action(
      async (opts: {
        redis: string;
        cluster: string;
        count: number;
        replicasPerDc?: number;
        replicaCapacity?: number;
      }) => {
        await withRedis(opts.redis, fail, async () => {
          const stored = await addPartitionsInRedis(opts.redis, opts.cluster, {
            count: opts.count,
            ...(opts.replicasPerDc === undefined ? {} : { replicasPerDc: opts.replicasPerDc }),
            ...(opts.replicaCapacity === undefined ? {} : { replicaCapacityBytes: opts.replicaCapacity }),
          });
          const ids = stored.partitions.partitions.slice(-opts.count).map((p) => p.id);
          process.stdout.write(
            `added partitions ${ids[0]}..${ids.at(-1)}; layout version ${stored.version}: ${describeLayout(stored.layout)}\n`,
          );
        });
      },
    );
}

async function loadFiles(dir: string) {
  const layout = await loadLayout(dir);
  const read = async (name: string) => JSON.parse(await readFile(join(dir, name), 'utf8'));
  // loadLayout validated both files, so they parse.
  return { layout, hardware: await read('hardware.json'), partitions: await read('partitions.json') };
}

function describeTarget(opts: { node?: string; disk?: string; partition?: number }): string {
  if (opts.partition !== undefined) return `partition ${opts.partition}`;
  if (opts.disk !== undefined) return `disk ${opts.node}${opts.disk}`;
  return `node ${opts.node}`;
}

function stateTarget(opts: {
  node?: string;
  disk?: string;
  partition?: number;
  state: string;
}): (map: RedisClusterMap) => boolean {
  const { node, disk, partition, state } = opts;
  const allowed = (list: readonly string[], what: string) => {
    if (!list.includes(state))
      throw new ClusterMapError(`a ${what} state is one of ${list.join(', ')}, not "${state}"`);
  };
  if (partition !== undefined) {
    if (node !== undefined || disk !== undefined)
      throw new ClusterMapError('give --partition alone, or --node (and --disk)');
    allowed(PARTITION_STATES, 'partition');
    return (map) => map.setPartitionState(partition, state as PartitionState);
  }
  if (node === undefined) throw new ClusterMapError('give --node, --node with --disk, or --partition');
  if (disk !== undefined) {
    allowed(DISK_STATES, 'disk');
    return (map) => map.setDiskState(node, disk, state as DiskState);
  }
  allowed(NODE_STATES, 'node');
  return (map) => map.setNodeState(node, state as NodeState);
}
