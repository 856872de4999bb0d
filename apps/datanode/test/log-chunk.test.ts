import fs from 'node:fs/promises';
import net from 'node:net';
import {
  AdminKind,
  decodeResponse,
  ErrorCode,
  encodeFrame,
  encodeRequest,
  type Frame,
  FrameDecoder,
} from '@ambry/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytes, errorOf, putBlob } from './blob-helpers.js';
import { type ClusterDir, makeCluster, type RunningNode, startNode, waitFor } from './harness.js';

/** LOG_CHUNK against one real datanode process: whole logs in chunks, and the pooled buffers it reads into. */

let cluster: ClusterDir;
let node: RunningNode;
let partitionIds: number[];

beforeAll(async () => {
  cluster = await makeCluster({ disks: 1, partitions: 3 });
  partitionIds = [...cluster.partitions.keys()].sort((a, b) => a - b);
  node = await startNode(cluster);
});

afterAll(async () => {
  await node?.stop('SIGKILL');
  if (cluster) await fs.rm(cluster.root, { recursive: true, force: true });
});

const logChunk = (partitionId: number, token: Uint8Array, maxBytes: number) =>
  node.client.logChunk(node.endpoint, { partitionId, token, maxBytes });

/** Every chunk of a partition's log, one after another: the token each was asked with, and the token after the last. */
async function walkLog(partitionId: number, maxBytes: number) {
  const chunks: { asked: Uint8Array; position: number; records: Buffer }[] = [];
  let token: Uint8Array = new Uint8Array(0);
  for (let i = 0; i < 200; i++) {
    const chunk = await logChunk(partitionId, token, maxBytes);
    chunks.push({ asked: token, position: chunk.position, records: Buffer.from(chunk.records) });
    token = chunk.token;
    if (chunk.lagBytes === 0) return { chunks, next: token };
  }
  throw new Error('the log never ended');
}

