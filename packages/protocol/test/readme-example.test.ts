import { expect, it } from 'vitest';
import { runReadmeExample } from '../../../test-support/readme-example.js';

it('the README example runs and prints what it says', async () => {
  const { stdout } = await runReadmeExample(new URL('..', import.meta.url), '@ambry/protocol');
  expect(stdout.trim().split('\n')).toEqual(['36 hello yes', 'BLOB_NOT_FOUND']);
});
