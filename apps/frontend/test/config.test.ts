import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { configProblems as problems } from '@ambry/service-kit';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../src/config.js';

// How a file and AMBRY_* variables become a config (typing, unknown keys, file errors) is tested in
// packages/service-kit; these are the frontend's own keys.

const BASE = { clusterMapDir: '/etc/ambry/map', datacenter: 'dc1' };

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

  it('requires the cluster map and the datacenter, and takes no other key', () => {
    const found = problems(() => parseConfig({}));
    expect(found.some((p) => p.startsWith('clusterMapDir:'))).toBe(true);
    expect(found.some((p) => p.startsWith('datacenter:'))).toBe(true);
    expect(problems(() => parseConfig({ ...BASE, prot: 3 }))).toEqual([
      'prot: not a frontend configuration key',
    ]);
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

  it('takes the router from AMBRY_ROUTER as JSON, over the file, and the other keys typed', () => {
    const file = { ...BASE, router: { chunkBytes: 1024 * 1024 } };
    const env = { AMBRY_ROUTER: '{"requestTimeoutMs": 1000}', AMBRY_PORT: '8080', AMBRY_LOG_LEVEL: 'warn' };
    const { router, port, logLevel } = parseConfig(file, env);
    expect([router, port, logLevel]).toEqual([{ requestTimeoutMs: 1000 }, 8080, 'warn']);
  });

  it('loads a file with the router checked, and names the frontend in its errors', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'frontend-config-'));
    try {
      const file = path.join(dir, 'frontend.json');
      await fs.writeFile(file, JSON.stringify({ ...BASE, port: 9000 }));
      expect((await loadConfig(file, { AMBRY_ROUTER: '{"chunkBytes": 1048576}' })).router).toEqual({
        chunkBytes: 1024 * 1024,
      });
      const bad = loadConfig(file, { AMBRY_ROUTER: '{"chunkBytes": 10}' });
      await expect(bad).rejects.toBeInstanceOf(ConfigError);
      await expect(bad).rejects.toThrow(/^invalid frontend configuration:\n {2}router\.chunkBytes:/);
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
