import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, envName, loadConfig, parseConfig } from '../src/config.js';

const BASE = { clusterMapDir: '/etc/ambry/map', datacenter: 'dc1' };

function problems(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('frontend configuration', () => {
  it('fills in the documented defaults', () => {
    expect(parseConfig(BASE)).toEqual({
      ...BASE,
      port: 1174,
      host: '127.0.0.1',
      router: {},
      maxUserMetadataBytes: 64 * 1024,
      maxBlobBytes: 5 * 1024 ** 3,
      logLevel: 'info',
      requestTimeoutMs: 0,
      bodyIdleTimeoutMs: 30_000,
      healthCheckTimeoutMs: 2_000,
      shutdownTimeoutMs: 10_000,
    });
  });

  it('requires the cluster map and the datacenter', () => {
    const found = problems(() => parseConfig({}));
    expect(found.some((p) => p.startsWith('clusterMapDir:'))).toBe(true);
    expect(found.some((p) => p.startsWith('datacenter:'))).toBe(true);
  });

  it('names every bad key, with the environment variable it came from', () => {
    const found = problems(() =>
      parseConfig({ ...BASE, port: 70_000, maxBlobBytes: 0 }, { AMBRY_BODY_IDLE_TIMEOUT_MS: 'soon' }),
    );
    expect(found.some((p) => p.startsWith('port:'))).toBe(true);
    expect(found.some((p) => p.startsWith('maxBlobBytes:'))).toBe(true);
    expect(found.some((p) => p.startsWith('bodyIdleTimeoutMs (from AMBRY_BODY_IDLE_TIMEOUT_MS):'))).toBe(
      true,
    );
  });

  it('reports router problems as router.<key>, judged by the router', () => {
    const found = problems(() =>
      parseConfig({ ...BASE, router: { chunkBytes: 10, putSuccessTarget: 5, bogus: 1 } }),
    );
    expect(found.some((p) => p.startsWith('router.chunkBytes:'))).toBe(true);
    expect(found.some((p) => p.startsWith('router.putSuccessTarget:'))).toBe(true);
    expect(found).toContain('router.bogus: unknown key');
    expect(parseConfig({ ...BASE, router: { chunkBytes: 1024 * 1024 } }).router).toEqual({
      chunkBytes: 1024 * 1024,
    });
  });

  it('applies typed environment overrides over the file, the router as JSON', () => {
    const config = parseConfig(BASE, {
      AMBRY_PORT: '8080',
      AMBRY_HOST: '0.0.0.0',
      AMBRY_ROUTER: '{"requestTimeoutMs": 1000}',
      AMBRY_LOG_LEVEL: 'warn',
    });
    expect(config).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      router: { requestTimeoutMs: 1000 },
      logLevel: 'warn',
    });
    expect(envName('maxUserMetadataBytes')).toBe('AMBRY_MAX_USER_METADATA_BYTES');
  });

  it('refuses unknown keys and unknown AMBRY_ variables', () => {
    expect(problems(() => parseConfig({ ...BASE, prot: 3 }))).toEqual([
      'prot: not a frontend configuration key',
    ]);
    expect(problems(() => parseConfig(BASE, { AMBRY_PROT: '3' }))).toEqual([
      'AMBRY_PROT: not a frontend configuration key',
    ]);
  });

  it('reads a JSON file and names it when unreadable or invalid', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'frontend-config-'));
    try {
      const good = path.join(dir, 'good.json');
      await fs.writeFile(good, JSON.stringify({ ...BASE, port: 9000 }));
      expect((await loadConfig(good, {})).port).toBe(9000);
      const bad = path.join(dir, 'bad.json');
      await fs.writeFile(bad, '{ nope');
      await expect(loadConfig(bad, {})).rejects.toThrow(/bad\.json: not valid JSON/);
      await expect(loadConfig(path.join(dir, 'missing.json'), {})).rejects.toThrow(
        /cannot be read \(ENOENT\)/,
      );
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('ambry-frontend process', () => {
  it('exits 2 on a bad configuration, naming the key; 1 when it cannot start', async () => {
    const { spawnSync } = await import('node:child_process');
    const main = new URL('../src/main.ts', import.meta.url).pathname;
    const bad = spawnSync(process.execPath, ['--import', 'tsx', main], {
      env: { ...process.env, AMBRY_CLUSTER_MAP_DIR: '/nowhere', AMBRY_DATACENTER: 'dc1', AMBRY_PORT: 'abc' },
      encoding: 'utf8',
    });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('port (from AMBRY_PORT):');
    const unstartable = spawnSync(process.execPath, ['--import', 'tsx', main], {
      env: { ...process.env, AMBRY_CLUSTER_MAP_DIR: '/nowhere', AMBRY_DATACENTER: 'dc1' },
      encoding: 'utf8',
    });
    expect(unstartable.status).toBe(1);
    expect(unstartable.stderr).toContain('ambry-frontend failed to start');
  }, 30_000);
});
