/**
 * The crash loop's clients: writers (POST blobs of mixed sizes, some composite, plus DELETEs and TTL
 * updates of acknowledged blobs) and readers (GET of random acknowledged blobs, hash checked), all
 * through the frontend, running until stopped. Failures while a process is down are expected and
 * counted by status; what matters is written to the Ledger only when acknowledged.
 */
import { randomBytes } from 'node:crypto';
import type { Ledger } from './crash-ledger.js';
import { exchangeHttp, type HttpOutcome, type HttpRequest } from './http-exchange.js';
import { Rng, sha256, streamSeed } from './random.js';
import type { FaultReport } from './report.js';

const KiB = 1024;
/**
 * The chunk size the crash loop's frontend is configured with (small, so composite blobs are common
 * while the data written over hundreds of cycles stays within the replicas' capacity).
 */
export const CHUNK_BYTES = 256 * KiB;
/** Anomalies described in the report's notes, at most (the counts have them all). */
const MAX_NOTES = 20;

export interface WorkloadOptions {
  readonly url: string;
  readonly seed: number;
  readonly writers: number;
  readonly readers: number;
  /** Pause between one worker's requests. */
  readonly thinkMs: readonly [number, number];
  /** Longest one request may take before it counts as a hang. */
  readonly requestBoundMs: number;
  readonly ledger: Ledger;
  readonly report: FaultReport;
}

/** Blob sizes: mostly small, some around and above the chunk size (composite blobs), and empty ones. */
export function drawSize(rng: Rng): number {
  const p = rng.next();
  if (p < 0.05) return 0;
  if (p < 0.45) return rng.int(1, 4 * KiB);
  if (p < 0.8) return rng.int(4 * KiB, 64 * KiB);
  if (p < 0.95) return rng.int(64 * KiB, CHUNK_BYTES - 1);
  // Chunk boundaries exactly, or a composite blob of two to four chunks.
  return rng.pick([CHUNK_BYTES, CHUNK_BYTES + 1, 2 * CHUNK_BYTES, rng.int(CHUNK_BYTES + 1, 4 * CHUNK_BYTES)]);
}

export class Workload {
  readonly #options: WorkloadOptions;
  #running = false;
  #workers: Promise<void>[] = [];
  #notes = 0;

  constructor(options: WorkloadOptions) {
    this.#options = options;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    const { writers, readers, seed } = this.#options;
    for (let i = 0; i < writers; i++)
      this.#workers.push(this.#loop(new Rng(streamSeed(seed, `writer ${i}`)), 'write'));
    for (let i = 0; i < readers; i++)
      this.#workers.push(this.#loop(new Rng(streamSeed(seed, `reader ${i}`)), 'read'));
  }

  /** Stops after the requests in flight finished (each bounded by requestBoundMs). */
  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#workers);
    this.#workers = [];
  }

  async #loop(rng: Rng, role: 'write' | 'read'): Promise<void> {
    while (this.#running) {
      if (role === 'read') await this.#read(rng);
      else {
        const p = rng.next();
        if (p < 0.8) await this.#post(rng);
        else if (p < 0.92) await this.#delete(rng);
        else await this.#ttlUpdate(rng);
      }
      await new Promise((r) => setTimeout(r, rng.int(this.#options.thinkMs[0], this.#options.thinkMs[1])));
    }
  }

  async #send(request: HttpRequest): Promise<HttpOutcome> {
    const { report } = this.#options;
    report.count('requests');
    const outcome = await exchangeHttp(this.#options.url, request, this.#options.requestBoundMs);
    if (outcome.kind === 'response') {
      report.status(outcome.status);
      if (outcome.status >= 500) {
        // Expected only while a replica is down or restarting; which requests and why, for the report.
        report.count(`${request.method} ${outcome.status}`);
        this.#note(
          `${request.method} ${request.path}: ${outcome.status} ${outcome.body.toString('utf8').slice(0, 300)}`,
        );
      }
    } else if (outcome.kind === 'connection') report.status(outcome.error);
    else {
      report.count('hangs');
      this.#note(
        `hang: ${request.method} ${request.path} got no answer within ${this.#options.requestBoundMs} ms`,
      );
    }
    return outcome;
  }

  async #post(rng: Rng): Promise<void> {
    const size = drawSize(rng);
    const ttl = rng.chance(0.3);
    const blob = randomBytes(size);
    const outcome = await this.#send({
      method: 'POST',
      path: '/',
      headers: {
        'x-ambry-service-id': 'crash-loop',
        'x-ambry-content-type': 'application/octet-stream',
        ...(ttl ? { 'x-ambry-ttl': String(24 * 3600) } : {}),
      },
      body: blob,
    });
    if (outcome.kind !== 'response' || outcome.status !== 201) return;
    const id = (outcome.headers.get('location') ?? '').replace(/^\//, '');
    if (id === '') {
      this.#options.report.count('anomalies');
      this.#note('201 without a Location header');
      return;
    }
    this.#options.ledger.acknowledged({ id, sha256: sha256(blob), size, ttl });
    this.#options.report.count('blobs acknowledged');
    if (size > CHUNK_BYTES) this.#options.report.count('composite blobs acknowledged');
  }

  async #delete(rng: Rng): Promise<void> {
    const { ledger, report } = this.#options;
    const blob = ledger.take(rng.next());
    if (!blob) return;
    ledger.deleteSent(blob.id);
    const outcome = await this.#send({ method: 'DELETE', path: `/${blob.id}` });
    if (outcome.kind === 'response' && outcome.status === 202) {
      ledger.deleteAcknowledged(blob.id);
      report.count('blobs deleted');
    } else {
      ledger.deleteUnacknowledged(blob.id);
      report.count('deletes unacknowledged');
    }
  }

  async #ttlUpdate(rng: Rng): Promise<void> {
    const { ledger, report } = this.#options;
    const blob = ledger.take(rng.next(), (b) => b.ttl && !ledger.isTtlUpdated(b.id));
    if (!blob) return;
    try {
      const outcome = await this.#send({
        method: 'PUT',
        path: '/updateTtl',
        headers: { 'x-ambry-blob-id': blob.id, 'x-ambry-service-id': 'crash-loop' },
      });
      if (outcome.kind === 'response' && outcome.status === 200) {
        ledger.ttlUpdateAcknowledged(blob.id);
        report.count('ttl updates acknowledged');
      }
    } finally {
      ledger.release(blob.id);
    }
  }

  async #read(rng: Rng): Promise<void> {
    const { ledger, report } = this.#options;
    const blob = ledger.peek(rng.next());
    if (!blob) return;
    const outcome = await this.#send({ method: 'GET', path: `/${blob.id}` });
    if (outcome.kind !== 'response') return;
    if (outcome.status === 200) {
      if (outcome.body.byteLength === blob.size && sha256(outcome.body) === blob.sha256) {
        report.count('reads verified');
        return;
      }
      report.count('reads wrong bytes');
      this.#note(
        `GET ${blob.id}: ${outcome.body.byteLength} bytes, want ${blob.size} with sha256 ${blob.sha256}`,
      );
    } else if ((outcome.status === 404 || outcome.status === 410) && ledger.isLive(blob.id)) {
      // The blob was acknowledged and no DELETE was sent: a 404 / 410 while a node is down is a fault of
      // availability (or worse); the final check decides whether it was lost.
      report.count(`reads ${outcome.status} of acknowledged`);
      this.#note(`GET ${blob.id} (acknowledged, not deleted) answered ${outcome.status} during the loop`);
    }
  }

  #note(text: string): void {
    if (this.#notes++ < MAX_NOTES) this.#options.report.note(text);
  }
}
