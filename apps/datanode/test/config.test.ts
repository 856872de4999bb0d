import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, envName, loadConfig, parseConfig } from '../src/config.js';

const BASE = { node: '127.0.0.1:6667', clusterMapDir: '/etc/ambry/map' };

function problems(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('datanode configuration', () => {
  it('fills in the documented defaults', () => {
    const config = parseConfig(BASE);
    expect(config).toMatchObject({
      durability: 'group-commit',
      maxFrameBytes: 64 * 1024 * 1024,
      maxInFlightPerConnection: 64,
      maxConnections: 1024,
      maxBufferedBytes: 512 * 1024 * 1024,
      shutdownTimeoutMs: 10_000,
      testFaultInjection: false,
    });
  });

  it('names every bad key, with the environment variable it came from', () => {
    const found = problems(() =>
      parseConfig({ ...BASE, maxConnections: 0, durability: 'sometimes' }, { AMBRY_ADMIN_PORT: 'abc' }),
    );
    expect(found.some((p) => p.startsWith('maxConnections:'))).toBe(true);
    expect(found.some((p) => p.startsWith('durability:'))).toBe(true);
    expect(found.some((p) => p.startsWith('adminPort (from AMBRY_ADMIN_PORT):'))).toBe(true);
  });

  it('applies typed environment overrides over the file', () => {
    const config = parseConfig(BASE, {
      AMBRY_MAX_CONNECTIONS: '12',
      AMBRY_TEST_FAULT_INJECTION: 'true',
      AMBRY_DISKS: '/d1, /d2',
      AMBRY_DURABILITY: 'interval',
    });
    expect(config).toMatchObject({
      maxConnections: 12,
      testFaultInjection: true,
      disks: ['/d1', '/d2'],
      durability: 'interval',
    });
    expect(envName('maxInFlightPerConnection')).toBe('AMBRY_MAX_IN_FLIGHT_PER_CONNECTION');
  });

  it('refuses unknown keys and unknown AMBRY_ variables', () => {
    expect(problems(() => parseConfig({ ...BASE, maxConection: 3 }))).toEqual([
      'maxConection: not a datanode configuration key',
    ]);
    expect(problems(() => parseConfig(BASE, { AMBRY_PORTT: '1' }))).toEqual([
      'AMBRY_PORTT: not a datanode configuration key',
    ]);
  });

  it('needs exactly one cluster map source, complete', () => {
    expect(problems(() => parseConfig({ node: BASE.node })).join()).toMatch(/clusterMapDir/);
    expect(
      problems(() => parseConfig({ ...BASE, redisUrl: 'redis://127.0.0.1:6379', clusterName: 'a' })).join(),
    ).toMatch(/clusterMapDir/);
    expect(problems(() => parseConfig({ node: BASE.node, redisUrl: 'redis://x' })).join()).toMatch(
      /redisUrl, clusterName and datacenter/,
    );
    expect(
      parseConfig({ node: BASE.node, redisUrl: 'redis://x', clusterName: 'a', datacenter: 'dc1' }).redisUrl,
    ).toBe('redis://x');
  });

  it('reports an unreadable or non-JSON file by name', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'dn-config-'));
    try {
      const file = path.join(dir, 'bad.json');
      await fs.writeFile(file, '{ nope');
      await expect(loadConfig(file, {})).rejects.toThrow(/bad\.json: not valid JSON/);
      await expect(loadConfig(path.join(dir, 'missing.json'), {})).rejects.toThrow(
        /missing\.json: cannot be read \(ENOENT\)/,
      );
      await fs.writeFile(file, JSON.stringify(BASE));
      expect((await loadConfig(file, { AMBRY_LOG_LEVEL: 'debug' })).logLevel).toBe('debug');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
