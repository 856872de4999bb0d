import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatanodeCluster } from '../../../test-support/datanode-cluster.js';
import { freePort } from '../../../test-support/redis-server.js';
import { type FrontendConfigInput, parseConfig } from '../src/config.js';
import { Frontend } from '../src/frontend.js';

/**
 * Real datanode processes (test-support/datanode-cluster.ts) and a frontend over them: a real process
 * started from source with tsx and stopped by pid, or in-process through Frontend.start.
 */

export { DatanodeCluster };

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

export async function startCluster(): Promise<DatanodeCluster> {
  const cluster = await DatanodeCluster.create({ nodesPerDc: 3, partitions: 8 });
  try {
    await cluster.start();
  } catch (error) {
    await cluster.destroy();
    throw error;
  }
  return cluster;
}

export interface FrontendProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything the process wrote to stdout (its JSON log lines). */
  output(): string;
  /** SIGTERM by pid; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export async function startFrontendProcess(
  cluster: DatanodeCluster,
  extra: Partial<FrontendConfigInput> = {},
): Promise<FrontendProcess> {
  const port = await freePort();
  const file = path.join(cluster.root, `frontend-${port}.json`);
  await fs.writeFile(
    file,
    JSON.stringify({ clusterMapDir: cluster.mapDir, datacenter: 'dc1', port, ...extra }, null, 2),
  );
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, '--config', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`frontend did not start: ${stderr}`)), 30_000);
    const check = () => {
      const line = stdout.split('\n').find((l) => l.includes('"frontend listening"'));
      if (line) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { url: string }).url);
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`frontend exited with ${code}: ${stderr}`));
    });
  });
  return {
    url,
    child,
    output: () => stdout,
    stop: async () => {
      if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
      return exited;
    },
  };
}

export async function startFrontend(
  cluster: DatanodeCluster,
  extra: Partial<FrontendConfigInput> = {},
): Promise<Frontend> {
  const config = parseConfig({
    clusterMapDir: cluster.mapDir,
    datacenter: 'dc1',
    port: 0,
    logLevel: 'silent',
    ...extra,
  });
  return Frontend.start(config);
}

export const UPLOAD = { 'x-ambry-service-id': 'tests', 'x-ambry-content-type': 'application/octet-stream' };

/** POST / with the required headers (plus `headers`); returns the response and the id from Location. */
export async function upload(
  url: string,
  body: Uint8Array | string,
  headers: Record<string, string> = {},
): Promise<{ response: Response; id: string }> {
  const response = await fetch(`${url}/`, { method: 'POST', headers: { ...UPLOAD, ...headers }, body });
  await response.arrayBuffer();
  const location = response.headers.get('location') ?? '';
  return { response, id: location.replace(/^\//, '') };
}

export async function errorOf(response: Response): Promise<{ error: string; message: string }> {
  return (await response.json()) as { error: string; message: string };
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
