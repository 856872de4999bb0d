/**
 * Runs the first ```ts block of the package README as a program, so the documented example stays
 * true. The import of '@ambry/protocol' is pointed at the sources.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);

it('the README example runs and prints what it says', async () => {
  const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
  const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(block).toBeDefined();
  const source = fileURLToPath(new URL('../src/index.ts', import.meta.url));
  const program = block!.replace("from '@ambry/protocol'", `from ${JSON.stringify(source)}`);
  const dir = mkdtempSync(join(tmpdir(), 'ambry-readme-'));
  try {
    const file = join(dir, 'example.mts');
    writeFileSync(file, program);
    const { stdout } = await run(process.execPath, ['--import', 'tsx', file], {
      timeout: 20_000,
      cwd: fileURLToPath(new URL('..', import.meta.url)),
    });
    expect(stdout.trim().split('\n')).toEqual(['36 hello yes', 'BLOB_NOT_FOUND']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
