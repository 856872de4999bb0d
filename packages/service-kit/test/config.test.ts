import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ConfigError,
  configProblems,
  envName,
  envValue,
  fieldKind,
  loadServiceConfig,
  parseServiceConfig,
} from '../src/index.js';

const schema = z
  .object({
    name: z.string().min(1),
    port: z.number().int().min(0).max(65_535).default(80),
    maxInFlight: z.number().int().min(1).optional(),
    verbose: z.boolean().default(false),
    disks: z.array(z.string().min(1)).min(1).optional(),
    extra: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

const parse = (input: unknown, env: NodeJS.ProcessEnv = {}) =>
  parseServiceConfig(schema, input, { name: 'test', env });

describe('environment variables', () => {
  it('name keys in UPPER_SNAKE_CASE after AMBRY_', () => {
    expect(envName('port')).toBe('AMBRY_PORT');
    expect(envName('maxInFlightPerConnection')).toBe('AMBRY_MAX_IN_FLIGHT_PER_CONNECTION');
    expect(envName('maxUserMetadataBytes')).toBe('AMBRY_MAX_USER_METADATA_BYTES');
  });

  it('are typed by the kind of the key under optional and default', () => {
    expect(fieldKind(schema.shape.port)).toBe('number');
    expect(fieldKind(schema.shape.maxInFlight)).toBe('number');
    expect(fieldKind(schema.shape.disks)).toBe('array');
    expect(fieldKind(schema.shape.extra)).toBe('record');
    expect(envValue(schema.shape.port, '8080')).toBe(8080);
    expect(envValue(schema.shape.port, ' ')).toBeNaN();
    expect(envValue(schema.shape.verbose, 'true')).toBe(true);
    expect(envValue(schema.shape.verbose, 'false')).toBe(false);
    expect(envValue(schema.shape.verbose, 'yes')).toBe('yes');
    expect(envValue(schema.shape.disks, '/d1, /d2')).toEqual(['/d1', '/d2']);
    expect(envValue(schema.shape.extra, '{"a": 1}')).toEqual({ a: 1 });
    expect(envValue(schema.shape.extra, '{ nope')).toBe('{ nope');
    expect(envValue(schema.shape.name, '42')).toBe('42');
    expect(envValue(undefined, '42')).toBe('42');
  });

  it('override the file, typed', () => {
    expect(
      parse(
        { name: 'a', port: 1 },
        {
          AMBRY_PORT: '8080',
          AMBRY_NAME: 'b',
          AMBRY_VERBOSE: 'true',
          AMBRY_DISKS: '/d1, /d2',
          AMBRY_EXTRA: '{"requestTimeoutMs": 1000}',
        },
      ),
    ).toEqual({
      name: 'b',
      port: 8080,
      verbose: true,
      disks: ['/d1', '/d2'],
      extra: { requestTimeoutMs: 1000 },
    });
  });
});

describe('parseServiceConfig', () => {
  it('fills in the defaults and leaves the input alone', () => {
    const input = { name: 'a' };
    expect(parse(input)).toEqual({ name: 'a', port: 80, verbose: false, extra: {} });
    expect(parse(input, { AMBRY_PORT: '1' }).port).toBe(1);
    expect(input).toEqual({ name: 'a' });
  });

  it('names every bad key, with the environment variable it came from', () => {
    const found = configProblems(() => parse({ port: 70_000 }, { AMBRY_MAX_IN_FLIGHT: 'abc' }));
    expect(found.some((p) => p.startsWith('name:'))).toBe(true);
    expect(found.some((p) => p.startsWith('port:'))).toBe(true);
    expect(found.some((p) => p.startsWith('maxInFlight (from AMBRY_MAX_IN_FLIGHT):'))).toBe(true);
    expect(found).toHaveLength(3);
  });

  it('names nested keys by their path', () => {
    expect(configProblems(() => parse({ name: 'a', disks: ['/d1', ''] }))[0]).toMatch(/^disks\.1: /);
  });

  it('refuses unknown keys; reports unknown AMBRY_ variables without refusing them', () => {
    expect(configProblems(() => parse({ name: 'a', prot: 3 }))).toEqual([
      'prot: not a test configuration key',
    ]);
    const told: Array<[readonly string[], string]> = [];
    const parsed = parseServiceConfig(
      schema,
      { name: 'a' },
      {
        name: 'test',
        env: { AMBRY_PROT: '3', AMBRY_PORT: '81', PATH: '/bin' },
        onUnknownEnv: (variables, name) => told.push([variables, name]),
      },
    );
    expect(parsed.port).toBe(81);
    expect(told).toEqual([[['AMBRY_PROT'], 'test']]);
    expect(parse({ name: 'a' }, { PATH: '/bin', HOME: '/root' }).name).toBe('a');
  });

  it('needs a JSON object', () => {
    for (const input of [null, [], 'x', 3]) {
      expect(configProblems(() => parse(input))).toEqual(['the configuration must be a JSON object']);
    }
  });

  it('reports refinements and the problems of a check with its own', () => {
    const refined = schema.superRefine((c, ctx) => {
      if (c.verbose && c.port === 80) {
        ctx.addIssue({ code: 'custom', path: ['verbose'], message: 'not on port 80' });
      }
    });
    const seen: unknown[] = [];
    const check = (merged: Record<string, unknown>, parsed: z.output<typeof schema> | undefined) => {
      seen.push(parsed === undefined ? merged.extra : parsed.extra);
      return ['extra.x: bad'];
    };
    expect(
      configProblems(() => parseServiceConfig(refined, { name: 'a', verbose: true }, { name: 'test' })),
    ).toEqual(['verbose: not on port 80']);
    // The check runs whether or not the schema passed, on what it has.
    expect(
      configProblems(() =>
        parseServiceConfig(schema, { port: -1, extra: { x: 1 } }, { name: 'test', check }),
      ).slice(-1),
    ).toEqual(['extra.x: bad']);
    expect(configProblems(() => parseServiceConfig(schema, { name: 'a' }, { name: 'test', check }))).toEqual([
      'extra.x: bad',
    ]);
    expect(seen).toEqual([{ x: 1 }, {}]);
  });

  it('throws a ConfigError that names the service and lists the problems', () => {
    try {
      parse({ prot: 3 });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const e = error as ConfigError;
      expect(e.name).toBe('ConfigError');
      expect(e.service).toBe('test');
      expect(e.message).toBe(`invalid test configuration:\n  ${e.problems.join('\n  ')}`);
    }
    expect(new ConfigError(['a: b']).message).toBe('invalid configuration:\n  a: b');
    expect(() => configProblems(() => 1)).toThrow(/expected a ConfigError/);
    expect(() =>
      configProblems(() => {
        throw new Error('other');
      }),
    ).toThrow('other');
  });
});

describe('loadServiceConfig', () => {
  it('reads a JSON file, applies the environment, and names the file when unreadable or invalid', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'service-kit-config-'));
    try {
      const good = path.join(dir, 'good.json');
      await fs.writeFile(good, JSON.stringify({ name: 'a', port: 9000 }));
      expect(
        await loadServiceConfig(schema, { name: 'test', file: good, env: { AMBRY_VERBOSE: 'true' } }),
      ).toEqual({ name: 'a', port: 9000, verbose: true, extra: {} });
      const bad = path.join(dir, 'bad.json');
      await fs.writeFile(bad, '{ nope');
      await expect(loadServiceConfig(schema, { name: 'test', file: bad })).rejects.toThrow(
        /bad\.json: not valid JSON/,
      );
      const missing = loadServiceConfig(schema, { name: 'test', file: path.join(dir, 'missing.json') });
      await expect(missing).rejects.toThrow(/missing\.json: cannot be read \(ENOENT\)/);
      await expect(missing).rejects.toBeInstanceOf(ConfigError);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('takes everything from the environment without a file', async () => {
    expect(
      await loadServiceConfig(schema, { name: 'test', file: undefined, env: { AMBRY_NAME: 'x' } }),
    ).toEqual({
      name: 'x',
      port: 80,
      verbose: false,
      extra: {},
    });
  });
});
