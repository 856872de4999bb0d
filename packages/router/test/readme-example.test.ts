/**
 * The README's client-service example, run as a program against three real data-node processes: the
 * example reads the cluster map directory from AMBRY_CLUSTER_MAP_DIR, as a deployed service would.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DatanodeCluster } from '../../../test-support/datanode-cluster.js';
import { runReadmeExample } from '../../../test-support/readme-example.js';

let cluster: DatanodeCluster;

beforeAll(async () => {
  cluster = await DatanodeCluster.create({ partitions: 4 });
  await cluster.start();
}, 60_000);

afterAll(async () => {
  await cluster?.destroy();
});

it('the README example runs against a real cluster and prints what it says', async () => {
  const { readme, stdout } = await runReadmeExample(new URL('..', import.meta.url), '@ambry/router', {
    env: { AMBRY_CLUSTER_MAP_DIR: cluster.mapDir, AMBRY_DATACENTER: 'dc1' },
  });
  const printed = /prints\n\n```\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(printed).toBeDefined();
  expect(stdout).toBe(printed);
});
