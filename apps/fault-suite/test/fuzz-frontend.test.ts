/**
 * Fuzzing a real frontend process over HTTP (issue 9, suite 3): three datanode processes and a frontend
 * process started from source (as apps/frontend/test/harness.ts does). Every case is one raw TCP
 * connection carrying a request fetch would refuse to send: random and mutated methods, paths (ids
 * valid, truncated, mutated, very long, percent garbage), x-ambry-* and Range headers with bad, huge and
 * duplicated values, bodies whose declared and sent sizes disagree, broken chunked framing, truncated or
 * trickled bodies, clients that stall. Every response must be 2xx/3xx/4xx (no 5xx: every replica is
 * up), a 4xx must carry the JSON error body, the connection must end in bounded time, and the process
 * must stay alive; at the end a known blob reads back and /healthCheck says GOOD. RSS is sampled.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatanodeCluster } from '../../../test-support/datanode-cluster.js';
import { type FrontendProcess, startFrontendProcess } from '../../../test-support/frontend-process.js';
import { deliver, exchange, isAlive, MAX_RSS_GROWTH_KIB, profile, rssKiB } from '../src/fuzz-kit.js';
import {
  type BuiltRequest,
  buildRequest,
  describeCase,
  type HttpCase,
  httpCases,
  UPLOAD_HEADERS,
} from '../src/http-cases.js';
import { type HttpResponse, parseResponses } from '../src/http-wire.js';
import { FaultReport } from '../src/report.js';

const PROFILE = profile();
const BASE_CASES = 500;
const CASES = BASE_CASES * PROFILE.scale;
const SAMPLES = 40;
/** A trickled case writes at most this many small pieces, then the rest at once. */
const MAX_SLOW_PIECES = 100;
/** Any case: connect to close. */
const CASE_TIMEOUT_MS = 15_000;
/** The frontend's bodyIdleTimeoutMs here: a stalled upload is cut off after this. */
const BODY_IDLE_MS = 1000;
const MAX_BLOB_BYTES = 1024 * 1024;

let cluster: DatanodeCluster;
let frontend: FrontendProcess;
const known = { id: '', bytes: Buffer.alloc(0) };
/** Ids the fuzzer may read, delete, undelete and update (never the known blob's). */
const victims: string[] = [];

