/**
 * Fuzzing a real data node's wire protocol (issue 9, suite 3). One datanode process; every case opens
 * its own TCP connection and sends random bytes, valid frames (built with @ambry/protocol's encoders)
 * with one field mutated, or frames trickled in a few bytes at a time; then half-closes. After each
 * case: the connection ended in bounded time (answered or closed by the node), everything the node
 * sent back is a well-formed response frame, the process is alive and a GET of a known blob over a
 * separate connection returns its bytes. The node's RSS is sampled along the way.
 */
import {
  BlobId,
  DataNodeClient,
  decodeResponse,
  type Endpoint,
  ErrorCode,
  FrameDecoder,
  GetPart,
  REQUEST_TYPES,
  type RequestType,
} from '@ambry/protocol';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatanodeCluster } from '../../../test-support/datanode-cluster.js';
import { bigintSafe, buildFrames, frameCases, MAX_FRAME_BYTES, properties } from '../src/frame-cases.js';
import { deliver, exchange, isAlive, MAX_RSS_GROWTH_KIB, profile, rssKiB } from '../src/fuzz-kit.js';
import { FaultReport } from '../src/report.js';

const PROFILE = profile();
/** Cases per profile unit: ci runs this many, long 20 times as many. */
const BASE_CASES = 600;
const CASES = BASE_CASES * PROFILE.scale;
const CASE_TIMEOUT_MS = 10_000;
const SAMPLES = 40;
/** A trickled case writes at most this many small pieces, then the rest at once. */
const MAX_SLOW_PIECES = 256;

let cluster: DatanodeCluster;
let client: DataNodeClient;
let endpoint: Endpoint;
let partitions: number[];
const known = { id: undefined as unknown as BlobId, bytes: new Uint8Array(0) };
/** Blobs the fuzzer may read, delete or update (never the known one). */
const victims: BlobId[] = [];

beforeAll(async () => {
  cluster = await DatanodeCluster.create({
    nodesPerDc: 1,
    replicasPerDc: 1,
    disksPerNode: 1,
    partitions: 2,
    replicaCapacityBytes: 64 * 1024 * 1024,
    segmentBytes: 4 * 1024 * 1024,
    datanodeConfig: { maxFrameBytes: MAX_FRAME_BYTES },
  });
  await cluster.start();
  const node = cluster.nodes[0]!;
  endpoint = { host: node.host, port: node.port };
  partitions = (await cluster.loadClusterMap()).writablePartitions().map((p) => p.id);
  client = new DataNodeClient({ clientId: 'fault-suite-check' });
  known.id = BlobId.generate({ partitionId: partitions[0]! });
  known.bytes = new Uint8Array(4096).map((_, i) => (i * 31 + 7) & 0xff);
  await client.put(endpoint, {
    blobId: known.id,
    properties: properties(known.bytes.byteLength),
    userMetadata: { purpose: 'known' },
    blob: known.bytes,
  });
  for (let i = 0; i < 8; i++) {
    const id = BlobId.generate({ partitionId: partitions[i % partitions.length]! });
    const blob = new Uint8Array(64 + i * 100).fill(i);
    await client.put(endpoint, {
      blobId: id,
      properties: properties(blob.byteLength),
      userMetadata: {},
      blob,
    });
    victims.push(id);
  }
}, 120_000);

afterAll(async () => {
  await client?.close();
  if (cluster && !cluster.isRunning(0)) process.stderr.write(`datanode stderr:\n${cluster.stderr(0)}\n`);
  await cluster?.destroy();
});

/** Every response frame in what the node sent back, classified; throws when it is not well-formed. */
function responsesIn(received: Buffer): Array<{ correlationId: number; type: RequestType; error: number }> {
  const decoder = new FrameDecoder({ maxFrameBytes: MAX_FRAME_BYTES });
  const frames = decoder.push(received);
  if (decoder.bufferedBytes !== 0) throw new Error(`${decoder.bufferedBytes} bytes of a partial response`);
  return frames.map((frame) => {
    if (frame.kind !== 'response') throw new Error('the node sent a request frame');
    for (const type of REQUEST_TYPES) {
      try {
        const response = decodeResponse(frame.header, frame.payload, type);
        return { correlationId: frame.correlationId, type, error: response.error };
      } catch {
        // not an answer of this type
      }
    }
    throw new Error(`response ${frame.correlationId} does not decode as any response type`);
  });
}

