/**
 * Router benchmark: PUT and GET of 4 KiB and 16 MiB blobs through the Router (TCP, quorum 2 of 3
 * replicas, chunking at the router's default 4 MiB) against three real datanode processes, at 1 and 16
 * operations in flight; and, in the same run, the same requests sent straight to ONE datanode with a
 * DataNodeClient (blob ids and properties made as the router makes them; a 16 MiB direct PUT is one
 * 16 MiB blob). Per case: ops/s, MB/s (MB = 2^20 bytes), p50/p99 latency in ms, and `*_ratio` =
 * router ops/s ÷ direct ops/s. The ratio is what the router costs: three replicas written instead of
 * one, chunking, quorum bookkeeping.
 *
 *   pnpm --filter @ambry/router bench              table
 *   pnpm --filter @ambry/router bench --json       one JSON object (progress goes to stderr)
 *   --seconds S       time limit per case (default 3)
 *   --small-ops N     most 4 KiB operations per case (default 20,000)
 *   --large-ops N     most 16 MiB operations per case (default 24)
 *   --partitions P    partitions of the map (default 4)
 *
 * Every case is bounded by both its count and its time: a worker starts no operation past either.
 * GETs read blobs the PUT cases of the same side wrote (whole, every byte counted). All processes are
 * on one machine, so router, client and three datanodes share its cores. The cluster lives in a temp
 * dir, removed at the end; the datanodes are stopped by pid.
 */
import { randomBytes } from 'node:crypto';
import type { StaticClusterMap } from '@ambry/clustermap';
import { BlobId, BlobIdType, DataNodeClient, GetPart } from '@ambry/protocol';
import {
  benchArgs,
  benchBlobProperties,
  count,
  type Measurement,
  measure,
  percentiles,
  printReport,
  progress,
} from '../../../test-support/bench.js';
import { DatanodeCluster } from '../../../test-support/datanode-cluster.js';
import { Router } from '../src/router.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZES = [
  { name: '4k', bytes: 4 * KiB },
  { name: '16m', bytes: 16 * MiB },
] as const;
const CONCURRENCY = [1, 16] as const;
const WARMUP_OPS = 20;

const note = progress('router bench');

function summarize(prefix: string, m: Measurement): Record<string, number> {
  const { p50, p99 } = percentiles(m.latenciesMs);
  return {
    [`${prefix}_ops`]: m.ops / m.seconds,
    [`${prefix}_mbps`]: m.bytes / MiB / m.seconds,
    [`${prefix}_p50_ms`]: p50,
    [`${prefix}_p99_ms`]: p99,
    [`${prefix}_count`]: m.ops,
  };
}

const properties = (blobSize: number) => benchBlobProperties('router-bench', blobSize);

/** The operations of one side (router or direct), by size. */
interface Side {
  put(blob: Buffer): Promise<BlobId>;
  /** The blob's bytes read, whole. */
  get(id: BlobId): Promise<number>;
}

function routerSide(router: Router): Side {
  return {
    put: (blob) => router.put({ properties: properties(blob.length), userMetadata: {}, blob }),
    get: async (id) => {
      const got = await router.get(id);
      let read = 0;
      for await (const part of got.blob) read += (part as Buffer).length;
      return read;
    },
  };
}

/**
 * Straight to one datanode, as the router's put-operation.ts builds a simple blob: a SIMPLE id on a
 * random writable partition with the local datacenter's id and the blob's account and container.
 */
function directSide(
  client: DataNodeClient,
  map: StaticClusterMap,
  node: { host: string; port: number },
): Side {
  const partitions = map.writablePartitions();
  return {
    put: async (blob) => {
      const props = properties(blob.length);
      const blobId = BlobId.generate({
        type: BlobIdType.SIMPLE,
        partitionId: partitions[Math.floor(Math.random() * partitions.length)]!.id,
        datacenterId: map.localDatacenter.id,
        accountId: props.accountId,
        containerId: props.containerId,
      });
      await client.put(node, { blobId, properties: props, userMetadata: {}, blob });
      return blobId;
    },
    get: async (blobId) => (await client.get(node, { blobId, part: GetPart.ALL })).blob.byteLength,
  };
}

