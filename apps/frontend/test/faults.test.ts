import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DatanodeCluster,
  type FrontendProcess,
  sha256,
  startCluster,
  startFrontendProcess,
  upload,
} from './harness.js';

/** A datanode killed with SIGKILL under a running frontend process. */
let cluster: DatanodeCluster;
let frontend: FrontendProcess;

beforeAll(async () => {
  cluster = await startCluster();
  // A short request timeout so requests to the dead node fail fast instead of after 4 s.
  frontend = await startFrontendProcess(cluster, { router: { requestTimeoutMs: 1000 }, logLevel: 'warn' });
}, 120_000);

afterAll(async () => {
  await frontend?.stop();
  await cluster?.destroy();
}, 60_000);

describe('one datanode down', () => {
  it('GET and POST still succeed, and /healthCheck stays GOOD (2 of 3 replicas make a quorum)', async () => {
    const before = await Promise.all(
      Array.from({ length: 12 }, async () => {
        const bytes = randomBytes(20_000);
        const { response, id } = await upload(frontend.url, bytes);
        expect(response.status).toBe(201);
        return { id, bytes };
      }),
    );
    expect(await cluster.stopNode(0, 'SIGKILL')).toBeNull();

    for (const { id, bytes } of before) {
      const get = await fetch(`${frontend.url}/${id}`);
      expect(get.status).toBe(200);
      expect(sha256(Buffer.from(await get.arrayBuffer()))).toBe(sha256(bytes));
    }
    for (let i = 0; i < 12; i++) {
      const bytes = randomBytes(10_000 + i);
      const { response, id } = await upload(frontend.url, bytes);
      expect(response.status).toBe(201);
      const get = await fetch(`${frontend.url}/${id}`);
      expect(get.status).toBe(200);
      expect(sha256(Buffer.from(await get.arrayBuffer()))).toBe(sha256(bytes));
    }
    const health = await fetch(`${frontend.url}/healthCheck`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe('GOOD');
  }, 120_000);

  it('with two of three down, puts cannot reach quorum: 503 with Retry-After, and /healthCheck is 503', async () => {
    await cluster.stopNode(1, 'SIGKILL');
    const post = await fetch(`${frontend.url}/`, {
      method: 'POST',
      headers: { 'x-ambry-service-id': 't', 'x-ambry-content-type': 'a/b' },
      body: 'x',
    });
    expect([503, 507]).toContain(post.status);
    const error = (await post.json()) as { error: string };
    expect(['UNAVAILABLE', 'INSUFFICIENT_CAPACITY', 'TIMEOUT']).toContain(error.error);
    if (post.status === 503) expect(post.headers.get('retry-after')).toBe('1');
    const health = await fetch(`${frontend.url}/healthCheck`);
    expect(health.status).toBe(503);
    expect(health.headers.get('retry-after')).toBe('1');
    await health.text();

    await cluster.startNode(0);
    await cluster.startNode(1);
  }, 120_000);
});