/** Whether every id in `ids` has its response among the complete frames received so far. */
function answeredAll(received: Buffer, ids: readonly number[]): boolean {
  try {
    const seen = new Set(
      new FrameDecoder({ maxFrameBytes: MAX_FRAME_BYTES }).push(received).map((f) => f.correlationId),
    );
    return ids.every((id) => seen.has(id));
  } catch {
    return true; // garbage: the assertions after the exchange report it
  }
}

async function knownBlobReadable(): Promise<void> {
  const result = await client.get(endpoint, { blobId: known.id, part: GetPart.BLOB }, { timeoutMs: 5000 });
  expect(Buffer.from(result.blob).equals(Buffer.from(known.bytes))).toBe(true);
}

describe('fuzzing the datanode wire protocol', () => {
  it(`survives ${CASES} random and mutated frames (${PROFILE.name} profile)`, async () => {
    const report = new FaultReport('fuzz-datanode', {
      profile: PROFILE.name,
      seed: PROFILE.seed,
      warmupCases: Math.floor(CASES / 10),
    });
    const pid = cluster.pid(0);
    const sampleEvery = Math.max(1, Math.floor(CASES / SAMPLES));
    let run = 0;
    const sample = () => {
      const rss = rssKiB(pid);
      if (rss !== undefined) report.sampleMemory('datanode', run, rss);
    };
    sample();
    const failures: string[] = [];
    const targets = { partitions, victims };
    let growth: number | undefined;
    try {
      await fc.assert(
        fc.asyncProperty(frameCases(targets), async (c) => {
          const built = buildFrames(c, targets);
          const delivery = c.delivery;
          report.count('requests fuzzed');
          report.count(`cases ${c.kind === 'random' ? 'random bytes' : `mutation ${c.mutation.kind}`}`);
          if (delivery.kind === 'slow') report.count('cases slow sender');
          report.count('frames sent', built.frames);
          const result = await exchange({
            host: endpoint.host,
            port: endpoint.port,
            pieces: deliver(built.bytes, delivery, MAX_SLOW_PIECES),
            ...(built.mustAnswer.length > 0
              ? { answered: (received: Buffer) => answeredAll(received, built.mustAnswer) }
              : {}),
            neverEnd: built.mustClose,
            timeoutMs: CASE_TIMEOUT_MS,
          });
          run += 1;
          if (run % sampleEvery === 0) sample();
          if (result.hung) {
            report.count('hangs');
            throw new Error(`no end within ${CASE_TIMEOUT_MS} ms`);
          }
          const responses = responsesIn(result.received);
          for (const r of responses) report.status(ErrorCode[r.error] ?? r.error);
          if (responses.length > 0) report.count('connections answered');
          if (result.closedByServer) report.count('connections closed');
          if (built.mustClose && !result.closedByServer) {
            throw new Error('the node did not close a connection after a protocol violation');
          }
          if (result.reset) report.count('connections reset');
          const answered = new Set(responses.map((r) => r.correlationId));
          for (const id of built.mustAnswer) {
            if (!answered.has(id)) throw new Error(`intact frame ${id} was not answered`);
          }
          const internal = responses.filter((r) => r.error === ErrorCode.UNKNOWN_ERROR);
          if (internal.length > 0) {
            report.count('internal errors');
            failures.push(`UNKNOWN_ERROR for ${JSON.stringify(c, bigintSafe).slice(0, 400)}`);
          }
          if (!isAlive(pid) || !cluster.isRunning(0)) {
            report.count('crashes');
            throw new Error(`the datanode died:\n${cluster.stderr(0).slice(-4000)}`);
          }
          await knownBlobReadable();
        }),
        { numRuns: CASES, seed: PROFILE.seed, endOnFailure: true },
      );
    } finally {
      sample();
      for (const failure of failures.slice(0, 5)) report.note(failure);
      const result = await report.finish();
      growth = result.memory.datanode?.growthKiB;
    }
    // A leak per case shows as steady growth; a warm heap moves by a few MiB.
    expect(growth ?? 0).toBeLessThan(MAX_RSS_GROWTH_KIB);
    expect(failures).toEqual([]);
    expect(isAlive(pid)).toBe(true);
    await knownBlobReadable();
  });
});
