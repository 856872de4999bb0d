/**
 * The CLI end to end, as a child process (through tsx, so it runs without a build).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PartitionsFile } from '../src/index.js';
import { clustermap } from './cli-runner.js';
import { tempDir } from './helpers.js';

const EXAMPLE = [
  '--datacenters',
  'dc1,dc2',
  '--nodes-per-dc',
  '3',
  '--disks-per-node',
  '2',
  '--racks-per-dc',
  '3',
  '--partitions',
  '64',
  '--replicas-per-dc',
  '3',
  '--host',
  '127.0.0.1',
  '--base-port',
  '6667',
];

describe('ambry-clustermap', () => {
  it('generates a map that validates, and prints the balance', async () => {
    const dir = tempDir();
    const generated = await clustermap('generate', ...EXAMPLE, '--out', dir);
    expect(generated.code).toBe(0);
    expect(generated.stdout).toContain('2 datacenters, 6 nodes, 12 disks, 64 partitions, 384 replicas');
    expect(generated.stdout).toContain('dc1: replicas per disk min 32 max 32 (192 replicas on 6 disks)');
    expect(generated.stdout).toContain('dc2: replicas per disk min 32 max 32 (192 replicas on 6 disks)');
    const validated = await clustermap('validate', dir);
    expect(validated).toMatchObject({ code: 0, stderr: '' });
    expect(validated.stdout.trim().split('\n')).toEqual([
      'ok: cluster "ambry": 2 datacenters, 6 nodes, 12 disks, 64 partitions, 384 replicas (hardware v1, partitions v1)',
    ]);
  });

  it('reports every problem of a broken map with its path, and exits 1', async () => {
    const dir = tempDir();
    expect((await clustermap('generate', ...EXAMPLE, '--out', dir)).code).toBe(0);
    const file = join(dir, 'partitions.json');
    const partitions = JSON.parse(readFileSync(file, 'utf8')) as PartitionsFile;
    partitions.partitions[3]!.replicas[1]!.mountPath = '/nope';
    partitions.partitions[7]!.id = 1;
    writeFileSync(file, JSON.stringify(partitions));
    const result = await clustermap('validate', dir);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      /^partitions\.json: partitions\[3\]\.replicas\[1\]\.mountPath: node 127\.0\.0\.1:\d+ has no disk "\/nope"/m,
    );
    expect(result.stderr).toMatch(/^partitions\.json: partitions\[7\]\.id: duplicate partition id 1/m);
    expect(result.stderr).toMatch(/^2 problems$/m);
  });

  it('explains an impossible shape and exits 1', async () => {
    const result = await clustermap(
      'generate',
      '--datacenters',
      'dc1',
      '--nodes-per-dc',
      '2',
      '--disks-per-node',
      '1',
      '--partitions',
      '4',
      '--replicas-per-dc',
      '3',
      '--out',
      tempDir(),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/replicas per datacenter \(3\) cannot exceed nodes per datacenter \(2\)/);
  });

  it('rejects bad flags and has --help on every command', async () => {
    const bad = await clustermap('generate', ...EXAMPLE, '--nodes-per-dc', 'three', '--out', tempDir());
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--nodes-per-dc.*not an integer/);
    for (const args of [['--help'], ['generate', '--help'], ['validate', '--help']]) {
      const help = await clustermap(...args);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/^Usage: ambry-clustermap/);
    }
  });
});
