import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { type BlobId, BlobIdType, type BlobProperties, ErrorCode, ServerError } from '@ambry/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RouterErrorCode } from '../src/errors.js';
import type { Router } from '../src/router.js';
import { type ClusterFixture, startCluster } from './cluster-fixture.js';
import { rejection } from './rejection.js';

const CHUNK = 1024;

let cluster: ClusterFixture;
beforeEach(async () => {
  cluster = await startCluster();
});
afterEach(async () => {
  await cluster.close();
});

function props(blobSize: number): BlobProperties {
  return {
    blobSize,
    serviceId: 'chunk-test',
    contentType: 'application/octet-stream',
    // The stores judge expiry by the real clock: an hour from now is far from either side.
    creationTimeMs: Date.now(),
    ttlSeconds: 3600,
    isPrivate: false,
    accountId: 101,
    containerId: 7,
  };
}

function bytes(size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = (i * 7 + Math.floor(i / CHUNK)) % 251;
  return out;
}

/** Uneven pieces, so chunk boundaries fall inside the source's pieces. */
function readableOf(data: Buffer, pieceBytes = 700): Readable {
  const pieces: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += pieceBytes) {
    pieces.push(data.subarray(offset, offset + pieceBytes));
  }
  return Readable.from(pieces);
}

/** DATA_CHUNK ids in the order their puts reached a node (chunk order when chunksInFlight is 1). */
function recordChunkPuts(): () => BlobId[] {
  const ids = new Map<string, BlobId>();
  cluster.intercept((operation, id) => {
    if (operation === 'put' && id.type === BlobIdType.DATA_CHUNK) ids.set(id.toString(), id);
  });
  return () => [...ids.values()];
}

/** Distinct DATA_CHUNK ids that received at least one GET since the last reset. */
function recordChunkGets(): { fetched: Set<string>; reset(): void } {
  const fetched = new Set<string>();
  cluster.intercept((operation, id) => {
    if (operation === 'get' && id.type === BlobIdType.DATA_CHUNK) fetched.add(id.toString());
  });
  return { fetched, reset: () => fetched.clear() };
}

async function putChunked(router: Router, data: Buffer): Promise<BlobId> {
  return router.put({ properties: props(data.length), userMetadata: { k: 'v' }, blob: data });
}

