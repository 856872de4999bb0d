/**
 * What the local cluster's test and its benchmark both need to run it as a process: free ports for a
 * whole cluster, and whether a pid is still alive.
 */
import { createServer } from 'node:net';

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A data-node base port with base..base+2 and their admin ports (+1000) free, and a frontend port:
 * the cluster map gives data nodes consecutive ports, so one free port each is not enough.
 */
export async function freeClusterPorts(): Promise<{ base: number; frontend: number }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    const wanted = [base, base + 1, base + 2, base + 1000, base + 1001, base + 1002, base + 5000];
    const free = await Promise.all(wanted.map(portIsFree));
    if (free.every(Boolean)) return { base, frontend: base + 5000 };
  }
  throw new Error('no free port range found');
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
