/**
 * What the benchmarks (the `bench` folders of the packages and apps) share: their command line
 * (`--json`, `--seconds`, counts), the measurement loop, percentiles and the report, as a table or one
 * JSON document. Progress goes to stderr, so `--json` leaves exactly that document on stdout.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { BlobProperties } from '@ambry/protocol';

/** A progress line writer: `[<name>] message` on stderr. */
export function progress(name: string): (message: string) => void {
  return (message) => {
    process.stderr.write(`[${name}] ${message}\n`);
  };
}

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

const COMMON_OPTIONS = {
  json: { type: 'boolean', default: false },
  seconds: { type: 'string', default: '3' },
} as const satisfies OptionsConfig;

type ParsedValues<T extends OptionsConfig> = ReturnType<
  typeof parseArgs<{ args: string[]; options: typeof COMMON_OPTIONS & T }>
>['values'];

/** The parsed options, `seconds` as a number. */
export type BenchArgs<T extends OptionsConfig> = Omit<ParsedValues<T>, 'seconds'> & { seconds: number };

/**
 * The bench's options, `--json` (default false) and `--seconds` (default 3, in (0, 60], returned as a
 * number) included; the others are strings, for `count`.
 */
export function benchArgs<const T extends OptionsConfig>(options: T): BenchArgs<T> {
  const { values } = parseArgs({
    // pnpm forwards a literal `--` when called as `pnpm bench -- --json`.
    args: process.argv.slice(2).filter((arg) => arg !== '--'),
    options: { ...COMMON_OPTIONS, ...options } as typeof COMMON_OPTIONS & T,
  });
  const seconds = Number((values as { seconds: string }).seconds);
  if (!(seconds > 0 && seconds <= 60)) throw new Error('--seconds must be in (0, 60]');
  return { ...values, seconds } as BenchArgs<T>;
}

/** An integer option in [min, max], or an error naming `--<name>`. */
export function count(raw: string, name: string, min: number, max: number): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`--${name} must be an integer in [${min}, ${max}]`);
  }
  return value;
}

export interface Measurement {
  /** Operations completed. */
  readonly ops: number;
  /** What the operations returned, summed (the bytes they moved). */
  readonly bytes: number;
  readonly seconds: number;
  /** Each operation's latency, in completion order; empty unless asked for. */
  readonly latenciesMs: number[];
}

export interface MeasureOptions {
  /** No operation starts after this long. */
  readonly seconds: number;
  /** Loops running at once. */
  readonly concurrency: number;
  /** No operation starts after this many have (default: no limit). */
  readonly maxOps?: number;
  /** Record each operation's latency (a clock read more per operation). */
  readonly latencies?: boolean;
}

/**
 * `concurrency` loops run `op` until `maxOps` operations have started or `seconds` have passed.
 * `op(i, loop)` gets the operation's number and its loop's, and returns the bytes it moved.
 */
export async function measure(
  options: MeasureOptions,
  op: (i: number, loop: number) => Promise<number>,
): Promise<Measurement> {
  const { seconds, concurrency, maxOps = Number.POSITIVE_INFINITY, latencies = false } = options;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let next = 0;
  let ops = 0;
  let bytes = 0;
  const latenciesMs: number[] = [];
  await Promise.all(
    Array.from({ length: concurrency }, async (_, loop) => {
      while (next < maxOps && performance.now() < deadline) {
        const i = next++;
        const t0 = latencies ? performance.now() : 0;
        // Not `bytes += await op(i)`: that reads `bytes` before the await and drops the other loops' adds.
        const moved = await op(i, loop);
        if (latencies) latenciesMs.push(performance.now() - t0);
        bytes += moved;
        ops += 1;
      }
    }),
  );
  return { ops, bytes, seconds: (performance.now() - started) / 1000, latenciesMs };
}

/** The `q` quantile (nearest rank) of ascending `sorted`; NaN when empty. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/** p50 and p99 of latencies in any order. */
export function percentiles(latenciesMs: readonly number[]): { p50: number; p99: number } {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) };
}

/** The properties of a bench blob: no TTL, public, account 1, container 2. */
export function benchBlobProperties(serviceId: string, blobSize: number): BlobProperties {
  return {
    blobSize,
    serviceId,
    contentType: 'application/octet-stream',
    creationTimeMs: Date.now(),
    ttlSeconds: -1,
    isPrivate: false,
    accountId: 1,
    containerId: 2,
  };
}

export interface TableOptions {
  /** Integers below 100 as integers too (`3`, not `3.000`). */
  readonly wholeIntegers?: boolean;
}

/**
 * One `key  value` line per entry, keys padded to one width: numbers ≥ 100 rounded with thousands
 * separators, smaller ones to 3 decimals, objects as JSON.
 */
export function printTable(report: Record<string, unknown>, options: TableOptions = {}): void {
  const rows = Object.entries(report).map(([key, value]) => [
    key,
    typeof value === 'number'
      ? value >= 100 || (options.wholeIntegers === true && Number.isInteger(value))
        ? Math.round(value).toLocaleString('en-US')
        : value.toFixed(3)
      : typeof value === 'object'
        ? JSON.stringify(value)
        : String(value),
  ]);
  const width = Math.max(...rows.map(([key]) => key!.length));
  for (const [key, value] of rows) console.log(`${key!.padEnd(width)}  ${value}`);
}

/** The report on stdout: one JSON document with `--json`, a table otherwise. */
export function printReport(
  report: Record<string, unknown>,
  json: boolean,
  options: TableOptions = {},
): void {
  if (json) console.log(JSON.stringify(report, null, 2));
  else printTable(report, options);
}
