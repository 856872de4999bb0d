/**
 * The crash loop's final checks, once every process is up again: each acknowledged blob reads back
 * byte-identical through the frontend, each acknowledged DELETE reads 410, and blobs whose DELETE was
 * never acknowledged read one way or the other but never wrong. A request that fails for a transient
 * reason (5xx, connection) is retried a bounded number of times before the blob counts as lost.
 */

import type { AckedBlob, Ledger } from './crash-ledger.js';
import { exchangeHttp } from './http-exchange.js';
import { sha256 } from './random.js';

export interface ReadBackOptions {
  readonly url: string;
  readonly boundMs: number;
  readonly attempts: number;
  readonly retryDelayMs: number;
  readonly parallel: number;
}

/** What one blob read as: `ok`, or what was wrong. */
type Verdict = { readonly ok: true } | { readonly ok: false; readonly reason: string };

type Expectation = 'bytes' | 'deleted' | 'either';

export interface ReadBackResult {
  readonly checked: number;
  /** Acknowledged, not deleted, and not readable with the right bytes: the number that must be 0. */
  readonly lost: string[];
  /** Acknowledged DELETEs that did not read 410. */
  readonly deletesNotSeen: string[];
  /** DELETEs never acknowledged whose blob read neither right nor 410. */
  readonly unknownWrong: string[];
  /** TTL updates acknowledged that the blob does not show (it still has an x-ambry-ttl). */
  readonly ttlLost: string[];
}

export async function verifyReadBack(ledger: Ledger, options: ReadBackOptions): Promise<ReadBackResult> {
  const result: ReadBackResult = { checked: 0, lost: [], deletesNotSeen: [], unknownWrong: [], ttlLost: [] };
  const work: [AckedBlob, Expectation][] = [
    ...ledger.live().map((b): [AckedBlob, Expectation] => [b, 'bytes']),
    ...ledger.deleted().map((b): [AckedBlob, Expectation] => [b, 'deleted']),
    ...ledger.deleteUnknown().map((b): [AckedBlob, Expectation] => [b, 'either']),
  ];
  let next = 0;
  const worker = async () => {
    while (next < work.length) {
      const [blob, expect] = work[next++]!;
      const verdict = await check(blob, expect, ledger.isTtlUpdated(blob.id), options);
      (result as { checked: number }).checked++;
      if (verdict.ok) continue;
      const line = `${blob.id} (${blob.size} B): ${verdict.reason}`;
      if (verdict.reason.startsWith('ttl')) result.ttlLost.push(line);
      else if (expect === 'bytes') result.lost.push(line);
      else if (expect === 'deleted') result.deletesNotSeen.push(line);
      else result.unknownWrong.push(line);
    }
  };
  await Promise.all(Array.from({ length: options.parallel }, worker));
  return result;
}

async function check(
  blob: AckedBlob,
  expect: Expectation,
  ttlUpdated: boolean,
  options: ReadBackOptions,
): Promise<Verdict> {
  let last = '';
  for (let attempt = 0; attempt < options.attempts; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, options.retryDelayMs));
    const outcome = await exchangeHttp(options.url, { method: 'GET', path: `/${blob.id}` }, options.boundMs);
    if (outcome.kind === 'hang') {
      last = `no answer within ${options.boundMs} ms`;
      continue;
    }
    if (outcome.kind === 'connection') {
      last = `connection: ${outcome.error}`;
      continue;
    }
    const { status, body, headers } = outcome;
    if (status >= 500) {
      last = `status ${status} ${body.toString('utf8').slice(0, 200)}`;
      continue;
    }
    if (status === 200) {
      const right = body.byteLength === blob.size && sha256(body) === blob.sha256;
      if (!right) return { ok: false, reason: `200 with ${body.byteLength} bytes, wrong hash` };
      if (expect === 'deleted') return { ok: false, reason: 'deleted blob still reads 200' };
      if (ttlUpdated && headers.has('x-ambry-ttl')) {
        return {
          ok: false,
          reason: `ttl update acknowledged, blob still has x-ambry-ttl ${headers.get('x-ambry-ttl')}`,
        };
      }
      return { ok: true };
    }
    if (status === 410 && expect !== 'bytes') return { ok: true };
    return { ok: false, reason: `status ${status} ${body.toString('utf8').slice(0, 200)}` };
  }
  return { ok: false, reason: `still failing after ${options.attempts} attempts: ${last}` };
}
