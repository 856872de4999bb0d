#!/usr/bin/env node
/**
 * ambry-clustermap: generate and validate cluster map files, and keep the map in Redis (push, pull,
 * set-state, add-partitions). Exit codes: 0 success, 1 invalid map, unreachable Redis,
 * impossible shape or bad flags.
 */
import { resolve } from 'node:path';
import { Command } from 'commander';
import { describeLayout, replicaBalance } from './balance.js';
import { integer } from './cli-options.js';
import { addRedisCommands } from './cli-redis.js';
import { ClusterMapError, LayoutValidationError } from './errors.js';
import { GENERATOR_DEFAULTS, generateLayout } from './generator.js';
import { buildLayout, loadLayout } from './load.js';
import { writeLayoutFiles } from './write-files.js';

function list(value: string): string[] {
  return value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
}

function fail(error: unknown): void {
  if (error instanceof LayoutValidationError) {
    for (const problem of error.problems) process.stderr.write(`${problem.message}\n`);
    process.stderr.write(`${error.problems.length} problem${error.problems.length === 1 ? '' : 's'}\n`);
  } else if (error instanceof ClusterMapError) {
    process.stderr.write(`error: ${error.message}\n`);
  } else {
    throw error;
  }
  process.exitCode = 1;
}

function buildProgram(): Command {
  const program = new Command('ambry-clustermap')
    .description(
      'Generate and validate the cluster map files (hardware.json, partitions.json) and keep them in Redis',
    )
    .showHelpAfterError();

  program
    .command('generate')
    .description('write hardware.json and partitions.json with rack-aware replica placement')
    .requiredOption(
      '--datacenters <names>',
      'comma-separated datacenter names (ids 0, 1, ... in this order)',
      list,
    )
    .requiredOption('--nodes-per-dc <n>', 'data nodes in each datacenter', integer(1))
    .requiredOption('--disks-per-node <n>', 'disks on each node', integer(1))
    .option('--racks-per-dc <n>', 'racks in each datacenter (default: one per node)', integer(1))
    .requiredOption('--partitions <n>', 'number of partitions', integer(0))
    .requiredOption('--replicas-per-dc <n>', 'replicas of each partition in each datacenter', integer(1))
    .option('--host <host>', 'host of every node', GENERATOR_DEFAULTS.host)
    .option(
      '--base-port <port>',
      'port of the first node; the others follow',
      integer(1),
      GENERATOR_DEFAULTS.basePort,
    )
    .option(
      '--admin-port-offset <n>',
      'admin port = port + offset',
      integer(-65_535),
      GENERATOR_DEFAULTS.adminPortOffset,
    )
    .option('--cluster-name <name>', 'cluster name', GENERATOR_DEFAULTS.clusterName)
    .option(
      '--disk-capacity <bytes>',
      'capacity of each disk',
      integer(1),
      GENERATOR_DEFAULTS.diskCapacityBytes,
    )
    .option(
      '--replica-capacity <bytes>',
      'capacity of each replica',
      integer(1),
      GENERATOR_DEFAULTS.replicaCapacityBytes,
    )
    .option(
      '--mount-path-prefix <path>',
      'disks are mounted at <prefix>/<port>/disk<k>',
      GENERATOR_DEFAULTS.mountPathPrefix,
    )
    .option(
      '--first-partition-id <id>',
      'id of the first partition',
      integer(0),
      GENERATOR_DEFAULTS.firstPartitionId,
    )
    .requiredOption('--out <dir>', 'directory to write the two files to (created if missing)')
    .action(async (opts) => {
      try {
        const files = generateLayout({
          datacenters: opts.datacenters,
          nodesPerDc: opts.nodesPerDc,
          disksPerNode: opts.disksPerNode,
          racksPerDc: opts.racksPerDc,
          partitions: opts.partitions,
          replicasPerDc: opts.replicasPerDc,
          clusterName: opts.clusterName,
          host: opts.host,
          basePort: opts.basePort,
          adminPortOffset: opts.adminPortOffset,
          diskCapacityBytes: opts.diskCapacity,
          replicaCapacityBytes: opts.replicaCapacity,
          mountPathPrefix: opts.mountPathPrefix,
          firstPartitionId: opts.firstPartitionId,
        });
        // Validate what we are about to write: the generator must never produce a map `validate` rejects.
        const layout = buildLayout(files.hardware, files.partitions);
        const out = resolve(opts.out);
        await writeLayoutFiles(out, files);
        process.stdout.write(`wrote ${out}/hardware.json and partitions.json: ${describeLayout(layout)}\n`);
        for (const b of replicaBalance(layout)) {
          process.stdout.write(
            `${b.datacenter}: replicas per disk min ${b.minPerDisk} max ${b.maxPerDisk} (${b.replicas} replicas on ${b.disks} disks)\n`,
          );
        }
      } catch (error) {
        fail(error);
      }
    });

  program
    .command('validate')
    .description('load DIR/hardware.json and DIR/partitions.json and report every problem')
    .argument('<dir>', 'directory holding the two files')
    .action(async (dir: string) => {
      try {
        const layout = await loadLayout(resolve(dir));
        process.stdout.write(
          `ok: ${describeLayout(layout)} (hardware v${layout.hardwareVersion}, partitions v${layout.partitionsVersion})\n`,
        );
      } catch (error) {
        fail(error);
      }
    });

  addRedisCommands(program, fail);
  return program;
}

await buildProgram().parseAsync(process.argv);