async function upload(bytes: Uint8Array): Promise<string> {
  const response = await fetch(`${frontend.url}/`, { method: 'POST', headers: UPLOAD_HEADERS, body: bytes });
  await response.arrayBuffer();
  if (response.status !== 201) throw new Error(`upload answered ${response.status}`);
  return (response.headers.get('location') ?? '').replace(/^\//, '');
}

beforeAll(async () => {
  cluster = await DatanodeCluster.create({ nodesPerDc: 3, partitions: 4, disksPerNode: 1 });
  await cluster.start();
  frontend = await startFrontendProcess(cluster, {
    // 5xx are logged at error ("request failed"): the log then holds exactly the failures.
    config: { logLevel: 'error', bodyIdleTimeoutMs: BODY_IDLE_MS, maxBlobBytes: MAX_BLOB_BYTES },
  });
  known.bytes = Buffer.from(new Uint8Array(10_000).map((_, i) => (i * 7 + 3) & 0xff));
  known.id = await upload(known.bytes);
  for (let i = 0; i < 6; i++) victims.push(await upload(Buffer.alloc(100 + i * 500, i)));
}, 120_000);

afterAll(async () => {
  await frontend?.stop();
  await cluster?.destroy();
});

/** What is wrong with one response, or undefined. */
function problemWith(response: HttpResponse, method: string, first: boolean): string | undefined {
  const { status } = response;
  if (status < 200 || status >= 500) return `status ${status}`;
  if (status < 400) return undefined;
  if (!response.headers.has('x-ambry-request-id')) return `${status} without x-ambry-request-id`;
  if (first && method.toUpperCase() === 'HEAD') return undefined; // no body to carry the error
  const type = response.headers.get('content-type')?.[0] ?? '';
  if (!type.startsWith('application/json')) return `${status} with content-type ${JSON.stringify(type)}`;
  try {
    const body = JSON.parse(response.body.toString('utf8')) as { error?: unknown; message?: unknown };
    if (typeof body.error !== 'string' || typeof body.message !== 'string') {
      return `${status} body without error and message: ${response.body.toString('utf8').slice(0, 200)}`;
    }
  } catch {
    return `${status} body is not JSON: ${response.body.toString('utf8').slice(0, 200)}`;
  }
  return undefined;
}

async function knownBlobReadable(): Promise<void> {
  const response = await fetch(`${frontend.url}/${known.id}`, { signal: AbortSignal.timeout(10_000) });
  const body = Buffer.from(await response.arrayBuffer());
  expect(response.status).toBe(200);
  expect(body.equals(known.bytes)).toBe(true);
}

describe('fuzzing the frontend HTTP API', () => {
  it(`survives ${CASES} random and mutated HTTP requests (${PROFILE.name} profile)`, async () => {
    const report = new FaultReport('fuzz-frontend', {
      profile: PROFILE.name,
      seed: PROFILE.seed,
      warmupCases: Math.floor(CASES / 10),
    });
    const pid = frontend.child.pid;
    const sampleEvery = Math.max(1, Math.floor(CASES / SAMPLES));
    let run = 0;
    const sample = () => {
      const rss = rssKiB(pid);
      if (rss !== undefined) report.sampleMemory('frontend', run, rss);
    };
    sample();
    const problems: string[] = [];
    const problem = (what: string, c: HttpCase, built: BuiltRequest) => {
      report.count('problems');
      if (problems.length < 20) problems.push(`${what}: ${describeCase(c, built)}`);
    };
    let growth: number | undefined;
    try {
      await fc.assert(
        fc.asyncProperty(httpCases(victims), async (c) => {
          const built = buildRequest(c, victims);
          report.count('requests fuzzed');
          if (c.delivery.kind === 'slow') report.count('cases slow client');
          if (c.tail === 'stall') report.count('cases stalled client');
          report.count(`cases body ${c.body.kind}`);
          const result = await exchange({
            host: '127.0.0.1',
            port: frontend.port,
            pieces: deliver(built.bytes, c.delivery, MAX_SLOW_PIECES),
            answered: (received) => parseResponses(received, c.method, false).responses.length > 0,
            // An incomplete request cannot be answered before the server sees our FIN (or gives up).
            graceMs: built.complete ? 5000 : 20,
            neverEnd: c.tail === 'stall',
            timeoutMs: CASE_TIMEOUT_MS,
          });
          run += 1;
          if (run % sampleEvery === 0) sample();
          if (result.hung) {
            report.count('hangs');
            problem(`connection still open after ${CASE_TIMEOUT_MS} ms`, c, built);
          }
          const parsed = parseResponses(result.received, c.method, true);
          if (parsed.error) problem(`unparsable response (${parsed.error})`, c, built);
          parsed.responses.forEach((response, i) => {
            report.status(response.status);
            const wrong = problemWith(response, c.method, i === 0);
            if (wrong) problem(wrong, c, built);
          });
          if (parsed.responses.length === 0) {
            report.count('connections closed');
            if (built.wellFormed && !result.hung) problem('a well-formed request got no response', c, built);
          }
          if (result.reset) report.count('connections reset');
          if (!isAlive(pid)) {
            report.count('crashes');
            throw new Error(`the frontend died:\n${frontend.output().slice(-4000)}`);
          }
          if (run % 25 === 0) await knownBlobReadable();
        }),
        { numRuns: CASES, seed: PROFILE.seed, endOnFailure: true },
      );
    } finally {
      sample();
      for (const p of problems) report.note(p);
      const failures = frontend
        .output()
        .split('\n')
        .filter((l) => l.includes('"request failed"'));
      report.count('5xx logged by the frontend', failures.length);
      for (const line of failures.slice(0, 5)) report.note(`frontend log: ${line.slice(0, 600)}`);
      const result = await report.finish();
      growth = result.memory.frontend?.growthKiB;
    }
    // A leak per case shows as steady growth; a warm heap moves by a few MiB.
    expect(growth ?? 0).toBeLessThan(MAX_RSS_GROWTH_KIB);
    expect(problems).toEqual([]);
    expect(isAlive(pid)).toBe(true);
    await knownBlobReadable();
    const health = await fetch(`${frontend.url}/healthCheck`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe('GOOD');
  });
});