describe('LOG_CHUNK', () => {
  it('hands out the whole log in record-aligned chunks, and refuses bad tokens', async () => {
    const partitionId = partitionIds[2]!;
    for (let i = 0; i < 6; i++) await putBlob(node, partitionId, bytes(5000 + i * 700, 40 + i));
    const stats = await node.client.admin(node.endpoint, {
      kind: AdminKind.REPLICA_STATS,
      partitionIds: [partitionId],
    });
    const logBytes = stats.replicas[0]!.bytesUsed;
    const { chunks, next } = await walkLog(partitionId, 6000);
    // Contiguous, every chunk starting with a record's magic (so the one before ended on a record
    // boundary), one record per chunk here (each is larger than half the bound), the whole log in all.
    expect(chunks.length).toBe(6);
    for (const [i, chunk] of chunks.entries()) {
      if (i > 0) expect(chunk.position).toBe(chunks[i - 1]!.position + chunks[i - 1]!.records.length);
      expect(chunk.records.readUInt16LE(0)).toBe(0xb10b);
    }
    expect(chunks.at(-1)!.position + chunks.at(-1)!.records.length).toBe(logBytes);
    expect(chunks.reduce((sum, c) => sum + c.records.length, 0)).toBe(logBytes - 32);

    const done = await logChunk(partitionId, next, 6000);
    expect(done.records.byteLength).toBe(0);
    expect(done.lagBytes).toBe(0);
    const errors = await Promise.all([
      errorOf(logChunk(partitionId, Buffer.from('junk'), 10)),
      errorOf(logChunk(987_654, new Uint8Array(0), 10)),
    ]);
    expect(errors).toEqual([ErrorCode.BAD_REQUEST, ErrorCode.PARTITION_UNKNOWN]);
  });

  it('answers read into reused buffers never change while they are being sent', async () => {
    const [p, q] = [partitionIds[0]!, partitionIds[1]!];
    for (let i = 0; i < 8; i++) {
      await putBlob(node, p, bytes(20_000 + i * 999, 60 + i));
      await putBlob(node, q, bytes(30_000 + i * 777, 70 + i));
    }
    // Every chunk of both partitions, one after another, then all of them at once many times over (each
    // answer's buffer goes back to the pool as soon as it is written, and is read into again at once).
    const requests = [
      ...(await walkLog(p, 40_000)).chunks.map((c) => ({ partitionId: p, ...c })),
      ...(await walkLog(q, 40_000)).chunks.map((c) => ({ partitionId: q, ...c })),
    ];
    expect(requests.length).toBeGreaterThan(6);
    for (let round = 0; round < 5; round++) {
      const answers = await Promise.all(requests.map((r) => logChunk(r.partitionId, r.asked, 40_000)));
      for (const [i, answer] of answers.entries()) {
        expect(Buffer.from(answer.records).equals(requests[i]!.records)).toBe(true);
      }
    }
  });

  it('an answer waiting on a slow reader keeps its buffer while other answers reuse the pool', async () => {
    const partitionId = partitionIds[0]!;
    for (let i = 0; i < 24; i++) await putBlob(node, partitionId, bytes(1024 * 1024, 100 + i));
    const chunkBytes = 1024 * 1024 + 4096;
    const { chunks } = await walkLog(partitionId, chunkBytes);
    expect(chunks.reduce((sum, c) => sum + c.records.length, 0)).toBeGreaterThan(24 * 1024 * 1024);
    const answered = async () => {
      const text = await (await fetch(`http://127.0.0.1:${cluster.adminPort}/metrics`)).text();
      const line = text
        .split('\n')
        .find((l) => l.startsWith('ambry_datanode_requests_total{type="logChunk",result="OK"}'));
      return Number(line?.split(' ')[1] ?? 0);
    };

    // A reader that asks for every chunk and then does not read: far more than the socket buffers hold
    // stays queued in the node, in the pooled buffers the chunks were read into.
    const slow = net.connect(node.endpoint.port, node.endpoint.host);
    await new Promise<void>((resolve) => slow.once('connect', () => resolve()));
    slow.pause();
    const before = await answered();
    for (const [i, { asked }] of chunks.entries()) {
      const { header, payload } = encodeRequest({
        type: 'logChunk',
        partitionId,
        token: asked,
        maxBytes: chunkBytes,
      });
      for (const part of encodeFrame({ kind: 'request', correlationId: i, header, payload }))
        slow.write(part);
    }
    // The node answers until its writes to the slow reader back up (then it stops taking that
    // connection's requests): wait for the count to settle, a bounded number of polls.
    await waitFor(async () => (await answered()) > before, "the slow reader's first answers");
    for (let polls = 0, last = -1; polls < 40; polls++) {
      const now = await answered();
      if (now === last) break;
      last = now;
      await new Promise((r) => setTimeout(r, 100));
    }

    // Meanwhile others read every chunk again, in the opposite order, twice.
    for (let round = 0; round < 2; round++) {
      const again = await Promise.all(
        [...chunks]
          .reverse()
          .map(({ asked, records }) =>
            logChunk(partitionId, asked, chunkBytes).then((chunk) =>
              Buffer.from(chunk.records).equals(records),
            ),
          ),
      );
      expect(again.every(Boolean)).toBe(true);
    }

    // The slow reader's answers are what was read for it, byte for byte.
    const decoder = new FrameDecoder();
    const frames: Frame[] = [];
    slow.on('data', (data: Buffer) => frames.push(...decoder.push(data)));
    slow.resume();
    await waitFor(() => frames.length === chunks.length, 'every answer on the slow connection', 60_000);
    slow.destroy();
    for (const frame of frames) {
      const response = decodeResponse(frame.header, frame.payload, 'logChunk');
      expect(response.error).toBe(ErrorCode.OK);
      if (response.error !== ErrorCode.OK) continue;
      expect(Buffer.from(response.result.records).equals(chunks[frame.correlationId]!.records)).toBe(true);
    }
  });
});
