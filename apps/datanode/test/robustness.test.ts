import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AdminKind,
  BlobId,
  DataNodeClient,
  decodeResponse,
  ErrorCode,
  encodeFrame,
  encodeRequest,
  type Frame,
  FrameDecoder,
  NEVER_EXPIRES,
} from '@ambry/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { type ClusterDir, makeCluster, type RunningNode, startNode, waitFor } from './harness.js';

/** A datanode survives malformed and oversized input, and refuses a bad configuration by name. */

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const MAX_FRAME = 64 * 1024;

let cluster: ClusterDir | undefined;
let node: RunningNode | undefined;
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await node?.stop('SIGKILL');
  if (cluster) await fs.rm(cluster.root, { recursive: true, force: true });
  node = undefined;
  cluster = undefined;
});

async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port });
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

/** The first response frame on `socket`, or 'closed' if the server closes it first. */
function firstReply(socket: net.Socket): Promise<Frame | 'closed'> {
  const decoder = new FrameDecoder();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no reply and no close within 10 s')), 10_000);
    socket.on('data', (chunk: Buffer) => {
      const frames = decoder.push(chunk);
      if (frames[0] !== undefined) {
        clearTimeout(timer);
        resolve(frames[0]);
      }
    });
    socket.on('error', () => {});
    socket.once('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
  });
}

function newId(partitionId: number): BlobId {
  return BlobId.generate({ partitionId, datacenterId: 0, accountId: 1, containerId: 1 });
}

function properties(size: number) {
  return {
    blobSize: size,
    serviceId: 'robustness-test',
    contentType: 'application/octet-stream',
    creationTimeMs: Date.now(),
    ttlSeconds: NEVER_EXPIRES,
    isPrivate: false,
    accountId: 1,
    containerId: 1,
  };
}

/** A normal client can still put and read back, and the node says it is healthy. */
async function stillServes(running: RunningNode, partitionId: number): Promise<void> {
  const client = new DataNodeClient({ clientId: 'second-client', connectionsPerEndpoint: 1 });
  try {
    const blobId = newId(partitionId);
    const blob = Buffer.from(`still alive ${partitionId}`);
    await client.put(running.endpoint, {
      blobId,
      properties: properties(blob.length),
      userMetadata: {},
      blob,
    });
    const got = await client.get(running.endpoint, { blobId });
    expect(Buffer.from(got.blob).equals(blob)).toBe(true);
    expect((await client.admin(running.endpoint, { kind: AdminKind.HEALTH })).healthy).toBe(true);
  } finally {
    await client.close();
  }
  expect(running.child.exitCode).toBeNull();
}

