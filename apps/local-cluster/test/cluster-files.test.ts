import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadLayout } from '@ambry/clustermap';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalClusterError, prepareCluster } from '../src/cluster-files.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'local-cluster-files-'));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('prepareCluster', () => {
  it('creates one datacenter × 3 nodes × 2 disks × 32 partitions × 3 replicas, with a config per process', async () => {
    const dataDir = await tempDir();
    const files = await prepareCluster({ dataDir, datanodeBasePort: 30_000, frontendPort: 31_000 });
    expect(files.created).toBe(true);
    const layout = await loadLayout(files.mapDir);
    expect(layout.datacenters.map((dc) => dc.name)).toEqual(['dc1']);
    expect(layout.nodes.map((n) => n.port)).toEqual([30_000, 30_001, 30_002]);
    expect(layout.nodes.every((n) => n.disks.length === 2 && n.disks[0]!.mountPath.startsWith(dataDir))).toBe(
      true,
    );
    expect(layout.partitions).toHaveLength(32);
    expect(layout.partitions.every((p) => new Set(p.replicas.map((r) => r.node.key)).size === 3)).toBe(true);

    expect(files.datanodes.map((d) => d.healthUrl)).toEqual(
      [31_000, 31_001, 31_002].map((port) => `http://127.0.0.1:${port}/health`),
    );
    const nodeConfig = JSON.parse(await readFile(files.datanodes[1]!.configFile, 'utf8'));
    expect(nodeConfig).toMatchObject({ node: '127.0.0.1:30001', clusterMapDir: files.mapDir });
    const frontendConfig = JSON.parse(await readFile(files.frontends[0]!.configFile, 'utf8'));
    expect(frontendConfig).toMatchObject({ port: 31_000, datacenter: 'dc1', clusterMapDir: files.mapDir });
    expect(files.frontends[0]!.url).toBe('http://127.0.0.1:31000');
  });

  it('reopens an existing cluster as it was, lets the frontend port move, and refuses another shape', async () => {
    const dataDir = await tempDir();
    const first = await prepareCluster({ dataDir, datacenters: 2, datanodeBasePort: 30_000 });
    expect(first.datanodes).toHaveLength(6);
    expect(first.frontends.map((f) => [f.datacenter, f.url])).toEqual([
      ['dc1', 'http://127.0.0.1:1174'],
      ['dc2', 'http://127.0.0.1:1175'],
    ]);
    const hardware = await readFile(path.join(first.mapDir, 'hardware.json'), 'utf8');

    const again = await prepareCluster({ dataDir, frontendPort: 2000 });
    expect(again.created).toBe(false);
    expect(again.shape).toEqual(first.shape);
    expect(again.frontends[1]!.url).toBe('http://127.0.0.1:2001');
    expect(await readFile(path.join(first.mapDir, 'hardware.json'), 'utf8')).toBe(hardware);

    await expect(prepareCluster({ dataDir, datacenters: 1 })).rejects.toThrow(/2 datacenter\(s\), not 1/);
    await expect(prepareCluster({ dataDir, datanodeBasePort: 40_000 })).rejects.toBeInstanceOf(
      LocalClusterError,
    );
    await writeFile(path.join(dataDir, 'cluster.json'), '{ nope');
    await expect(prepareCluster({ dataDir })).rejects.toThrow(/not valid JSON/);
  });
});
