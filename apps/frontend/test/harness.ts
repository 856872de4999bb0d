import { createHash } from 'node:crypto';
import net from 'node:net';
import { DatanodeCluster } from '../../../test-support/datanode-cluster.js';
import {
  type FrontendProcess,
  startFrontendProcess as startProcess,
} from '../../../test-support/frontend-process.js';
import { type FrontendConfigInput, parseConfig } from '../src/config.js';
import { Frontend } from '../src/frontend.js';

/**
 * Real datanode processes (test-support/datanode-cluster.ts) and a frontend over them: a real process
 * started from source with tsx and stopped by pid, or in-process through Frontend.start.
 */

export { DatanodeCluster, type FrontendProcess };

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

/** A frontend process over `cluster`, its config file extended with `extra`. */
export function startFrontendProcess(
  cluster: DatanodeCluster,
  extra: Partial<FrontendConfigInput> = {},
): Promise<FrontendProcess> {
  return startProcess(cluster, { config: extra });
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

/** Sends raw bytes on a socket, optionally ends or destroys it, and collects what comes back. */
export async function rawRequest(
  port: number,
  head: string,
  body: Buffer,
  then: 'end' | 'wait',
  waitMs = 1500,
): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (d: Buffer) => {
    received += d.toString();
  });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  socket.write(head);
  socket.write(body);
  await new Promise((r) => setTimeout(r, 100));
  if (then === 'end') socket.end();
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, waitMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  socket.destroy();
  return received;
}

/**
 * Writes the head, then the body in `piece`-byte writes (each awaited) while reading whatever comes
 * back; ends its side and waits (bounded) for the server to close.
 */
export async function slowRequest(
  port: number,
  head: string,
  body: Buffer,
  piece: number,
): Promise<{ received: string; closed: boolean }> {
  const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  let received = '';
  socket.on('data', (d: Buffer) => {
    received += d.toString('latin1');
  });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const bytes = Buffer.concat([Buffer.from(head), body]);
  for (let at = 0; at < bytes.length && !socket.destroyed; at += piece) {
    await new Promise<void>((resolve) => socket.write(bytes.subarray(at, at + piece), () => resolve()));
  }
  if (!socket.destroyed) socket.end();
  const closed = await new Promise<boolean>((resolve) => {
    if (socket.destroyed) return resolve(true);
    const timer = setTimeout(() => resolve(false), 10_000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  socket.destroy();
  return { received, closed };
}
