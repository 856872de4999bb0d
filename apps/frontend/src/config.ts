import { RouterConfigError, type RouterConfigInput, resolveRouterConfig } from '@ambry/router';
import { ConfigError, envName, loadServiceConfig, parseServiceConfig } from '@ambry/service-kit';
import { z } from 'zod';

/**
 * The frontend's configuration: a JSON file, then `AMBRY_*` environment variables on top (the key in
 * UPPER_SNAKE_CASE: `maxBlobBytes` ← `AMBRY_MAX_BLOB_BYTES`; `router` ← `AMBRY_ROUTER` as JSON).
 * Validated at start, the router's part by the router itself; a bad value stops the process with a
 * message naming the key. The README's table lists every key.
 */

const KiB = 1024;
const GiB = 1024 * 1024 * KiB;

const fields = z
  .object({
    port: z.number().int().min(0).max(65_535).default(1174),
    host: z.string().min(1).default('127.0.0.1'),
    /** Static cluster map directory (hardware.json + partitions.json). */
    clusterMapDir: z.string().min(1),
    /** The local datacenter's name in the map: where puts go and gets start. */
    datacenter: z.string().min(1),
    /** Passed to the router, which validates it (keys reported as `router.<key>`). */
    router: z.record(z.string(), z.unknown()).default({}),
    /** Total bytes of the `x-ambry-um-*` names (without the prefix) and values of one upload. */
    maxUserMetadataBytes: z
      .number()
      .int()
      .min(0)
      .max(64 * KiB)
      .default(64 * KiB),
    /** Largest blob accepted; beyond it (declared or counted while streaming): 413. */
    maxBlobBytes: z
      .number()
      .int()
      .min(1)
      .max(Number.MAX_SAFE_INTEGER)
      .default(5 * GiB),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Whole-request receive limit (node's server.requestTimeout); 0 = none, uploads of any length. */
    requestTimeoutMs: z.number().int().min(0).default(0),
    /** An upload whose body stalls this long is cut off (408, connection closed). */
    bodyIdleTimeoutMs: z.number().int().min(1).default(30_000),
    /** Longest `GET /healthCheck` waits for the router's probe before answering 503. */
    healthCheckTimeoutMs: z.number().int().min(1).default(2_000),
    /** How long `stop()` (SIGTERM) lets requests in flight finish before closing their connections. */
    shutdownTimeoutMs: z.number().int().min(0).default(10_000),
  })
  .strict();

export type FrontendConfig = Omit<z.output<typeof fields>, 'router'> & { router: RouterConfigInput };
export type FrontendConfigInput = z.input<typeof fields>;

export { ConfigError, envName };

/** The router's problems with its part, as `router.<key>: problem`: the router judges it itself. */
function routerProblems(router: unknown): string[] {
  if (typeof router !== 'object' || router === null || Array.isArray(router)) return [];
  try {
    resolveRouterConfig(router as RouterConfigInput);
    return [];
  } catch (error) {
    if (!(error instanceof RouterConfigError)) throw error;
    return error.problems.map((problem) => `router.${problem}`);
  }
}

const settings = {
  name: 'frontend',
  // The router judges its own part, so its rules (cross-checks included) live in one place.
  check: (merged: Record<string, unknown>, parsed: z.output<typeof fields> | undefined) =>
    routerProblems(parsed === undefined ? merged.router : parsed.router),
};

/** Validates a config object (file contents; `env` overrides applied on top). */
export function parseConfig(input: unknown, env: NodeJS.ProcessEnv = {}): FrontendConfig {
  return parseServiceConfig(fields, input, { ...settings, env }) as FrontendConfig;
}

/** Reads the JSON file (optional: everything may come from the environment) and applies the environment. */
export async function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv): Promise<FrontendConfig> {
  return (await loadServiceConfig(fields, { ...settings, file, env })) as FrontendConfig;
}