describe('malformed input', () => {
  it('closes a connection that sends garbage, a non-protobuf header or an oversized frame, and keeps serving', async () => {
    cluster = await makeCluster({ partitions: 2, config: { maxFrameBytes: MAX_FRAME } });
    node = await startNode(cluster);
    const partitionId = [...cluster.partitions.keys()][0]!;

    // Not frames at all (an HTTP request): the length prefix is absurd, the connection is dropped.
    const garbage = await connect(cluster.port);
    const garbageReply = firstReply(garbage);
    garbage.write('GET / HTTP/1.1\r\nHost: datanode\r\n\r\n');
    expect(await garbageReply).toBe('closed');
    await stillServes(node, partitionId);

    // A well-formed frame whose header is not a protobuf request: answered with BAD_REQUEST.
    const junk = await connect(cluster.port);
    const junkReply = firstReply(junk);
    for (const buffer of encodeFrame({
      kind: 'request',
      correlationId: 4242,
      header: Buffer.alloc(40, 0xff),
      payload: new Uint8Array(0),
    })) {
      junk.write(buffer);
    }
    const answer = await junkReply;
    expect(answer).not.toBe('closed');
    const frame = answer as Frame;
    expect(frame.kind).toBe('response');
    expect(frame.correlationId).toBe(4242);
    expect(decodeResponse(frame.header, frame.payload, 'get').error).toBe(ErrorCode.BAD_REQUEST);

    // The same connection keeps working after the bad request: it was answered, not a violation.
    const good = encodeRequest({ type: 'admin', kind: AdminKind.HEALTH }, 'raw');
    const goodReply = new Promise<Frame>((resolve) => {
      const decoder = new FrameDecoder();
      junk.removeAllListeners('data');
      junk.on('data', (chunk: Buffer) => {
        const frames = decoder.push(chunk);
        if (frames[0] !== undefined) resolve(frames[0]);
      });
    });
    for (const buffer of encodeFrame({ kind: 'request', correlationId: 4243, ...good })) junk.write(buffer);
    const health = await goodReply;
    expect(health.correlationId).toBe(4243);
    expect(decodeResponse(health.header, health.payload, 'admin').error).toBe(ErrorCode.OK);

    // A frame announcing more than maxFrameBytes is refused before its bytes are buffered.
    const big = await connect(cluster.port);
    const bigReply = firstReply(big);
    const blob = Buffer.alloc(2 * MAX_FRAME, 7);
    const request = encodeRequest(
      {
        type: 'put',
        blobId: newId(partitionId),
        properties: properties(blob.length),
        userMetadata: {},
        blob,
      },
      'raw',
    );
    for (const buffer of encodeFrame({ kind: 'request', correlationId: 1, ...request }, 1 << 30)) {
      big.write(buffer);
    }
    expect(await bigReply).toBe('closed');

    // The typed client sees the oversized PUT fail, not hang, and the process serves the next client.
    const client = new DataNodeClient({ clientId: 'oversized' });
    try {
      await expect(
        client.put(node.endpoint, {
          blobId: newId(partitionId),
          properties: properties(blob.length),
          userMetadata: {},
          blob,
        }),
      ).rejects.toThrow();
    } finally {
      await client.close();
    }
    await stillServes(node, partitionId);

    // Frames that reached the request decoder are counted, even without a known type.
    const metrics = await (await fetch(`http://127.0.0.1:${cluster.adminPort}/metrics`)).text();
    expect(metrics).toMatch(/^ambry_datanode_requests_total\{type="unknown",result="BAD_REQUEST"\} 1$/m);
  });

  it('refuses connections beyond maxConnections and serves again once one closes', async () => {
    cluster = await makeCluster({ partitions: 1, config: { maxConnections: 1 } });
    node = await startNode(cluster);
    const partitionId = [...cluster.partitions.keys()][0]!;
    const holder = await connect(cluster.port);
    const extra = await connect(cluster.port);
    expect(await firstReply(extra)).toBe('closed');
    const closed = new Promise((resolve) => holder.once('close', resolve));
    holder.destroy();
    await closed;
    await waitFor(async () => {
      const text = await (await fetch(`http://127.0.0.1:${cluster!.adminPort}/metrics`)).text();
      return /^ambry_datanode_open_connections 0$/m.test(text);
    }, 'the held connection to be gone');
    await stillServes(node, partitionId);
  });

  it('PUTs beyond maxBufferedBytes get SERVER_BUSY or succeed, and the budget is released', async () => {
    cluster = await makeCluster({ partitions: 1, config: { maxBufferedBytes: 1024 * 1024 } });
    node = await startNode(cluster);
    const partitionId = [...cluster.partitions.keys()][0]!;
    const size = 768 * 1024;
    const puts = Array.from({ length: 8 }, (_, i) => {
      const blobId = newId(partitionId);
      const blob = Buffer.alloc(size, i + 1);
      return node!.client
        .send(node!.endpoint, {
          type: 'put',
          blobId,
          properties: properties(size),
          userMetadata: {},
          blob,
        })
        .then((response) => ({ blobId, blob, error: response.error }));
    });
    const results = await Promise.all(puts);
    for (const { error } of results) expect([ErrorCode.OK, ErrorCode.SERVER_BUSY]).toContain(error);
    expect(results.some((r) => r.error === ErrorCode.OK)).toBe(true);
    for (const { blobId, blob, error } of results) {
      const got = await node.client.send(node.endpoint, { type: 'get', blobId });
      if (error === ErrorCode.OK) {
        expect(got.error).toBe(ErrorCode.OK);
        if (got.error === ErrorCode.OK) expect(Buffer.from(got.result.blob).equals(blob)).toBe(true);
      } else {
        expect(got.error).toBe(ErrorCode.BLOB_NOT_FOUND);
      }
    }
    // A blob larger than the whole budget still goes through when nothing else is in flight: a leaked
    // reservation from the burst above would turn this into SERVER_BUSY.
    const large = Buffer.alloc(1536 * 1024, 9);
    const blobId = newId(partitionId);
    await node.client.put(node.endpoint, {
      blobId,
      properties: properties(large.length),
      userMetadata: {},
      blob: large,
    });
    const got = await node.client.get(node.endpoint, { blobId });
    expect(Buffer.from(got.blob).equals(large)).toBe(true);
  });
});

