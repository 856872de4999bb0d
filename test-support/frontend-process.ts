/**
 * A REAL frontend process over a DatanodeCluster: started from the frontend's sources with tsx (a path,
 * not an import: nothing imports an app), its JSON log captured, stopped by pid. Shared by the frontend's
 * tests and the fault suites; not published.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DatanodeCluster } from './datanode-cluster.js';
import { freePort } from './redis-server.js';

const FRONTEND_MAIN = fileURLToPath(new URL('../apps/frontend/src/main.ts', import.meta.url));
/** tsx compiles on first start: a frontend not listening by then is reported as a failed start. */
const START_TIMEOUT_MS = 30_000;

export interface FrontendProcess {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Everything the process wrote to stdout (its JSON log lines). */
  output(): string;
  /** Sends `signal` (SIGTERM by default) by pid; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface FrontendProcessOptions {
  /** Extra keys of the frontend's config file (see apps/frontend/README.md). */
  readonly config?: Record<string, unknown>;
  /** Default: a free port. A restarted frontend passes its old one. */
  readonly port?: number;
  /** Default 'dc1'. */
  readonly datacenter?: string;
}

export async function startFrontendProcess(
  cluster: DatanodeCluster,
  options: FrontendProcessOptions = {},
): Promise<FrontendProcess> {
  const port = options.port ?? (await freePort());
  const file = path.join(cluster.root, `frontend-${port}.json`);
  const config = {
    clusterMapDir: cluster.mapDir,
    datacenter: options.datacenter ?? 'dc1',
    port,
    ...options.config,
  };
  await fs.writeFile(file, JSON.stringify(config, null, 2));
  const child = spawn(process.execPath, ['--import', 'tsx', FRONTEND_MAIN, '--config', file], {
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
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`frontend did not start: ${stderr}`));
    }, START_TIMEOUT_MS);
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
    port,
    child,
    output: () => stdout,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined)
        process.kill(child.pid, signal);
      return exited;
    },
  };
}
