/**
 * Two processes: a state change made here is applied by a map in a child process, and a data-node
 * child process that dies (SIGKILL, no goodbye) is seen down here once its heartbeat key expires.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_SERVER, RedisServer, waitFor } from '../../../test-support/redis-server.js';
import { generateLayout, pushLayout, RedisClusterMap } from '../src/index.js';
import { SMALL } from './helpers.js';

const fixture = fileURLToPath(new URL('./fixtures/map-process.ts', import.meta.url));

function startMapProcess(url: string, cluster: string, heartbeatNode?: string) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fixture, url, cluster, ...(heartbeatNode ? [heartbeatNode] : [])],
    {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const lines: string[] = [];
  let buffer = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop()!;
    lines.push(...parts);
  });
  return { child, lines };
}

function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid, 'SIGKILL');
  return exited;
}

describe.skipIf(!REDIS_SERVER)('RedisClusterMap across processes', () => {
  let server: RedisServer;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    server = await RedisServer.start();
    await pushLayout(server.url, 'procs', generateLayout({ ...SMALL, clusterName: 'procs' }));
  });
  afterAll(async () => {
    await Promise.all(children.map(kill));
    await server?.dispose();
  });

  it('a change made here is applied in another process, with the same event', async () => {
    const { child, lines } = startMapProcess(server.url, 'procs');
    children.push(child);
    await waitFor(() => lines.includes('ready'), 'the child map', 20_000);
    const map = await RedisClusterMap.connect({
      url: server.url,
      clusterName: 'procs',
      localDatacenter: 'dc1',
    });
    try {
      const node = map.layout.nodes[2]!;
      map.setReplicaSealed(4, node, true);
      await waitFor(() => lines.length > 1, 'the event in the child');
      expect(JSON.parse(lines[1]!)).toEqual({
        type: 'replica-state',
        partitionId: 4,
        node: node.key,
        previous: { sealed: false, stopped: false },
        state: { sealed: true, stopped: false },
      });
    } finally {
      await map.close();
      child.stdin!.end();
    }
  });

  it('a data-node process killed without warning is seen down when its heartbeat expires', async () => {
    const map = await RedisClusterMap.connect({
      url: server.url,
      clusterName: 'procs',
      localDatacenter: 'dc1',
      livenessIntervalMs: 50,
    });
    try {
      const node = map.layout.nodes[4]!;
      const { child, lines } = startMapProcess(server.url, 'procs', node.key);
      children.push(child);
      await waitFor(() => lines.includes('ready'), 'the data-node process', 20_000);
      expect(map.nodeState(node)).toBe('up');
      await kill(child);
      await waitFor(() => map.nodeState(node) === 'down', 'the dead node seen down');
      const again = startMapProcess(server.url, 'procs', node.key);
      children.push(again.child);
      await waitFor(() => map.nodeState(node) === 'up', 'the restarted node seen up', 20_000);
    } finally {
      await map.close();
    }
  });
});
