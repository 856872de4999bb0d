import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DatanodeCluster,
  errorOf,
  type FrontendProcess,
  rawRequest,
  slowRequest,
  startCluster,
  startFrontendProcess,
  UPLOAD,
  upload,
} from './harness.js';

/** Every endpoint and status of the issue, against a frontend process over 3 datanode processes. */
let cluster: DatanodeCluster;
let frontend: FrontendProcess;
let url: string;

beforeAll(async () => {
  cluster = await startCluster();
  frontend = await startFrontendProcess(cluster, { maxUserMetadataBytes: 1024, logLevel: 'info' });
  url = frontend.url;
}, 120_000);

afterAll(async () => {
  const code = await frontend?.stop();
  await cluster?.destroy();
  expect(code).toBe(0);
}, 60_000);

const TEXT = 'hello, ambry! 0123456789';

describe('the Ambry HTTP API', () => {
  it('GET /healthCheck is 200 GOOD with a request id', async () => {
    const response = await fetch(`${url}/healthCheck`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('GOOD');
    expect(response.headers.get('x-ambry-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('POST / → 201 with Location and x-ambry-creation-time; GET returns the bytes and headers', async () => {
    const { response, id } = await upload(url, TEXT, {
      'x-ambry-content-type': 'text/plain',
      'x-ambry-owner-id': 'alice',
      'x-ambry-ttl': '86400',
      'x-ambry-um-color': 'blue',
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('location')).toBe(`/${id}`);
    expect(new Date(response.headers.get('x-ambry-creation-time')!).getTime()).toBeGreaterThan(0);

    const get = await fetch(`${url}/${id}`);
    expect(get.status).toBe(200);
    expect(await get.text()).toBe(TEXT);
    const h = get.headers;
    expect(h.get('content-type')).toBe('text/plain');
    expect(h.get('content-length')).toBe(String(TEXT.length));
    expect(h.get('accept-ranges')).toBe('bytes');
    expect(h.get('etag')).toBe(`"${id}"`);
    expect(h.get('last-modified')).toBe(response.headers.get('x-ambry-creation-time'));
    expect(h.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(h.get('x-ambry-blob-size')).toBe(String(TEXT.length));
    expect(h.get('x-ambry-service-id')).toBe('tests');
    expect(h.get('x-ambry-owner-id')).toBe('alice');
    expect(h.get('x-ambry-ttl')).toBe('86400');
    expect(h.get('x-ambry-private')).toBe('false');
    expect(h.get('x-ambry-um-color')).toBe('blue');

    const head = await fetch(`${url}/${id}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(TEXT.length));
    expect(head.headers.get('etag')).toBe(`"${id}"`);
    expect(await head.text()).toBe('');

    const info = await fetch(`${url}/${id}/BlobInfo`);
    expect(info.status).toBe(200);
    expect(info.headers.get('x-ambry-content-type')).toBe('text/plain');
    expect(info.headers.get('x-ambry-um-color')).toBe('blue');
    const um = await fetch(`${url}/${id}/UserMetadata`);
    expect(um.status).toBe(200);
    expect(um.headers.get('x-ambry-um-color')).toBe('blue');
  });

  it('ranges: a-b, a- and -n → 206 with Content-Range; outside the blob → 416', async () => {
    const { id } = await upload(url, TEXT);
    const cases: Array<[string, string, string]> = [
      ['bytes=0-4', 'hello', `bytes 0-4/${TEXT.length}`],
      ['bytes=14-', '0123456789', `bytes 14-23/${TEXT.length}`],
      ['bytes=-3', '789', `bytes 21-23/${TEXT.length}`],
      ['bytes=20-1000', '6789', `bytes 20-23/${TEXT.length}`],
    ];
    for (const [range, body, contentRange] of cases) {
      const response = await fetch(`${url}/${id}`, { headers: { range } });
      expect(response.status, range).toBe(206);
      expect(response.headers.get('content-range')).toBe(contentRange);
      expect(await response.text()).toBe(body);
    }
    for (const range of ['bytes=24-', 'bytes=-0']) {
      const response = await fetch(`${url}/${id}`, { headers: { range } });
      expect(response.status, range).toBe(416);
      expect(response.headers.get('content-range')).toBe(`bytes */${TEXT.length}`);
      expect((await errorOf(response)).error).toBe('RANGE_NOT_SATISFIABLE');
    }
    const bad = await fetch(`${url}/${id}`, { headers: { range: 'bytes=5-1' } });
    expect(bad.status).toBe(400);
    expect((await errorOf(bad)).error).toBe('INVALID_RANGE');
  });

  it('If-None-Match with the ETag → 304; private blobs are private, no-cache', async () => {
    const { id } = await upload(url, TEXT, { 'x-ambry-private': 'true' });
    const first = await fetch(`${url}/${id}`);
    expect(first.headers.get('cache-control')).toBe('private, no-cache');
    await first.arrayBuffer();
    const again = await fetch(`${url}/${id}`, { headers: { 'if-none-match': first.headers.get('etag')! } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
  });

  it('DELETE → 202, then GET / HEAD → 410 unless x-ambry-get-option asks; undelete → 200', async () => {
    const { id } = await upload(url, TEXT);
    const del = await fetch(`${url}/${id}`, { method: 'DELETE' });
    expect(del.status).toBe(202);
    const get = await fetch(`${url}/${id}`);
    expect(get.status).toBe(410);
    expect((await errorOf(get)).error).toBe('BLOB_DELETED');
    expect((await fetch(`${url}/${id}`, { method: 'HEAD' })).status).toBe(410);
    const included = await fetch(`${url}/${id}`, {
      headers: { 'x-ambry-get-option': 'Include_Deleted_Blobs' },
    });
    expect(included.status).toBe(200);
    expect(await included.text()).toBe(TEXT);
    const badOption = await fetch(`${url}/${id}`, { headers: { 'x-ambry-get-option': 'Everything' } });
    expect(badOption.status).toBe(400);
    expect((await errorOf(badOption)).message).toContain('x-ambry-get-option');

    const undelete = await fetch(`${url}/undelete`, {
      method: 'PUT',
      headers: { 'x-ambry-blob-id': id, 'x-ambry-service-id': 'tests' },
    });
    expect(undelete.status).toBe(200);
    const back = await fetch(`${url}/${id}`);
    expect(back.status).toBe(200);
    expect(await back.text()).toBe(TEXT);
  });

  it('PUT /updateTtl makes the blob permanent (no x-ambry-ttl any more)', async () => {
    const { id } = await upload(url, TEXT, { 'x-ambry-ttl': '3600' });
    expect((await fetch(`${url}/${id}/BlobInfo`)).headers.get('x-ambry-ttl')).toBe('3600');
    const update = await fetch(`${url}/updateTtl`, {
      method: 'PUT',
      headers: { 'x-ambry-blob-id': id, 'x-ambry-service-id': 'tests' },
    });
    expect(update.status).toBe(200);
    expect((await fetch(`${url}/${id}/BlobInfo`)).headers.get('x-ambry-ttl')).toBeNull();
    const missing = await fetch(`${url}/updateTtl`, { method: 'PUT', headers: { 'x-ambry-blob-id': id } });
    expect(missing.status).toBe(400);
    expect(await errorOf(missing)).toMatchObject({ error: 'MISSING_HEADER' });
  });

  it('an expired blob is 410 unless Include_Expired_Blobs', async () => {
    const { id } = await upload(url, TEXT, { 'x-ambry-ttl': '0' });
    await new Promise((r) => setTimeout(r, 1100));
    const get = await fetch(`${url}/${id}`);
    expect(get.status).toBe(410);
    expect((await errorOf(get)).error).toBe('BLOB_EXPIRED');
    const included = await fetch(`${url}/${id}`, { headers: { 'x-ambry-get-option': 'Include_All' } });
    expect(included.status).toBe(200);
    await included.arrayBuffer();
  });

  it('unknown blob → 404, bad id → 400 INVALID_BLOB_ID, unknown endpoint → 404 JSON', async () => {
    const { id } = await upload(url, TEXT);
    // Same partition and shape, other UUID bytes: a well-formed id nobody stored.
    const other = `${id.slice(0, -8)}${id.endsWith('AAAAAAAA') ? 'BBBBBBBB' : 'AAAAAAAA'}`;
    const unknown = await fetch(`${url}/${other}`);
    expect(unknown.status).toBe(404);
    expect((await errorOf(unknown)).error).toBe('BLOB_NOT_FOUND');
    const bad = await fetch(`${url}/not-a-blob-id`);
    expect(bad.status).toBe(400);
    expect((await errorOf(bad)).error).toBe('INVALID_BLOB_ID');
    const nowhere = await fetch(`${url}/a/b/c`);
    expect(nowhere.status).toBe(404);
    expect(await errorOf(nowhere)).toMatchObject({ error: 'NOT_FOUND' });
    expect(nowhere.headers.get('x-ambry-request-id')).toBeTruthy();
    // Paths fastify cannot route at all: bad percent-encoding, an id past the router's length limit.
    for (const path of ['/%zz', `/${'A'.repeat(300)}`]) {
      const refused = await fetch(`${url}${path}`);
      expect(refused.status).toBe(400);
      expect(refused.headers.get('x-ambry-request-id')).toBeTruthy();
      expect((await errorOf(refused)).error).toBe('INVALID_BLOB_ID');
    }
  });

  it('malformed uploads → 4xx with a clear message, and the server still answers', async () => {
    const cases: Array<[Record<string, string>, string | Uint8Array, number, string, RegExp]> = [
      [{ 'x-ambry-service-id': '' }, 'x', 400, 'MISSING_HEADER', /x-ambry-service-id/],
      [{ 'x-ambry-ttl': '-5' }, 'x', 400, 'INVALID_HEADER', /x-ambry-ttl/],
      [{ 'x-ambry-ttl': 'abc' }, 'x', 400, 'INVALID_HEADER', /x-ambry-ttl/],
      [{ 'x-ambry-blob-size': '3' }, 'four', 400, 'SIZE_MISMATCH', /x-ambry-blob-size/],
      [{ 'x-ambry-um-big': 'x'.repeat(2000) }, 'x', 400, 'USER_METADATA_TOO_LARGE', /at most 1024/],
    ];
    for (const [headers, body, status, code, message] of cases) {
      const response = await fetch(`${url}/`, { method: 'POST', headers: { ...UPLOAD, ...headers }, body });
      expect(response.status, JSON.stringify(headers).slice(0, 60)).toBe(status);
      const error = await errorOf(response);
      expect(error.error).toBe(code);
      expect(error.message).toMatch(message);
    }
    const health = await fetch(`${url}/healthCheck`);
    expect(health.status).toBe(200);
    await health.text();
  });

  it('a request id given by the client is kept; a bad one replaced', async () => {
    const kept = await fetch(`${url}/healthCheck`, { headers: { 'x-ambry-request-id': 'trace-42' } });
    expect(kept.headers.get('x-ambry-request-id')).toBe('trace-42');
    const replaced = await fetch(`${url}/healthCheck`, { headers: { 'x-ambry-request-id': 'bad id!' } });
    expect(replaced.headers.get('x-ambry-request-id')).not.toBe('bad id!');
    await kept.text();
    await replaced.text();
  });

  it('GET /metrics is Prometheus text with request and failure-detector series', async () => {
    const response = await fetch(`${url}/metrics`);
    const text = await response.text();
    expect(response.status).toBe(200);
    expect(text).toMatch(/ambry_frontend_requests_total\{route="\/:id",method="GET",status="200"\} \d+/);
    expect(text).toContain('ambry_frontend_request_duration_seconds_bucket');
    expect(text).toContain('ambry_frontend_requests_in_flight');
    expect(text).toMatch(/ambry_router_resources\{kind="node",state="up"\} \d+/);
    expect(text).toMatch(/ambry_router_operations_total\{operation="get",outcome="OK"\} [1-9]/);
  });

  it('requests node would answer bare get the JSON error and an id, and are logged as info', async () => {
    const port = Number(new URL(url).port);
    // Found by the fault suite's HTTP fuzzer: each of these once came back without a body or type.
    const cases: Array<[string, number, string]> = [
      ['GET /healthCheck HTTP/1.1\r\nx-ambry-request-id: raw-no-host\r\n\r\n', 400, 'MISSING_HEADER'],
      [
        'POST / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\nx-ambry-request-id: raw-expect\r\nContent-Length: 1\r\n\r\n',
        417,
        'INVALID_HEADER',
      ],
      ['GET /healthCheck HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n', 400, 'BAD_REQUEST'],
    ];
    for (const [head, status, code] of cases) {
      const answer = await rawRequest(port, head, Buffer.alloc(0), 'wait');
      const [top, body] = answer.split('\r\n\r\n') as [string, string];
      expect(top, head).toMatch(new RegExp(`^HTTP/1.1 ${status} `));
      expect(top.toLowerCase()).toContain('content-type: application/json');
      expect(top.toLowerCase()).toMatch(/x-ambry-request-id: \S+/);
      expect(JSON.parse(body)).toMatchObject({ error: code });
    }
    await new Promise((r) => setTimeout(r, 200));
    const refusals = frontend
      .output()
      .split('\n')
      .filter((l) => l.includes('"raw-no-host"') || l.includes('"raw-expect"'));
    expect(refusals).toHaveLength(2);
    for (const line of refusals) expect(JSON.parse(line).level).toBe(30);
  });

  it('an answer sent before the body arrived reaches the client (the close lingers, no reset)', async () => {
    // Found by the fault suite's HTTP fuzzer: the 404 was written, then the socket destroyed with the
    // client's bytes still arriving; the reset could discard the answer before the client read it.
    const body = Buffer.alloc(6 * 1024, 'a');
    const heads = [
      `POST /no/such/endpoint HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n`,
      `POST // HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n`,
    ];
    for (let attempt = 0; attempt < 6; attempt++) {
      const answer = await slowRequest(Number(new URL(url).port), heads[attempt % 2]!, body, 16);
      expect(answer.received, `attempt ${attempt}`).toMatch(/^HTTP\/1\.1 404 /);
      expect(answer.closed).toBe(true);
    }
  });

  it('writes one JSON log line per request', async () => {
    const response = await fetch(`${url}/healthCheck`, {
      headers: { 'x-ambry-request-id': 'log-line-check' },
    });
    await response.text();
    await new Promise((r) => setTimeout(r, 200));
    const lines = frontend
      .output()
      .split('\n')
      .filter((l) => l.includes('"log-line-check"'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ method: 'GET', url: '/healthCheck', status: 200 });
  });
});
