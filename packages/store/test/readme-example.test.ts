import { expect, it } from 'vitest';
import { runReadmeExample } from '../../../test-support/readme-example.js';

it('the README example runs and prints what it says', async () => {
  const { readme, stdout } = await runReadmeExample(new URL('..', import.meta.url), '@ambry/store');
  const printed = /prints\n\n```\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(printed).toBeDefined();
  expect(stdout).toBe(printed);
});
