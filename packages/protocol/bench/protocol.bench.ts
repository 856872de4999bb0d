/**
 * Protocol benchmark: frame codec throughput, small-request round trips at 1 and 64 in flight, and
 * 4 MiB payload throughput over loopback TCP; each network figure is compared with a bare `net`
 * echo client/server moving the same bytes in the same run (`*_ratio` = ours / bare).
 *
 *   pnpm --filter @ambry/protocol bench            table
 *   pnpm --filter @ambry/protocol bench --json     one JSON document
 *   --seconds N                                    time per measurement (default 3)
 *
 * Servers run in a child process (this file with --serve) so client and server use separate cores,
 * as they would in production; every child is stopped by pid before exit.
 */
import { type ChildProcess, fork } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { benchArgs, type Measurement, measure, printReport } from '../../../test-support/bench.js';
import { BlobId } from '../src/blob-id.js';
import { DataNodeClient } from '../src/datanode-client.js';
import { DataNodeServer } from '../src/datanode-server.js';
import { encodeFrame, FrameDecoder } from '../src/frame.js';
import { RpcClient } from '../src/rpc/client.js';
import { RpcServer } from '../src/rpc/server.js';
import { GetPart } from '../src/wire/types.js';

const SMALL_HEADER = 64;
const SMALL_PAYLOAD = 100;
const LARGE_PAYLOAD = 4 * 1024 * 1024;
const ACK_BYTES = 16;
const MAX_FRAME = 16 * 1024 * 1024;

// ---- server side (child process) -------------------------------------------------------------------

/** Bare baseline: 4-byte length prefix + body; answers each message with `replyBytes` bytes (0 = echo). */
function serveBare(): Promise<number> {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    let pending: Buffer[] = [];
    let buffered = 0;
    let need = -1;
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      pending.push(chunk);
      buffered += chunk.length;
      for (;;) {
        if (need < 0) {
          if (buffered < 8) return;
          const head = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
          pending = [head];
          need = head.readUInt32BE(0) + 4;
          const replyBytes = head.readUInt32BE(4);
          (socket as net.Socket & { replyBytes?: number }).replyBytes = replyBytes;
        }
        if (buffered < need) return;
        const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
        const message = all.subarray(0, need);
        const rest = all.subarray(need);
        pending = rest.length ? [rest] : [];
        buffered = rest.length;
        need = -1;
        const replyBytes = (socket as net.Socket & { replyBytes?: number }).replyBytes ?? 0;
        if (replyBytes === 0) socket.write(message);
        else {
          const reply = Buffer.alloc(replyBytes + 8);
          reply.writeUInt32BE(replyBytes + 4, 0);
          socket.write(reply);
        }
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  );
}

/** The typed data-node server answering GET info with fixed properties (no store behind it). */
async function serveDataNode(): Promise<number> {
  const info = {
    properties: {
      blobSize: 100,
      serviceId: 'bench',
      contentType: 'application/octet-stream',
      creationTimeMs: Date.now(),
      ttlSeconds: -1,
      isPrivate: false,
      accountId: 1,
      containerId: 1,
    },
    userMetadata: { k: 'v' },
    blobSize: 100,
    blobChecksum: 1n,
    state: {
      deleted: false,
      expired: false,
      ttlUpdated: false,
      lifeVersion: 0,
      expiresAtMs: -1,
      operationTimeMs: 0,
    },
    blob: new Uint8Array(0),
  };
  const server = new DataNodeServer({ maxInFlightPerConnection: 256, handlers: { get: async () => info } });
  return (await server.listen({ host: '127.0.0.1', port: 0 })).port;
}

/** Our server: echoes small requests, answers large ones with a small ack (like a PUT). */
async function serveRpc(): Promise<number> {
  const ack = Buffer.alloc(ACK_BYTES);
  const server = new RpcServer({
    maxFrameBytes: MAX_FRAME,
    maxInFlightPerConnection: 256,
    handler: async (request) =>
      request.payload.byteLength > SMALL_PAYLOAD
        ? { header: ack }
        : { header: request.header, payload: request.payload },
  });
  const endpoint = await server.listen({ host: '127.0.0.1', port: 0 });
  return endpoint.port;
}

// ---- client side -----------------------------------------------------------------------------------

/** A bare client: one connection, FIFO matching of replies (the server answers in order). */
class BareClient {
  private readonly waiters: Array<() => void> = [];
  private buffered = 0;
  private need = -1;
  private head: Buffer[] = [];

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  static connect(port: number): Promise<BareClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(new BareClient(socket)));
      socket.setNoDelay(true);
      socket.once('error', reject);
    });
  }

  private onData(chunk: Buffer): void {
    this.head.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.need < 0) {
        if (this.buffered < 4) return;
        const all = this.head.length === 1 ? this.head[0]! : Buffer.concat(this.head);
        this.head = [all];
        this.need = all.readUInt32BE(0) + 4;
      }
      if (this.buffered < this.need) return;
      const all = this.head.length === 1 ? this.head[0]! : Buffer.concat(this.head);
      const rest = all.subarray(this.need);
      this.head = rest.length ? [rest] : [];
      this.buffered = rest.length;
      this.need = -1;
      this.waiters.shift()?.();
    }
  }

  /** Sends `body` framed as [len][replyBytes][body]; resolves when the reply arrives. */
  send(body: Buffer, replyBytes: number): Promise<void> {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(body.length + 4, 0);
    head.writeUInt32BE(replyBytes, 4);
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.socket.cork();
      this.socket.write(head);
      this.socket.write(body);
      this.socket.uncork();
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

function startChild(mode: 'bare' | 'rpc' | 'datanode'): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', mode], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (message) => resolve({ child, port: (message as { port: number }).port }));
    child.once('exit', (code) => reject(new Error(`${mode} server exited with ${code}`)));
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    if (child.pid) process.kill(child.pid, 'SIGKILL');
  });
}

