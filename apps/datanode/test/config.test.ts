import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { configProblems as problems } from '@ambry/service-kit';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../src/config.js';

// How a file and AMBRY_* variables become a config (typing, unknown keys, file errors) is tested in
// packages/service-kit; these are the datanode's own keys.

const BASE = { node: '127.0.0.1:6667', clusterMapDir: '/etc/ambry/map' };

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
      replicationEnabled: true,
      replication: {},
    });
  });

  it('lets the replication engine judge its part, reported as replication.<key>', () => {
    expect(
      problems(() =>
        parseConfig({
          ...BASE,
          replication: {
            intraDc: { batchPartitions: 0 },
            pollMs: 5,
            idleBackoffMinMs: 10,
            idleBackoffMaxMs: 5,
          },
        }),
      ).toSorted(),
    ).toEqual([
      'replication.intraDc.batchPartitions: Too small: expected number to be >=1',
      'replication.pollMs: unknown key',
    ]);
    expect(
      problems(() => parseConfig({ ...BASE, replication: { idleBackoffMinMs: 10, idleBackoffMaxMs: 5 } })),
    ).toEqual(['replication.idleBackoffMaxMs: must be at least idleBackoffMinMs (10)']);
    const config = parseConfig(BASE, {
      AMBRY_REPLICATION: '{"intraDc":{"fetchParallelism":2}}',
      AMBRY_REPLICATION_ENABLED: 'false',
    });
    expect(config.replication).toEqual({ intraDc: { fetchParallelism: 2 } });
    expect(config.replicationEnabled).toBe(false);
  });

  it('names every bad key, with the environment variable it came from', () => {
    const found = problems(() =>
      parseConfig({ ...BASE, maxConnections: 0, durability: 'sometimes' }, { AMBRY_ADMIN_PORT: 'abc' }),
    );
    expect(found.some((p) => p.startsWith('maxConnections:'))).toBe(true);
    expect(found.some((p) => p.startsWith('durability:'))).toBe(true);
    expect(found.some((p) => p.startsWith('adminPort (from AMBRY_ADMIN_PORT):'))).toBe(true);
    expect(problems(() => parseConfig({ ...BASE, maxConection: 3 }))).toEqual([
      'maxConection: not a datanode configuration key',
    ]);
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

  it('loads a file with the environment on top, and names the datanode in its errors', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'dn-config-'));
    try {
      const file = path.join(dir, 'datanode.json');
      await fs.writeFile(file, JSON.stringify(BASE));
      expect((await loadConfig(file, { AMBRY_LOG_LEVEL: 'debug' })).logLevel).toBe('debug');
      const bad = loadConfig(path.join(dir, 'missing.json'), {});
      await expect(bad).rejects.toBeInstanceOf(ConfigError);
      await expect(bad).rejects.toThrow(
        /^invalid datanode configuration:\n {2}.*missing\.json: cannot be read/,
      );
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