/** Runs main.ts to its exit; resolves with the code and stderr. */
async function runMain(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AMBRY_')));
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    env: { ...clean, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  return { code, stderr };
}

describe('configuration errors', () => {
  // Problems are collected, not stopped at the first: one run can show several, each by its key.
  const cases: Array<{
    name: string;
    edit?: (config: Record<string, unknown>) => void;
    env?: NodeJS.ProcessEnv;
    keys: string[];
    mentions?: string[];
  }> = [
    {
      name: 'a missing required key, a bad value and an unknown key in the file',
      edit: (c) => {
        delete c.node;
        c.durability = 'sometimes';
        c.maxConections = 5;
      },
      keys: ['node', 'durability', 'maxConections'],
    },
    {
      // An unknown AMBRY_ variable is not a refusal (processes share environments): only a warning.
      name: 'a bad environment override, next to an unknown AMBRY_ variable',
      env: { AMBRY_MAX_CONNECTIONS: 'abc', AMBRY_NO_SUCH_KEY: '1' },
      keys: ['maxConnections'],
      mentions: ['AMBRY_MAX_CONNECTIONS'],
    },
    { name: 'no cluster map source', edit: (c) => delete c.clusterMapDir, keys: ['clusterMapDir'] },
    {
      name: 'both cluster map sources',
      edit: (c) => Object.assign(c, { redisUrl: 'redis://127.0.0.1:1', clusterName: 'x' }),
      keys: ['clusterMapDir'],
    },
  ];

  it('exits 2 naming the key for each kind of bad configuration', async () => {
    cluster = await makeCluster({ partitions: 1 });
    const base = JSON.parse(await fs.readFile(cluster.configFile, 'utf8')) as Record<string, unknown>;
    const runs = await Promise.all(
      cases.map(async ({ edit, env, ...expected }, i) => {
        const config = structuredClone(base);
        edit?.(config);
        const file = path.join(cluster!.root, `bad-${i}.json`);
        await fs.writeFile(file, JSON.stringify(config));
        return { ...expected, ...(await runMain(['--config', file], env ?? {})) };
      }),
    );
    for (const { name, keys, mentions, code, stderr } of runs) {
      expect({ name, code }).toEqual({ name, code: 2 });
      // Each problem is a line starting with its key.
      for (const key of keys) expect(stderr, name).toMatch(new RegExp(`^\\s+${key}[ :]`, 'm'));
      for (const text of mentions ?? []) expect(stderr, name).toContain(text);
      expect(stderr, name).not.toContain('failed to start');
    }
  });

  it('exits 2 for an unreadable or non-JSON file, and 1 when the node cannot start', async () => {
    cluster = await makeCluster({ partitions: 1 });
    const notJson = path.join(cluster.root, 'broken.json');
    await fs.writeFile(notJson, '{ "node": ');
    const missing = path.join(cluster.root, 'absent.json');
    const stranger = path.join(cluster.root, 'stranger.json');
    const base = JSON.parse(await fs.readFile(cluster.configFile, 'utf8')) as Record<string, unknown>;
    await fs.writeFile(stranger, JSON.stringify({ ...base, node: '127.0.0.1:1' }));
    // The wire port taken by someone else: the start fails after the admin port was opened.
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(cluster!.port, '127.0.0.1', resolve));
    const [broken, absent, unknownNode, portTaken] = await Promise.all([
      runMain(['--config', notJson], {}),
      runMain(['--config', missing], {}),
      runMain(['--config', stranger], {}),
      runMain(['--config', cluster.configFile], {}),
    ]).finally(() => new Promise((resolve) => squatter.close(resolve)));
    expect(portTaken.code).toBe(1);
    expect(portTaken.stderr).toContain('EADDRINUSE');
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain('not valid JSON');
    expect(absent.code).toBe(2);
    expect(absent.stderr).toContain('absent.json');
    expect(unknownNode.code).toBe(1);
    expect(unknownNode.stderr).toContain('127.0.0.1:1');
  });
});
