/**
 * The load the fault matrix holds a fault under: a few writers and readers through the frontend, each
 * request bounded in time. Writers record every acknowledged blob with its hash (the ledger); readers
 * fetch acknowledged blobs and compare hashes, so a wrong byte served is counted, never missed. The
 * counts say how available PUT and GET stayed during the fault; nothing here measures speed.
 */
import { exchangeHttp, type HttpOutcome } from './http-exchange.js';
import { Rng, sha256 } from './random.js';

export { sha256 };

export interface AckedBlob {
  readonly id: string;
  readonly size: number;
  readonly sha256: string;
}

/** Every blob the frontend acknowledged (201 with a Location), in the order acknowledged. */
export class BlobLedger {
  readonly #blobs: AckedBlob[] = [];

  add(blob: AckedBlob): void {
    this.#blobs.push(blob);
  }

  get size(): number {
    return this.#blobs.length;
  }

  all(): readonly AckedBlob[] {
    return this.#blobs;
  }

  pick(random: () => number): AckedBlob | undefined {
    if (this.#blobs.length === 0) return undefined;
    return this.#blobs[Math.floor(random() * this.#blobs.length)];
  }
}

/** A seeded source of [0, 1) numbers, so a run's sizes and read choices replay from its seed. */
export function seededRandom(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

/** Pseudo-random bytes from `random` (not crypto: only needs to be unique enough to find on disk). */
export function randomBytes(size: number, random: () => number): Buffer {
  const bytes = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i += 4) {
    const word = Math.floor(random() * 0x1_0000_0000);
    for (let j = 0; j < 4 && i + j < size; j++) bytes[i + j] = (word >>> (8 * j)) & 0xff;
  }
  return bytes;
}

const UPLOAD_HEADERS = {
  'x-ambry-service-id': 'fault-matrix',
  'x-ambry-content-type': 'application/octet-stream',
};

/** The outcome of one request: an HTTP status, or `error` (connection failed), or `hang` (timed out). */
export type Outcome = number | 'error' | 'hang';

export async function putBlob(
  url: string,
  bytes: Buffer,
  timeoutMs: number,
): Promise<{ outcome: Outcome; id?: string }> {
  const result = await exchangeHttp(
    url,
    { method: 'POST', path: '/', headers: UPLOAD_HEADERS, body: bytes },
    timeoutMs,
  );
  if (result.kind !== 'response') return { outcome: outcomeOf(result) };
  const location = result.headers.get('location');
  if (result.status === 201 && location) return { outcome: 201, id: location.replace(/^\//, '') };
  return { outcome: result.status };
}

export async function getBlob(
  url: string,
  id: string,
  timeoutMs: number,
): Promise<{ outcome: Outcome; bytes?: Buffer }> {
  const result = await exchangeHttp(url, { method: 'GET', path: `/${id}` }, timeoutMs);
  if (result.kind !== 'response') return { outcome: outcomeOf(result) };
  return result.status === 200 ? { outcome: 200, bytes: result.body } : { outcome: result.status };
}

function outcomeOf(result: HttpOutcome & { kind: 'connection' | 'hang' }): Outcome {
  return result.kind === 'hang' ? 'hang' : 'error';
}

export interface OpCounts {
  attempts: number;
  ok: number;
  /** Outcome (status, 'error', 'hang') → count, failures only. */
  readonly failures: Map<string, number>;
}

export interface LoadResult {
  readonly puts: OpCounts;
  readonly gets: OpCounts;
  /** GETs answered 200 with bytes whose hash is not the acknowledged one. */
  corruptReads: number;
  hangs: number;
  /** Ids and outcomes of failed GETs, for the report's notes (bounded). */
  readonly sampleFailures: string[];
}

export interface LoadOptions {
  readonly url: string;
  readonly ledger: BlobLedger;
  readonly random: () => number;
  readonly puts: number;
  readonly gets: number;
  readonly writers: number;
  readonly readers: number;
  readonly sizes: readonly number[];
  /** One request's bound; a request past it counts as a hang. */
  readonly requestTimeoutMs: number;
}

const SAMPLE_FAILURES = 10;

function counts(): OpCounts {
  return { attempts: 0, ok: 0, failures: new Map() };
}

function fail(op: OpCounts, outcome: Outcome | 'wrong-bytes'): void {
  const key = String(outcome);
  op.failures.set(key, (op.failures.get(key) ?? 0) + 1);
}

/**
 * Runs `puts` PUTs over `writers` and `gets` GETs over `readers` at once and returns what they saw.
 * Readers pick from blobs already acknowledged when the read starts (writers add to the ledger as
 * they go).
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { url, ledger, random, requestTimeoutMs } = options;
  const result: LoadResult = {
    puts: counts(),
    gets: counts(),
    corruptReads: 0,
    hangs: 0,
    sampleFailures: [],
  };
  let putsLeft = options.puts;
  let getsLeft = options.gets;
  const writer = async () => {
    while (putsLeft > 0) {
      putsLeft--;
      const size = options.sizes[Math.floor(random() * options.sizes.length)]!;
      const bytes = randomBytes(size, random);
      result.puts.attempts++;
      const { outcome, id } = await putBlob(url, bytes, requestTimeoutMs);
      if (outcome === 'hang') result.hangs++;
      if (outcome === 201 && id !== undefined) {
        result.puts.ok++;
        ledger.add({ id, size, sha256: sha256(bytes) });
      } else {
        fail(result.puts, outcome);
        if (result.sampleFailures.length < SAMPLE_FAILURES)
          result.sampleFailures.push(`PUT ${size} B: ${outcome}`);
      }
    }
  };
  const reader = async () => {
    while (getsLeft > 0) {
      const blob = ledger.pick(random);
      if (blob === undefined) {
        // Nothing acknowledged yet: give the writers a moment (bounded: the writers' count is).
        await new Promise((r) => setTimeout(r, 10));
        if (putsLeft === 0 && ledger.size === 0) return;
        continue;
      }
      getsLeft--;
      result.gets.attempts++;
      const { outcome, bytes } = await getBlob(url, blob.id, requestTimeoutMs);
      if (outcome === 'hang') result.hangs++;
      if (outcome === 200 && bytes !== undefined) {
        if (bytes.length === blob.size && sha256(bytes) === blob.sha256) {
          result.gets.ok++;
          continue;
        }
        result.corruptReads++;
        fail(result.gets, 'wrong-bytes');
        result.sampleFailures.push(`GET ${blob.id}: 200 with wrong bytes`);
        continue;
      }
      fail(result.gets, outcome);
      if (result.sampleFailures.length < SAMPLE_FAILURES)
        result.sampleFailures.push(`GET ${blob.id}: ${outcome}`);
    }
  };
  await Promise.all([
    ...Array.from({ length: options.writers }, writer),
    ...Array.from({ length: options.readers }, reader),
  ]);
  return result;
}

/** Percent of attempts that succeeded, one decimal; 100 when nothing was attempted. */
export function availability(op: OpCounts): number {
  return op.attempts === 0 ? 100 : Math.round((op.ok / op.attempts) * 1000) / 10;
}

export function describeFailures(op: OpCounts): string {
  if (op.failures.size === 0) return 'none';
  return [...op.failures].map(([outcome, n]) => `${outcome}×${n}`).join(' ');
}
