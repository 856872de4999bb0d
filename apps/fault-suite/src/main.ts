/**
 * `pnpm test:faults [--long] [--suite NAME]... [--seed N] [--cycles N] [--json]`: runs the fault suites
 * (crash loop, fault matrix, fuzzers) against real processes with vitest, then prints one report of
 * every suite that ran. Exits non-zero when any suite failed.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { REPORT_DIR, readReports, renderTable } from './report.js';

const SUITES: Readonly<Record<string, string>> = {
  'crash-loop': 'test/crash-loop.test.ts',
  'fault-matrix': 'test/fault-matrix.test.ts',
  'fuzz-datanode': 'test/fuzz-datanode.test.ts',
  'fuzz-frontend': 'test/fuzz-frontend.test.ts',
};

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

function usage(problem: string): never {
  process.stderr.write(
    `${problem}\nusage: faults [--long] [--suite ${Object.keys(SUITES).join('|')}]... [--seed N] [--cycles N] [--json]\n`,
  );
  process.exit(2);
}

function integer(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,9}$/.test(value))
    usage(`--${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return value;
}

async function main(): Promise<number> {
  let values: {
    long?: boolean;
    json?: boolean;
    suite?: string[];
    seed?: string;
    cycles?: string;
  };
  try {
    ({ values } = parseArgs({
      options: {
        long: { type: 'boolean' },
        json: { type: 'boolean' },
        suite: { type: 'string', multiple: true },
        seed: { type: 'string' },
        cycles: { type: 'string' },
      },
      // `pnpm test:faults -- --long` hands the separator on.
      args: process.argv.slice(2).filter((a) => a !== '--'),
    }));
  } catch (error) {
    usage((error as Error).message);
  }
  const suites = values.suite ?? Object.keys(SUITES);
  for (const suite of suites) if (!(suite in SUITES)) usage(`unknown suite ${JSON.stringify(suite)}`);
  const seed = integer(values.seed, 'seed');
  const cycles = integer(values.cycles, 'cycles');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    FAULTS_PROFILE: values.long ? 'long' : 'ci',
    ...(seed === undefined ? {} : { FAULTS_SEED: seed }),
    ...(cycles === undefined ? {} : { FAULTS_CYCLES: cycles }),
  };
  // Each suite's own table is printed as it ends; the combined one closes the run.
  const started = Date.now();
  // The workspace's vitest, run by this node (no shell, no PATH lookup).
  const vitest = path.join(
    path.dirname(createRequire(import.meta.url).resolve('vitest/package.json')),
    'vitest.mjs',
  );
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, [vitest, 'run', ...suites.map((s) => SUITES[s]!)], {
      cwd: PACKAGE_DIR,
      env,
      stdio: 'inherit',
    });
    child.once('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
    child.once('error', (error) => {
      process.stderr.write(`cannot run vitest: ${error.message}\n`);
      resolve(1);
    });
  });
  const results = (await readReports(REPORT_DIR)).filter(
    (r) => suites.includes(r.suite) && Date.parse(r.startedAt) >= started,
  );
  process.stdout.write(
    `\n${values.json ? JSON.stringify(results, null, 2) : `fault suites (${env.FAULTS_PROFILE} profile)\n${renderTable(results)}`}\n`,
  );
  return code;
}

process.exitCode = await main();
