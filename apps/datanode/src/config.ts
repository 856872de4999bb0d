import {
  ReplicationConfigError,
  type ReplicationConfigInput,
  resolveReplicationConfig,
} from '@ambry/replication';
import { ConfigError, envName, loadServiceConfig, parseServiceConfig } from '@ambry/service-kit';
import { z } from 'zod';

/**
 * The datanode's configuration: a JSON file, then `AMBRY_*` environment variables on top (the key in
 * UPPER_SNAKE_CASE: `adminPort` ← `AMBRY_ADMIN_PORT`; lists comma-separated; `replication` ←
 * `AMBRY_REPLICATION` as JSON). Validated at start, the replication part by the replication engine
 * itself; a bad value stops the process with a message naming the key. The README's table lists every key.
 */

const KiB = 1024;
const MiB = 1024 * KiB;

const port = z.number().int().min(0).max(65_535);

const fields = z
  .object({
    /** Which node of the cluster map this process is: its `host:port`. */
    node: z.string().regex(/^[^:\s]+:\d+$/, 'expected host:port'),
    /** Address to listen on (default: the node's host). Port 0 in tests is not allowed: the map fixes it. */
    listenHost: z.string().min(1).optional(),
    /** Admin HTTP port (default: the node's adminPort in the map). */
    adminPort: port.optional(),
    /** Static cluster map directory (hardware.json + partitions.json). */
    clusterMapDir: z.string().min(1).optional(),
    /** Redis cluster map instead: URL and cluster name. */
    redisUrl: z.string().min(1).optional(),
    clusterName: z.string().min(1).optional(),
    /** Redis mode: this node's datacenter name (the static map finds it in the files). */
    datacenter: z.string().min(1).optional(),
    /** Mount paths this node serves; when given they must be exactly the node's disks in the map. */
    disks: z.array(z.string().min(1)).min(1).optional(),
    durability: z.enum(['group-commit', 'interval']).default('group-commit'),
    syncIntervalMs: z.number().int().positive().default(1000),
    /** Log segment size of new replicas (default: min(replica capacity, 1 GiB)). */
    segmentBytes: z
      .number()
      .int()
      .min(4 * KiB)
      .optional(),
    maxFrameBytes: z
      .number()
      .int()
      .min(64 * KiB)
      .default(64 * MiB),
    maxInFlightPerConnection: z.number().int().min(1).default(64),
    maxConnections: z.number().int().min(1).default(1024),
    /** Blob bytes held by requests in progress (PUT payloads, GET responses); beyond it: SERVER_BUSY. */
    maxBufferedBytes: z
      .number()
      .int()
      .min(MiB)
      .default(512 * MiB),
    /** How long SIGTERM waits for in-flight requests. */
    shutdownTimeoutMs: z.number().int().min(0).default(10_000),
    /** I/O errors from one disk's stores before the disk is marked failed. */
    diskErrorThreshold: z.number().int().min(1).default(1),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Pull-based replication from the peers sharing this node's partitions (@ambry/replication). */
    replicationEnabled: z.boolean().default(true),
    /** Passed to the replication engine, which validates it (keys reported as `replication.<key>`). */
    replication: z.record(z.string(), z.unknown()).default({}),
    /** Test only: every store goes through a FaultyIo and the admin port takes POST /test/disk-fault. */
    testFaultInjection: z.boolean().default(false),
  })
  .strict();

const schema = fields.superRefine((c, ctx) => {
  const staticMap = c.clusterMapDir !== undefined;
  const redisMap = c.redisUrl !== undefined || c.clusterName !== undefined;
  if (staticMap === redisMap) {
    ctx.addIssue({
      code: 'custom',
      path: ['clusterMapDir'],
      message: 'set either clusterMapDir, or redisUrl and clusterName',
    });
  } else if (
    redisMap &&
    (c.redisUrl === undefined || c.clusterName === undefined || c.datacenter === undefined)
  ) {
    ctx.addIssue({
      code: 'custom',
      path: ['redisUrl'],
      message: 'a Redis cluster map needs redisUrl, clusterName and datacenter',
    });
  }
});

export type DataNodeConfig = Omit<z.output<typeof schema>, 'replication'> & {
  replication: ReplicationConfigInput;
};
export type DataNodeConfigInput = Omit<z.input<typeof schema>, 'replication'> & {
  replication?: ReplicationConfigInput;
};

export { ConfigError, envName };

/** The engine's problems with its part, as `replication.<key>: problem`: it judges its own config. */
function replicationProblems(replication: unknown): string[] {
  if (typeof replication !== 'object' || replication === null || Array.isArray(replication)) return [];
  try {
    resolveReplicationConfig(replication as ReplicationConfigInput);
    return [];
  } catch (error) {
    if (!(error instanceof ReplicationConfigError)) throw error;
    return error.problems.map((problem) => `replication.${problem}`);
  }
}

const settings = {
  name: 'datanode',
  check: (merged: Record<string, unknown>, parsed: z.output<typeof schema> | undefined) =>
    replicationProblems(parsed === undefined ? merged.replication : parsed.replication),
};

/** Validates a config object (file contents with env overrides applied). */
export function parseConfig(input: unknown, env: NodeJS.ProcessEnv = {}): DataNodeConfig {
  return parseServiceConfig(schema, input, { ...settings, env }) as DataNodeConfig;
}

/** Reads the JSON file (optional: everything may come from the environment) and applies the environment. */
export async function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv): Promise<DataNodeConfig> {
  return (await loadServiceConfig(schema, { ...settings, file, env })) as DataNodeConfig;
}