async function runCases(
  sides: Record<'router' | 'direct', Side>,
  options: { seconds: number; smallOps: number; largeOps: number },
): Promise<Record<string, number>> {
  const results: Record<string, number> = {};
  for (const size of SIZES) {
    // A few distinct payloads: the content does not matter to the cost, only the size.
    const payloads = Array.from({ length: 4 }, () => randomBytes(size.bytes));
    const maxOps = size.bytes > 64 * KiB ? options.largeOps : options.smallOps;
    const stored: Record<string, BlobId[]> = { router: [], direct: [] };
    for (const kind of ['put', 'get'] as const) {
      for (const concurrency of CONCURRENCY) {
        const name = `${kind}_${size.name}_c${concurrency}`;
        // Router and direct back to back, so both see the same machine state (page cache, log sizes).
        for (const side of ['router', 'direct'] as const) {
          note(`${side} ${name}`);
          const ids = stored[side]!;
          const op =
            kind === 'put'
              ? async (i: number) => {
                  ids.push(await sides[side].put(payloads[i % payloads.length]!));
                  return size.bytes;
                }
              : async (i: number) => {
                  const read = await sides[side].get(ids[i % ids.length]!);
                  if (read !== size.bytes)
                    throw new Error(`${side} GET read ${read} bytes, not ${size.bytes}`);
                  return read;
                };
          Object.assign(
            results,
            summarize(
              `${side}_${name}`,
              await measure({ seconds: options.seconds, concurrency, maxOps, latencies: true }, op),
            ),
          );
        }
        results[`${name}_ratio`] = results[`router_${name}_ops`]! / results[`direct_${name}_ops`]!;
      }
    }
  }
  return results;
}

async function runBench(options: {
  seconds: number;
  smallOps: number;
  largeOps: number;
  partitions: number;
}) {
  const cluster = await DatanodeCluster.create({
    nodesPerDc: 3,
    replicasPerDc: 3,
    disksPerNode: 1,
    partitions: options.partitions,
    // Not preallocated: the capacity only bounds how far a replica's log may grow.
    replicaCapacityBytes: 16 * 1024 * MiB,
    // A 16 MiB direct blob (plus its record header) must fit in one log segment.
    segmentBytes: 256 * MiB,
  });
  let router: Router | undefined;
  const client = new DataNodeClient({ clientId: 'router-bench', requestTimeoutMs: 30_000 });
  try {
    note(`starting 3 datanodes in ${cluster.root}`);
    await cluster.start();
    const map = await cluster.loadClusterMap();
    router = Router.create({ clusterMap: map, config: { requestTimeoutMs: 30_000 } });
    const target = cluster.nodes[0]!;
    const sides = {
      router: routerSide(router),
      direct: directSide(client, map, { host: target.host, port: target.port }),
    };
    // Warm-up: connections opened and the code paths compiled before anything is timed.
    const warm = randomBytes(4 * KiB);
    for (let i = 0; i < WARMUP_OPS; i++) {
      await sides.router.get(await sides.router.put(warm));
      await sides.direct.get(await sides.direct.put(warm));
    }
    const measured = await runCases(sides, options);
    return {
      benchmark: '@ambry/router',
      node_version: process.version,
      datanodes: 3,
      replicas_per_partition: 3,
      put_success_target: router.config.putSuccessTarget,
      chunk_bytes: router.config.chunkBytes,
      partitions: options.partitions,
      seconds_per_case: options.seconds,
      max_small_ops_per_case: options.smallOps,
      max_large_ops_per_case: options.largeOps,
      direct_target: 'one datanode, DataNodeClient PUT/GET, one blob per request',
      ...measured,
    };
  } finally {
    await router?.close().catch(() => {});
    await client.close().catch(() => {});
    await cluster.destroy();
  }
}

async function main(): Promise<void> {
  const values = benchArgs({
    'small-ops': { type: 'string', default: '20000' },
    'large-ops': { type: 'string', default: '24' },
    partitions: { type: 'string', default: '4' },
  });
  const report = await runBench({
    seconds: values.seconds,
    smallOps: count(values['small-ops'], 'small-ops', 1, 1_000_000),
    largeOps: count(values['large-ops'], 'large-ops', 1, 1000),
    partitions: count(values.partitions, 'partitions', 1, 64),
  });
  printReport(report, values.json);
}

await main();
