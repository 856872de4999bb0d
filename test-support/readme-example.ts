/**
 * Runs the first ```ts block of a package README as a program (with tsx, in a temp dir inside the package), so the
 * documented example stays true. The import of the package by name is pointed at its sources.
 * Shared by the packages' readme-example tests; not published.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ReadmeExample {
  /** The README's text, for tests that read the documented output from it. */
  readonly readme: string;
  readonly stdout: string;
}

export interface ReadmeExampleOptions {
  /** Added to this process's environment for the example (e.g. where a test's cluster map is). */
  readonly env?: NodeJS.ProcessEnv;
}

/** `packageDir` is a file URL of the package root (`new URL('..', import.meta.url)` from test/). */
export async function runReadmeExample(
  packageDir: URL,
  packageName: string,
  options: ReadmeExampleOptions = {},
): Promise<ReadmeExample> {
  const readme = readFileSync(fileURLToPath(new URL('README.md', packageDir)), 'utf8');
  const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error(`${packageName} README has no ts code block`);
  const source = fileURLToPath(new URL('src/index.ts', packageDir));
  const program = block.replaceAll(`from '${packageName}'`, `from ${JSON.stringify(source)}`);
  // Inside the package, so imports of workspace siblings (`@ambry/protocol`) resolve as they do for
  // the package itself (to one copy of each module).
  const dir = mkdtempSync(join(fileURLToPath(packageDir), '.readme-example-'));
  try {
    const file = join(dir, 'example.mts');
    writeFileSync(file, program);
    const { stdout } = await run(process.execPath, ['--import', 'tsx', file], {
      timeout: 20_000,
      cwd: fileURLToPath(packageDir),
      env: { ...process.env, ...options.env },
    });
    return { readme, stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