describe('chunked put and get', () => {
  it('round-trips every size byte for byte from a Buffer and from a Readable', async () => {
    const router = cluster.router({ config: { chunkBytes: CHUNK } });
    for (const size of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3.5 * CHUNK]) {
      const data = bytes(size);
      for (const blob of [data, readableOf(data)]) {
        const id = await router.put({ properties: props(size), userMetadata: { k: 'v' }, blob });
        expect(id.type).toBe(size > CHUNK ? BlobIdType.METADATA : BlobIdType.SIMPLE);
        const got = await router.get(id);
        expect(got.blobSize).toBe(size);
        expect(got.properties).toMatchObject({ blobSize: size, ttlSeconds: 3600, serviceId: 'chunk-test' });
        expect(got.userMetadata).toEqual({ k: 'v' });
        expect((await buffer(got.blob)).equals(data)).toBe(true);
        const info = await router.get(id, { part: 'info' });
        expect([info.blobSize, info.properties.blobSize]).toEqual([size, size]);
        expect((await buffer(info.blob)).length).toBe(0);
      }
    }
  });

  it('counts the size of a Readable put without one: simple up to a chunk, composite beyond', async () => {
    const router = cluster.router({ config: { chunkBytes: CHUNK } });
    for (const size of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3.5 * CHUNK]) {
      const data = bytes(size);
      const { blobSize: _declared, ...unsized } = props(size);
      const id = await router.put({ properties: unsized, blob: readableOf(data, 333) });
      expect(id.type).toBe(size > CHUNK ? BlobIdType.METADATA : BlobIdType.SIMPLE);
      const got = await router.get(id);
      expect([got.blobSize, got.properties.blobSize]).toEqual([size, size]);
      expect((await buffer(got.blob)).equals(data)).toBe(true);
    }
    // A Buffer without a declared size is its own length.
    const { blobSize: _declared, ...unsized } = props(0);
    const id = await router.put({ properties: unsized, blob: bytes(CHUNK + 5) });
    expect((await router.get(id, { part: 'info' })).blobSize).toBe(CHUNK + 5);
  });

  it('learns the hedge delay of large chunk reads apart from that of small reads', async () => {
    const big = 256 * 1024;
    const router = cluster.router({ config: { chunkBytes: big } });
    const data = bytes(2.5 * big);
    const id = await router.put({ properties: props(data.length), blob: data });
    expect((await buffer((await router.get(id)).blob)).equals(data)).toBe(true);
    // Small: the metadata blob and the last, half-size chunk; large: the two whole 256 KiB chunks.
    expect(router.latencyTrackers.for('dc1').sampleCount).toBe(2);
    expect(router.latencyTrackers.for('dc1', 'large').sampleCount).toBe(2);
  });

  it('stores data chunks with the blob account, container and TTL, sized to the chunk', async () => {
    const router = cluster.router({ config: { chunkBytes: CHUNK, chunksInFlight: 1 } });
    const recorded = recordChunkPuts();
    const data = bytes(2.5 * CHUNK);
    await putChunked(router, data);
    const chunks = recorded();
    expect(chunks.map((id) => id.type)).toEqual([1, 2, 3].map(() => BlobIdType.DATA_CHUNK));
    const sizes: number[] = [];
    for (const [index, id] of chunks.entries()) {
      expect([id.accountId, id.containerId]).toEqual([101, 7]);
      const got = await router.get(id);
      expect(got.properties).toMatchObject({ accountId: 101, containerId: 7, ttlSeconds: 3600 });
      sizes.push(got.properties.blobSize);
      const content = await buffer(got.blob);
      expect(content.equals(data.subarray(index * CHUNK, (index + 1) * CHUNK))).toBe(true);
    }
    expect(sizes).toEqual([CHUNK, CHUNK, CHUNK / 2]);
  });

  it('fetches only the chunks a range touches', async () => {
    const router = cluster.router({ config: { chunkBytes: CHUNK, chunksInFlight: 1 } });
    const recorded = recordChunkPuts();
    const data = bytes(3.5 * CHUNK);
    const id = await putChunked(router, data);
    const index = new Map(recorded().map((chunk, i) => [chunk.toString(), i]));
    expect(index.size).toBe(4);
    const gets = recordChunkGets();
    const cases: Array<[offset: number, length: number, chunks: number[]]> = [
      [CHUNK, CHUNK, [1]], // start and end exactly on boundaries
      [0, CHUNK, [0]],
      [CHUNK - 24, 100, [0, 1]], // spans two chunks
      [2 * CHUNK + 100, 10, [2]], // inside one chunk
      [2 * CHUNK - 1, 2, [1, 2]], // last byte of one, first byte of the next
      [3 * CHUNK, 512, [3]],
      [3000, 10_000, [2, 3]], // clamped to the end
    ];
    for (const [offset, length, expected] of cases) {
      await cluster.settle();
      gets.reset();
      const got = await router.get(id, { range: { offset, length } });
      const end = Math.min(offset + length, data.length);
      expect(got.range).toEqual({ offset, length: end - offset });
      expect((await buffer(got.blob)).equals(data.subarray(offset, end))).toBe(true);
      await cluster.settle();
      expect([...gets.fetched].map((chunk) => index.get(chunk)).sort()).toEqual(expected);
    }
    const past = await rejection(router.get(id, { range: { offset: data.length, length: 1 } }));
    expect(past.code).toBe(RouterErrorCode.RANGE_NOT_SATISFIABLE);
  });

  it('reads ahead at most chunksInFlight chunks for a slow consumer, and only when read', async () => {
    const router = cluster.router({ config: { chunkBytes: CHUNK, chunksInFlight: 2 } });
    const data = bytes(10 * CHUNK);
    const id = await putChunked(router, data);
    const gets = recordChunkGets();
    const got = await router.get(id);
    await cluster.settle();
    expect(gets.fetched.size).toBe(0);
    const parts: Buffer[] = [];
    let consumed = 0;
    let most = 0;
    for await (const part of got.blob as AsyncIterable<Buffer>) {
      parts.push(part);
      consumed += part.length;
      // The slow consumer: everything the stream would do meanwhile gets done.
      await cluster.settle();
      const ahead = gets.fetched.size - Math.floor(consumed / CHUNK);
      most = Math.max(most, ahead);
      expect(ahead).toBeLessThanOrEqual(2);
    }
    expect(most).toBeGreaterThan(0);
    expect(Buffer.concat(parts).equals(data)).toBe(true);
  });

  it('stops fetching chunks when the consumer destroys the stream', async () => {
    const router = cluster.router({ config: { chunkBytes: CHUNK, chunksInFlight: 2 } });
    const data = bytes(10 * CHUNK);
    const id = await putChunked(router, data);
    const gets = recordChunkGets();
    const got = await router.get(id);
    let first: Buffer | undefined;
    for await (const part of got.blob as AsyncIterable<Buffer>) {
      first = part;
      break; // destroys the stream
    }
    expect(first?.equals(data.subarray(0, first.length))).toBe(true);
    expect(got.blob.destroyed).toBe(true);
    await cluster.settle();
    expect(gets.fetched.size).toBeLessThanOrEqual(3);
    // Later chunks are never asked for, however long we wait.
    await cluster.settle();
    expect(gets.fetched.size).toBeLessThanOrEqual(3);
    expect(await buffer((await router.get(id)).blob)).toEqual(data);
  });

  it('reads the source no further than chunksInFlight chunks while chunk puts are stalled', async () => {
    const router = cluster.router({
      config: { chunkBytes: CHUNK, chunksInFlight: 2, requestTimeoutMs: 300 },
    });
    for (const node of cluster.nodesIn('dc1')) {
      cluster.network.blackhole({ host: node.host, port: node.port }, true);
    }
    let pulled = 0;
    // One piece per _read and a 1-byte high-water mark: pulls are what the router asked for, plus one.
    const source = new Readable({
      highWaterMark: 1,
      read() {
        pulled += 1;
        this.push(pulled > 10 ? null : Buffer.alloc(CHUNK, pulled));
      },
    });
    const put = rejection(router.put({ properties: props(10 * CHUNK), blob: source }));
    // However long the puts hang, the router must not read on; the wait only gives it the chance.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(pulled).toBeLessThanOrEqual(2 + 1);
    expect((await put).code).not.toBe(RouterErrorCode.INVALID_ARGUMENT);
    expect(pulled).toBeLessThanOrEqual(2 + 1);
  });

  it('deletes the chunks already written when a chunk put fails', async () => {
    const router = cluster.router({ config: { chunkBytes: CHUNK, chunksInFlight: 1 } });
    const allowed = new Set<string>();
    const metadataPuts: BlobId[] = [];
    cluster.intercept((operation, id) => {
      if (operation !== 'put') return;
      if (id.type === BlobIdType.METADATA) metadataPuts.push(id);
      if (id.type !== BlobIdType.DATA_CHUNK) return;
      const key = id.toString();
      if (!allowed.has(key) && allowed.size >= 2) {
        throw new ServerError(ErrorCode.PARTITION_READ_ONLY, 'injected: chunk 3 fails everywhere');
      }
      allowed.add(key);
    });
    const error = await rejection(putChunked(router, bytes(5 * CHUNK)));
    expect(error.code).not.toBe(RouterErrorCode.INTERNAL);
    expect(metadataPuts).toEqual([]);
    expect(allowed.size).toBe(2);
    for (const key of allowed) {
      const gone = await rejection(router.get(key));
      expect([RouterErrorCode.BLOB_DELETED, RouterErrorCode.BLOB_NOT_FOUND]).toContain(gone.code);
    }
  });

  it('refuses a Readable shorter or longer than blobSize and deletes the chunks it wrote', async () => {
    const router = cluster.router({ config: { chunkBytes: CHUNK, chunksInFlight: 1 } });
    const recorded = recordChunkPuts();
    const short = await rejection(
      router.put({ properties: props(3 * CHUNK), blob: readableOf(bytes(2.5 * CHUNK)) }),
    );
    expect(short.code).toBe(RouterErrorCode.INVALID_ARGUMENT);
    const long = await rejection(
      router.put({ properties: props(2 * CHUNK + 10), blob: readableOf(bytes(3 * CHUNK)) }),
    );
    expect(long.code).toBe(RouterErrorCode.INVALID_ARGUMENT);
    expect(recorded().length).toBeGreaterThanOrEqual(3);
    for (const chunk of recorded()) {
      const gone = await rejection(router.get(chunk));
      expect([RouterErrorCode.BLOB_DELETED, RouterErrorCode.BLOB_NOT_FOUND]).toContain(gone.code);
    }
  });

  it('deletes a composite blob through its metadata blob, leaving chunks to a later step', async () => {
    const router = cluster.router({ config: { chunkBytes: CHUNK, chunksInFlight: 1 } });
    const recorded = recordChunkPuts();
    const id = await putChunked(router, bytes(2 * CHUNK + 1));
    await router.delete(id);
    expect((await rejection(router.get(id))).code).toBe(RouterErrorCode.BLOB_DELETED);
    const chunk = recorded()[0]!;
    expect((await buffer((await router.get(chunk)).blob)).length).toBe(CHUNK);
  });
});
