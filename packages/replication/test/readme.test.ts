import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { runReadmeExample } from '../../../test-support/readme-example.js';
import { describeReplicationConfig } from '../src/index.js';

it('the README example runs and prints what it says', async () => {
  const { readme, stdout } = await runReadmeExample(new URL('..', import.meta.url), '@ambry/replication');
  const printed = /prints\n\n```\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(printed).toBeDefined();
  expect(stdout).toBe(printed);
});

it('the README configuration table lists every key with its default and meaning', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Configuration'));
  const rows = [...section.matchAll(/^\| `([^`]+)`\s*\| (\S+)\s*\| (.*?)\s*\|$/gm)].map((m) => ({
    key: m[1],
    default: Number(m[2]),
    meaning: m[3],
  }));
  expect(rows).toEqual(describeReplicationConfig());
});
