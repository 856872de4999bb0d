import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freeClusterPorts, isAlive } from './processes.js';

/**
 * The local cluster as a user runs it (from source here, so the test does not depend on a build):
 * start, use it over HTTP, stop with SIGTERM, start again on the same data.
 */

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

interface Run {
  readonly child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

function startCluster(args: readonly string[]): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, '--from-source', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function waitForOutput(run: Run, pattern: RegExp, timeoutMs = 90_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void run.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadline) {
    const match = pattern.exec(run.output());
    if (match) return match;
    if (exited) throw new Error(`the local cluster exited:\n${run.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${pattern}:\n${run.output()}`);
}

const running: Run[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const run of running) {
    if (run.child.exitCode === null) {
      run.child.kill('SIGKILL');
      await run.exited;
    }
  }
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('local cluster', () => {
  it('starts, serves uploads, stops every process on SIGTERM, and restarts with its data', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'local-cluster-'));
    dirs.push(dataDir);
    const { base, frontend } = await freeClusterPorts();
    const args = ['--data-dir', dataDir, '--port', String(frontend), '--datanode-base-port', String(base)];

    const first = startCluster(args);
    running.push(first);
    await waitForOutput(first, /is up/);
    expect(first.output()).toContain(`data: ${dataDir} (new)`);
    const url = (await waitForOutput(first, /frontend \(dc1\): (\S+)/))[1]!;
    expect(url).toBe(`http://127.0.0.1:${frontend}`);
    const pids = [...first.output().matchAll(/=(\d+)/g)].map((m) => Number(m[1]));
    expect(pids).toHaveLength(4);

    const body = Buffer.from('kept across restarts');
    const posted = await fetch(`${url}/`, {
      method: 'POST',
      headers: { 'x-ambry-service-id': 'local-test', 'x-ambry-content-type': 'text/plain' },
      body,
    });
    expect(posted.status).toBe(201);
    const location = posted.headers.get('location')!;
    expect(location).toMatch(/^\/\S+$/);

    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(pids.filter(isAlive)).toEqual([]);

    const second = startCluster(args);
    running.push(second);
    await waitForOutput(second, /is up/);
    expect(second.output()).toContain(`data: ${dataDir} (existing data)`);
    const got = await fetch(`${url}${location}`);
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(body)).toBe(true);

    // Another shape on the same data is refused before anything starts.
    const wrong = startCluster([...args, '--datacenters', '2']);
    running.push(wrong);
    expect(await wrong.exited).toBe(1);
    expect(wrong.output()).toMatch(/holds a cluster of 1 datacenter\(s\), not 2/);

    // A second cluster on the same data directory is refused while this one lives.
    const twin = startCluster(args);
    running.push(twin);
    expect(await twin.exited).toBe(1);
    expect(twin.output()).toMatch(/already runs on/);

    // Killed outright, the supervisor cannot stop its children: they notice on their own (the IPC
    // channel closes) and stop.
    const children = [...second.output().matchAll(/=(\d+)/g)].map((m) => Number(m[1]));
    expect(children).toHaveLength(4);
    second.child.kill('SIGKILL');
    await second.exited;
    const deadline = Date.now() + 60_000;
    while (children.some(isAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(children.filter(isAlive)).toEqual([]);
  });
});