function frameCodecRate(seconds: number): Measurement {
  const header = Buffer.alloc(SMALL_HEADER, 1);
  const payload = Buffer.alloc(SMALL_PAYLOAD, 2);
  const decoder = new FrameDecoder();
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  let ops = 0;
  while (performance.now() < deadline) {
    for (let i = 0; i < 1000; i++) {
      const parts = encodeFrame({ kind: 'request', correlationId: i, header, payload });
      const frames = decoder.push(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
      if (frames.length !== 1) throw new Error('codec lost a frame');
    }
    ops += 1000;
  }
  return { ops, bytes: 0, seconds: (performance.now() - started) / 1000, latenciesMs: [] };
}

async function runBench(seconds: number) {
  const codec = frameCodecRate(seconds);

  const rpcServer = await startChild('rpc');
  const bareServer = await startChild('bare');
  const dataNodeServer = await startChild('datanode');
  try {
    const endpoint = { host: '127.0.0.1', port: rpcServer.port };
    const smallHeader = Buffer.alloc(SMALL_HEADER, 3);
    const smallPayload = Buffer.alloc(SMALL_PAYLOAD, 4);
    const large = Buffer.alloc(LARGE_PAYLOAD, 5);
    // Bare messages carry the same bytes as our frames: prefix + header + payload.
    const smallFrameBody = Buffer.alloc(22 - 4 + SMALL_HEADER + SMALL_PAYLOAD);
    const largeFrameBody = Buffer.alloc(22 - 4 + SMALL_HEADER + LARGE_PAYLOAD);

    const results: Record<string, number> = {};
    for (const inFlight of [1, 64]) {
      const client = new RpcClient({ connectionsPerEndpoint: 1, maxFrameBytes: MAX_FRAME });
      await client.request(endpoint, { header: smallHeader, payload: smallPayload });
      const ours = await measure({ seconds, concurrency: inFlight }, async () => {
        await client.request(endpoint, { header: smallHeader, payload: smallPayload });
        return 0;
      });
      await client.close();
      const bare = await BareClient.connect(bareServer.port);
      const base = await measure({ seconds, concurrency: inFlight }, async () => {
        await bare.send(smallFrameBody, 0);
        return 0;
      });
      bare.close();
      results[`small_rtt_per_sec_${inFlight}`] = ours.ops / ours.seconds;
      results[`bare_small_rtt_per_sec_${inFlight}`] = base.ops / base.seconds;
      results[`small_rtt_${inFlight}_ratio`] = ours.ops / ours.seconds / (base.ops / base.seconds);
    }

    const client = new RpcClient({
      connectionsPerEndpoint: 1,
      maxFrameBytes: MAX_FRAME,
      requestTimeoutMs: 30_000,
    });
    const ours = await measure({ seconds, concurrency: 4 }, async () => {
      await client.request(endpoint, { header: smallHeader, payload: large });
      return LARGE_PAYLOAD;
    });
    await client.close();
    const bare = await BareClient.connect(bareServer.port);
    const base = await measure({ seconds, concurrency: 4 }, async () => {
      await bare.send(largeFrameBody, ACK_BYTES);
      return LARGE_PAYLOAD;
    });
    bare.close();
    // The full typed path a router pays: encode a GET, protobuf both ways, decode properties.
    const dataNode = new DataNodeClient({ connectionsPerEndpoint: 1 });
    const dataNodeEndpoint = { host: '127.0.0.1', port: dataNodeServer.port };
    const blobId = BlobId.generate({ partitionId: 1 });
    const typed = await measure({ seconds, concurrency: 64 }, async () => {
      await dataNode.get(dataNodeEndpoint, { blobId, part: GetPart.INFO });
      return 0;
    });
    await dataNode.close();
    results.datanode_get_info_per_sec_64 = typed.ops / typed.seconds;
    results.datanode_get_info_64_ratio = typed.ops / typed.seconds / results.bare_small_rtt_per_sec_64!;

    const mb = (m: Measurement) => m.bytes / (1024 * 1024) / m.seconds;
    results.payload_4mib_mb_per_sec = mb(ours);
    results.bare_payload_4mib_mb_per_sec = mb(base);
    results.payload_4mib_ratio = mb(ours) / mb(base);

    return {
      benchmark: '@ambry/protocol',
      node: process.version,
      seconds_per_measurement: seconds,
      frame_encode_decode_per_sec: codec.ops / codec.seconds,
      ...results,
    };
  } finally {
    await stopChild(rpcServer.child);
    await stopChild(bareServer.child);
    await stopChild(dataNodeServer.child);
  }
}

async function main(): Promise<void> {
  const values = benchArgs({ serve: { type: 'string' } });
  if (values.serve) {
    const serve = { bare: serveBare, rpc: serveRpc, datanode: serveDataNode }[values.serve];
    if (!serve) throw new Error(`unknown server kind ${values.serve}`);
    const port = await serve();
    process.send?.({ port });
    process.on('disconnect', () => process.exit(0));
    return;
  }
  printReport(await runBench(values.seconds), values.json);
}

await main();
