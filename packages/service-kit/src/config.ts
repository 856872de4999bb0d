import { readFile } from 'node:fs/promises';
import type { z } from 'zod';

/**
 * A service's configuration: a JSON file, then `AMBRY_*` environment variables on top (the key in
 * UPPER_SNAKE_CASE: `maxBlobBytes` ← `AMBRY_MAX_BLOB_BYTES`), each variable typed by its key's schema.
 * Every problem is collected and reported as `key: problem`, so one failed start names them all.
 */

/** A configuration that cannot be used; `problems` are `key: problem` lines, one per problem. */
export class ConfigError extends Error {
  /** `service` names the configuration in the message (`invalid datanode configuration: ...`). */
  constructor(
    readonly problems: readonly string[],
    readonly service?: string,
  ) {
    super(`invalid ${service === undefined ? '' : `${service} `}configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

export const ENV_PREFIX = 'AMBRY_';

/** The environment variable of a configuration key: `maxInFlight` → `AMBRY_MAX_IN_FLIGHT`. */
export function envName(key: string): string {
  return ENV_PREFIX + key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
}

/** The zod type of a field under its `.optional()` and `.default()` wrappers: `number`, `array`, ... */
export function fieldKind(field: z.ZodType): string {
  let current: z.ZodType = field;
  for (;;) {
    const def = (current as unknown as { def: { type: string; innerType?: z.ZodType } }).def;
    if ((def.type === 'optional' || def.type === 'default') && def.innerType) {
      current = def.innerType;
      continue;
    }
    return def.type;
  }
}

/**
 * The value of an environment variable for a field, typed by the field's kind: a number (blank is NaN,
 * so the schema rejects it), `true`/`false`, a comma-separated list, or JSON for an object or record.
 * A value that does not convert is passed on as the string, for the schema to name the problem.
 */
export function envValue(field: z.ZodType | undefined, raw: string): unknown {
  const kind = field === undefined ? 'string' : fieldKind(field);
  if (kind === 'number') return raw.trim() === '' ? Number.NaN : Number(raw);
  if (kind === 'boolean') return raw === 'true' ? true : raw === 'false' ? false : raw;
  if (kind === 'array') return raw.split(',').map((s) => s.trim());
  if (kind === 'record' || kind === 'object') {
    try {
      return JSON.parse(raw);
    } catch {
      return raw;
    }
  }
  return raw;
}

/** A strict zod object (refinements allowed): its keys are the configuration keys. */
export type ConfigSchema = z.ZodObject;

export interface ParseServiceConfigOptions<S extends ConfigSchema> {
  /** The service, as named in messages: `frontend` → `AMBRY_X: not a frontend configuration key`. */
  readonly name: string;
  /** `AMBRY_*` variables. Default: none. */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Told the `AMBRY_*` variables that name no key of this service. They are not errors: processes
   * started together share one environment (the local cluster passes its own to a data node and a
   * frontend, which have different keys). Default: one process warning naming them, so a typo shows.
   */
  readonly onUnknownEnv?: (variables: readonly string[], name: string) => void;
  /**
   * More problems, reported with the schema's (a part another component judges, say): `merged` is the
   * input with the environment applied, `parsed` the schema's output when it passed.
   */
  readonly check?: (merged: Record<string, unknown>, parsed: z.output<S> | undefined) => readonly string[];
}

/** Validates a config object (file contents; the environment applied on top); throws a ConfigError. */
export function parseServiceConfig<S extends ConfigSchema>(
  schema: S,
  input: unknown,
  options: ParseServiceConfigOptions<S>,
): z.output<S> {
  const { name, env = {} } = options;
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ConfigError(['the configuration must be a JSON object'], name);
  }
  const shape: Record<string, z.ZodType> = schema.shape;
  const keys = Object.keys(shape);
  const merged: Record<string, unknown> = { ...(input as Record<string, unknown>) };
  const problems: string[] = [];
  for (const key of keys) {
    const raw = env[envName(key)];
    if (raw !== undefined) merged[key] = envValue(shape[key], raw);
  }
  const unknownEnv = Object.keys(env).filter(
    (variable) => variable.startsWith(ENV_PREFIX) && !keys.some((k) => envName(k) === variable),
  );
  if (unknownEnv.length > 0) (options.onUnknownEnv ?? warnUnknownEnv)(unknownEnv, name);
  const source = (key: string) =>
    key !== '' && env[envName(key)] !== undefined ? ` (from ${envName(key)})` : '';
  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) problems.push(`${key}: not a ${name} configuration key`);
        continue;
      }
      const key = issue.path.map(String).join('.') || '(config)';
      problems.push(`${key}${source(String(issue.path[0] ?? ''))}: ${issue.message}`);
    }
  }
  if (options.check !== undefined) {
    problems.push(...options.check(merged, parsed.success ? parsed.data : undefined));
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems, name);
  return parsed.data;
}

function warnUnknownEnv(variables: readonly string[], name: string): void {
  process.emitWarning(`ignoring ${variables.join(', ')}: not ${name} configuration keys`, {
    code: 'AMBRY_UNKNOWN_ENV',
  });
}

/** The parsed JSON of a configuration file, `{}` without one; a ConfigError names the file otherwise. */
export async function readConfigFile(file: string | undefined, name?: string): Promise<unknown> {
  if (file === undefined) return {};
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(
      [`${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`],
      name,
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError([`${file}: not valid JSON (${(error as Error).message})`], name);
  }
}

export interface LoadServiceConfigOptions<S extends ConfigSchema> extends ParseServiceConfigOptions<S> {
  /** The JSON file; optional: everything may come from the environment. */
  readonly file: string | undefined;
}

/** Reads the JSON file, applies the environment and validates: `parseServiceConfig` over a file. */
export async function loadServiceConfig<S extends ConfigSchema>(
  schema: S,
  options: LoadServiceConfigOptions<S>,
): Promise<z.output<S>> {
  return parseServiceConfig(schema, await readConfigFile(options.file, options.name), options);
}

/** The problems of the ConfigError `fn` throws (for tests); any other outcome is an error. */
export function configProblems(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}
