/**
 * The fault suites' report: every suite counts what it did and saw by name (requests fuzzed, crashes,
 * hangs, responses by status, connections closed, ...) and samples the RSS of the processes it attacks.
 * At the end of a suite its result is printed as a table and written as JSON to `.report/<suite>.json`;
 * `pnpm --filter @ambry/fault-suite report [--json]` prints every suite's last result together.
 *
 * Counts use these names where they apply, so the suites line up in one table:
 * `requests fuzzed`, `crashes`, `hangs`, `connections closed`, `status <code>` (one per HTTP status or
 * wire error code seen).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where suites write their results: apps/fault-suite/.report (git-ignored). */
export const REPORT_DIR = fileURLToPath(new URL('../.report/', import.meta.url));

export interface MemorySample {
  /** Cases run when the sample was taken. */
  readonly atCase: number;
  readonly rssKiB: number;
}

export interface MemorySeries {
  readonly samples: MemorySample[];
  /** RSS once warm-up was over (the first sample at or after `warmupCases`). */
  readonly warmupKiB?: number;
  readonly endKiB?: number;
  /** endKiB - warmupKiB. */
  readonly growthKiB?: number;
}

export interface SuiteResult {
  readonly suite: string;
  readonly profile: string;
  readonly seed: number;
  readonly startedAt: string;
  readonly durationMs: number;
  /** Insertion-ordered counts. */
  readonly counts: Record<string, number>;
  /** Per attacked process (`datanode`, `frontend`, ...). */
  readonly memory: Record<string, MemorySeries>;
  readonly notes: string[];
}

/** Headline counts every suite shows, even at zero. */
const HEADLINE = ['requests fuzzed', 'crashes', 'hangs', 'connections closed'] as const;

export class FaultReport {
  readonly #counts = new Map<string, number>();
  readonly #memory = new Map<string, MemorySample[]>();
  readonly #notes: string[] = [];
  readonly #started = Date.now();

  constructor(
    readonly suite: string,
    readonly options: { readonly profile: string; readonly seed: number; readonly warmupCases: number },
  ) {
    for (const name of HEADLINE) this.#counts.set(name, 0);
  }

  count(name: string, by = 1): void {
    this.#counts.set(name, (this.#counts.get(name) ?? 0) + by);
  }

  get(name: string): number {
    return this.#counts.get(name) ?? 0;
  }

  /** Counts a response status (an HTTP status or a wire error name) as `status <status>`. */
  status(status: number | string): void {
    this.count(`status ${status}`);
  }

  sampleMemory(process: string, atCase: number, rssKiB: number): void {
    let samples = this.#memory.get(process);
    if (!samples) this.#memory.set(process, (samples = []));
    samples.push({ atCase, rssKiB });
  }

  note(text: string): void {
    this.#notes.push(text);
  }

  result(): SuiteResult {
    const memory: Record<string, MemorySeries> = {};
    for (const [name, samples] of this.#memory) {
      const warm = samples.find((s) => s.atCase >= this.options.warmupCases) ?? samples[0];
      const end = samples.at(-1);
      memory[name] = {
        samples: [...samples],
        ...(warm ? { warmupKiB: warm.rssKiB } : {}),
        ...(end ? { endKiB: end.rssKiB } : {}),
        ...(warm && end ? { growthKiB: end.rssKiB - warm.rssKiB } : {}),
      };
    }
    return {
      suite: this.suite,
      profile: this.options.profile,
      seed: this.options.seed,
      startedAt: new Date(this.#started).toISOString(),
      durationMs: Date.now() - this.#started,
      counts: Object.fromEntries(this.#counts),
      memory,
      notes: [...this.#notes],
    };
  }

  /**
   * Writes `.report/<suite>.json` and prints the table (or the JSON when FAULTS_REPORT=json); returns
   * the result.
   */
  async finish(dir = REPORT_DIR): Promise<SuiteResult> {
    const result = this.result();
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, `${this.suite}.json`), `${JSON.stringify(result, null, 2)}\n`);
    const text =
      process.env.FAULTS_REPORT === 'json' ? JSON.stringify(result, null, 2) : renderTable([result]);
    process.stdout.write(`\n${text}\n`);
    return result;
  }
}

/** KiB as MiB; a change (`signed`) shows its sign, + included. */
function formatKiB(kib: number | undefined, signed = false): string {
  if (kib === undefined) return '-';
  const sign = kib < 0 ? '-' : signed && kib > 0 ? '+' : '';
  return `${sign}${(Math.abs(kib) / 1024).toFixed(1)} MiB`;
}

/** One column per suite; rows are the union of their counts (headline first), then memory and time. */
export function renderTable(results: readonly SuiteResult[]): string {
  if (results.length === 0) return '(no fault suite results)';
  const names: string[] = [...HEADLINE];
  for (const result of results) {
    for (const name of Object.keys(result.counts)) if (!names.includes(name)) names.push(name);
  }
  const statusRows = names.filter((n) => n.startsWith('status ')).sort();
  const otherRows = names.filter((n) => !n.startsWith('status '));
  const rows: string[][] = [['', ...results.map((r) => r.suite)]];
  rows.push(['profile / seed', ...results.map((r) => `${r.profile} / ${r.seed}`)]);
  for (const name of [...otherRows, ...statusRows]) {
    rows.push([name, ...results.map((r) => String(r.counts[name] ?? 0))]);
  }
  const processes = [...new Set(results.flatMap((r) => Object.keys(r.memory)))].sort();
  for (const name of processes) {
    rows.push([`${name} RSS after warm-up`, ...results.map((r) => formatKiB(r.memory[name]?.warmupKiB))]);
    rows.push([`${name} RSS at end`, ...results.map((r) => formatKiB(r.memory[name]?.endKiB))]);
    rows.push([`${name} RSS growth`, ...results.map((r) => formatKiB(r.memory[name]?.growthKiB, true))]);
    rows.push([`${name} RSS samples`, ...results.map((r) => String(r.memory[name]?.samples.length ?? 0))]);
  }
  rows.push(['runtime', ...results.map((r) => `${(r.durationMs / 1000).toFixed(1)} s`)]);
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: string[]) =>
    row
      .map((cell, column) => (column === 0 ? cell.padEnd(widths[0]!) : cell.padStart(widths[column]!)))
      .join('  ');
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const out = [line(rows[0]!), rule, ...rows.slice(1).map(line)];
  for (const result of results) {
    for (const note of result.notes) out.push(`${result.suite}: ${note}`);
  }
  return out.join('\n');
}

/** Every suite's last result in `dir`, by suite name. */
export async function readReports(dir = REPORT_DIR): Promise<SuiteResult[]> {
  let files: string[];
  try {
    files = (await fs.readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  } catch {
    return [];
  }
  return Promise.all(
    files.map(async (f) => JSON.parse(await fs.readFile(path.join(dir, f), 'utf8')) as SuiteResult),
  );
}

/** `tsx src/report.ts [--json] [dir]`: the last results of every suite, as a table or as JSON. */
async function main(argv: readonly string[]): Promise<void> {
  const json = argv.includes('--json');
  const dir = argv.find((a) => !a.startsWith('--')) ?? REPORT_DIR;
  const results = await readReports(dir);
  process.stdout.write(`${json ? JSON.stringify(results, null, 2) : renderTable(results)}\n`);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main(process.argv.slice(2));
}
