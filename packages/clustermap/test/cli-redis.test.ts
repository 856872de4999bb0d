/**
 * The Redis commands of the CLI, as child processes, against a real redis-server; a map in this
 * process sees what the CLI process changes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, REDIS_SERVER, RedisServer, waitFor } from '../../../test-support/redis-server.js';
import { type ClusterMapEvent, pullLayout, RedisClusterMap, writeLayoutFiles } from '../src/index.js';
import { clustermap } from './cli-runner.js';
import { smallFiles, tempDir } from './helpers.js';

describe.skipIf(!REDIS_SERVER)('ambry-clustermap with Redis', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(async () => {
    await server?.dispose();
  });

  it('pushes, pulls, sets states and adds partitions, seen live by a map in another process', async () => {
    const dir = tempDir();
    const files = smallFiles({ clusterName: 'clitest' });
    await writeLayoutFiles(dir, files);
    const redis = ['--redis', server.url, '--cluster', 'clitest'];
    const push = await clustermap('push', dir, ...redis);
    expect(push).toMatchObject({ code: 0, stderr: '' });
    expect(push.stdout).toMatch(
      /^pushed clitest layout version 1: cluster "clitest": 2 datacenters, 6 nodes/,
    );

    const map = await RedisClusterMap.connect({
      url: server.url,
      clusterName: 'clitest',
      localDatacenter: 'dc1',
    });
    try {
      const events: ClusterMapEvent[] = [];
      map.subscribe((e) => events.push(e));
      const node = map.layout.nodes[1]!;
      const setNode = await clustermap('set-state', ...redis, '--node', node.key, '--state', 'maintenance');
      expect(setNode).toMatchObject({ code: 0, stdout: `set node ${node.key} to maintenance\n` });
      await waitFor(() => map.nodeState(node) === 'maintenance', 'the node state from the CLI process');
      const mount = node.disks[1]!.mountPath;
      expect(
        (await clustermap('set-state', ...redis, '--node', node.key, '--disk', mount, '--state', 'failed'))
          .code,
      ).toBe(0);
      expect((await clustermap('set-state', ...redis, '--partition', '3', '--state', 'read-only')).code).toBe(
        0,
      );
      await waitFor(() => map.partitionState(3) === 'read-only', 'the partition state');
      expect(map.diskState(node, mount)).toBe('failed');
      const again = await clustermap('set-state', ...redis, '--partition', '3', '--state', 'read-only');
      expect(again.stdout).toBe('partition 3 already read-only\n');
      const wrong = await clustermap('set-state', ...redis, '--partition', '3', '--state', 'failed');
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/a partition state is one of read-write, read-only, not "failed"/);
      const unknown = await clustermap('set-state', ...redis, '--node', '10.0.0.1:1', '--state', 'down');
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toMatch(/10\.0\.0\.1:1/);

      const add = await clustermap('add-partitions', ...redis, '--count', '5');
      expect(add).toMatchObject({ code: 0, stderr: '' });
      expect(add.stdout).toMatch(/^added partitions 8\.\.12; layout version 2: .*13 partitions/);
      await waitFor(() => map.partitions().length === 13, 'the new layout');
      expect(events.map((e) => e.type)).toEqual([
        'node-state',
        'disk-state',
        'partition-state',
        'layout-replaced',
      ]);
      expect(map.partitionState(3)).toBe('read-only');

      const out = join(tempDir(), 'pulled');
      const pull = await clustermap('pull', ...redis, '--out', out);
      expect(pull.code).toBe(0);
      expect(pull.stdout).toMatch(/layout version 2/);
      const pulled = JSON.parse(readFileSync(join(out, 'partitions.json'), 'utf8'));
      expect(pulled).toEqual((await pullLayout(server.url, 'clitest')).partitions);
      expect(pulled.partitions).toHaveLength(13);
      expect((await clustermap('validate', out)).code).toBe(0);
    } finally {
      await map.close();
    }
  });

  it('reports an unreachable Redis or a missing layout in one line, exit 1', async () => {
    const down = await clustermap(
      'pull',
      '--redis',
      `redis://127.0.0.1:${await freePort()}`,
      '--cluster',
      'x',
      '--out',
      tempDir(),
    );
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^error: redis redis:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
    const missing = await clustermap(
      'pull',
      '--redis',
      server.url,
      '--cluster',
      'absent',
      '--out',
      tempDir(),
    );
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('error: no layout stored for cluster "absent" (push one first)\n');
  });

  it('has --help on every Redis command', async () => {
    for (const command of ['push', 'pull', 'set-state', 'add-partitions']) {
      const help = await clustermap(command, '--help');
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`^Usage: ambry-clustermap ${command}`));
      expect(help.stdout).toContain('--redis <url>');
    }
  });
});
