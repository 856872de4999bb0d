#!/usr/bin/env node
// Sums the vitest JSON reports (.vitest-results.json) of every workspace package that has a `test`
// script and prints "N passed, N failed, N skipped". Exits 1 on any failure, on a package whose report
// is missing (its tests crashed before reporting), or when no test ran at all.
// With --clean, deletes old reports instead, so a stale file can never count.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const packages = ['packages', 'apps']
  .filter((dir) => existsSync(join(root, dir)))
  .flatMap((dir) => readdirSync(join(root, dir)).map((name) => join(root, dir, name)))
  .filter((dir) => existsSync(join(dir, 'package.json')))
  .filter((dir) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).scripts?.test);

if (process.argv.includes('--clean')) {
  for (const dir of packages) rmSync(join(dir, '.vitest-results.json'), { force: true });
  process.exit(0);
}

let passed = 0;
let failed = 0;
let skipped = 0;
for (const dir of packages) {
  const file = join(dir, '.vitest-results.json');
  if (!existsSync(file)) {
    console.error(`test-summary: ${dir} has no test report (its test run crashed or did not start)`);
    failed += 1;
    continue;
  }
  const report = JSON.parse(readFileSync(file, 'utf8'));
  passed += report.numPassedTests ?? 0;
  failed += report.numFailedTests ?? 0;
  // A test file that failed without a failing test did not load or crashed in a hook: count it once.
  for (const file of report.testResults ?? []) {
    const failedTests = (file.assertionResults ?? []).filter((t) => t.status === 'failed').length;
    if (file.status === 'failed' && failedTests === 0) {
      console.error(
        `test-summary: ${file.name} failed outside any test: ${String(file.message).slice(0, 500)}`,
      );
      failed += 1;
    }
  }
  if (report.success === false && (report.numFailedTests ?? 0) === 0 && failed === 0) failed += 1;
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
