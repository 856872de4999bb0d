import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Frontend } from '../src/frontend.js';
import {
  type DatanodeCluster,
  errorOf,
  rawRequest,
  sha256,
  startCluster,
  startFrontend,
  UPLOAD,
  upload,
} from './harness.js';

/** Bodies in and out as streams, limits on them, and load, against an in-process frontend. */
let cluster: DatanodeCluster;
let frontend: Frontend;
let limited: Frontend;

const MiB = 1024 * 1024;

beforeAll(async () => {
  cluster = await startCluster();
  frontend = await startFrontend(cluster);
  limited = await startFrontend(cluster, { maxBlobBytes: 64 * 1024, bodyIdleTimeoutMs: 300 });
}, 120_000);

afterAll(async () => {
  await frontend?.stop();
  await limited?.stop();
  await cluster?.destroy();
}, 60_000);

function portOf(f: Frontend): number {
  return Number(new URL(f.url).port);
}

describe('streaming bodies', () => {
  it('a 100 MiB chunked upload and its download have the same sha256', async () => {
    const hash = createHash('sha256');
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 100) {
          controller.close();
          return;
        }
        const piece = randomBytes(MiB);
        hash.update(piece);
        sent += 1;
        controller.enqueue(piece);
      },
    });
    const response = await fetch(`${frontend.url}/`, {
      method: 'POST',
      headers: UPLOAD,
      body,
      duplex: 'half',
    } as RequestInit);
    expect(response.status).toBe(201);
    const id = response.headers.get('location')!.slice(1);
    const expected = hash.digest('hex');

    const get = await fetch(`${frontend.url}/${id}`);
    expect(get.status).toBe(200);
    expect(get.headers.get('content-length')).toBe(String(100 * MiB));
    const down = createHash('sha256');
    let bytes = 0;
    for await (const chunk of get.body as unknown as AsyncIterable<Uint8Array>) {
      down.update(chunk);
      bytes += chunk.byteLength;
    }
    expect(bytes).toBe(100 * MiB);
    expect(down.digest('hex')).toBe(expected);

    // A range across a chunk boundary of the composite blob.
    const range = await fetch(`${frontend.url}/${id}`, {
      headers: { range: `bytes=${4 * MiB - 10}-${4 * MiB + 9}` },
    });
    expect(range.status).toBe(206);
    expect((await range.arrayBuffer()).byteLength).toBe(20);
  }, 120_000);

  it('a body cut short (client ends mid-body) → 400 BODY_INCOMPLETE, server still healthy', async () => {
    const head =
      'POST / HTTP/1.1\r\nHost: x\r\nx-ambry-service-id: t\r\nx-ambry-content-type: a/b\r\n' +
      `Content-Length: ${2 * MiB}\r\n\r\n`;
    const answer = await rawRequest(portOf(frontend), head, randomBytes(MiB), 'end');
    expect(answer).toMatch(/^HTTP\/1.1 400 /);
    expect(answer).toContain('"error":"BODY_INCOMPLETE"');
    expect(answer).toMatch(/x-ambry-request-id: \S+/i);
    const health = await fetch(`${frontend.url}/healthCheck`);
    expect(health.status).toBe(200);
    await health.text();
  });

  it('a body cut short across chunks leaves no blob behind (the router cleans up its chunks)', async () => {
    // 6 MiB declared, 5 MiB sent: one 4 MiB chunk was stored before the body broke.
    const head =
      'POST / HTTP/1.1\r\nHost: x\r\nx-ambry-service-id: t\r\nx-ambry-content-type: a/b\r\n' +
      `Content-Length: ${6 * MiB}\r\n\r\n`;
    const answer = await rawRequest(portOf(frontend), head, randomBytes(5 * MiB), 'end');
    expect(answer).toMatch(/^HTTP\/1.1 400 /);
    expect(answer).not.toMatch(/location:/i);
  });

  it('a body larger than maxBlobBytes → 413, declared or counted while streaming', async () => {
    const declared = await fetch(`${limited.url}/`, {
      method: 'POST',
      headers: UPLOAD,
      body: Buffer.alloc(64 * 1024 + 1),
    });
    expect(declared.status).toBe(413);
    expect((await errorOf(declared)).error).toBe('BLOB_TOO_LARGE');
    const streamed = await fetch(`${limited.url}/`, {
      method: 'POST',
      headers: UPLOAD,
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < 10; i++) controller.enqueue(new Uint8Array(10 * 1024));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect((await errorOf(streamed)).message).toMatch(/maxBlobBytes/);
    const fits = await upload(limited.url, Buffer.alloc(64 * 1024));
    expect(fits.response.status).toBe(201);
  });

  it('a client that stops sending mid-body is cut off with 408', async () => {
    const head =
      'POST / HTTP/1.1\r\nHost: x\r\nx-ambry-service-id: t\r\nx-ambry-content-type: a/b\r\nContent-Length: 1000\r\n\r\n';
    const answer = await rawRequest(portOf(limited), head, Buffer.alloc(10), 'wait', 3000);
    expect(answer).toMatch(/^HTTP\/1.1 408 /);
    expect(answer).toContain('"error":"BODY_TIMEOUT"');
  });

  it('an empty blob round-trips', async () => {
    const { response, id } = await upload(frontend.url, '');
    expect(response.status).toBe(201);
    const get = await fetch(`${frontend.url}/${id}`);
    expect(get.status).toBe(200);
    expect(get.headers.get('content-length')).toBe('0');
    expect((await get.arrayBuffer()).byteLength).toBe(0);
    const range = await fetch(`${frontend.url}/${id}`, { headers: { range: 'bytes=0-' } });
    expect(range.status).toBe(416);
    expect(range.headers.get('content-range')).toBe('bytes */0');
    await range.text();
  });
});

describe('load', () => {
  it('200 concurrent mixed requests are all answered correctly', async () => {
    const seeded = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const bytes = randomBytes(1000 + i * 3000);
        const { id } = await upload(frontend.url, bytes);
        return { id, bytes };
      }),
    );
    const tasks = Array.from({ length: 200 }, async (_, i) => {
      const blob = seeded[i % seeded.length]!;
      switch (i % 5) {
        case 0: {
          const bytes = randomBytes(500 + i * 50);
          const { response, id } = await upload(frontend.url, bytes);
          expect(response.status).toBe(201);
          const back = Buffer.from(await (await fetch(`${frontend.url}/${id}`)).arrayBuffer());
          expect(sha256(back)).toBe(sha256(bytes));
          return;
        }
        case 1: {
          const get = await fetch(`${frontend.url}/${blob.id}`);
          expect(get.status).toBe(200);
          expect(sha256(Buffer.from(await get.arrayBuffer()))).toBe(sha256(blob.bytes));
          return;
        }
        case 2: {
          const get = await fetch(`${frontend.url}/${blob.id}`, { headers: { range: 'bytes=10-19' } });
          expect(get.status).toBe(206);
          expect(Buffer.from(await get.arrayBuffer())).toEqual(blob.bytes.subarray(10, 20));
          return;
        }
        case 3: {
          const head = await fetch(`${frontend.url}/${blob.id}`, { method: 'HEAD' });
          expect(head.status).toBe(200);
          expect(head.headers.get('content-length')).toBe(String(blob.bytes.length));
          return;
        }
        default: {
          const info = await fetch(`${frontend.url}/${blob.id}/BlobInfo`);
          expect(info.status).toBe(200);
          expect(info.headers.get('x-ambry-blob-size')).toBe(String(blob.bytes.length));
        }
      }
    });
    await Promise.all(tasks);
  }, 60_000);
});
