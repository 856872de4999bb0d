import fs from 'node:fs/promises';
import { BlobId, ErrorCode, GetPart } from '@ambry/protocol';
import { afterEach, expect, it } from 'vitest';
import { type ClusterDir, makeCluster, type RunningNode, startNode } from './harness.js';

let cluster: ClusterDir | undefined;
let node: RunningNode | undefined;
afterEach(async () => {
  await node?.stop('SIGKILL');
  if (cluster) await fs.rm(cluster.root, { recursive: true, force: true });
  node = undefined;
  cluster = undefined;
});

it('puts, gets and deletes over TCP, and keeps the blob across a restart', async () => {
  cluster = await makeCluster();
  node = await startNode(cluster);
  const partitionId = [...cluster.partitions.keys()][0]!;
  const id = BlobId.generate({ partitionId, datacenterId: 0, accountId: 1, containerId: 2 });
  const blob = Buffer.from('hello datanode');
  const properties = {
    blobSize: blob.length,
    serviceId: 'test',
    contentType: 'text/plain',
    creationTimeMs: Date.now(),
    ttlSeconds: -1,
    isPrivate: false,
    accountId: 1,
    containerId: 2,
  };
  await node.client.put(node.endpoint, { blobId: id, properties, userMetadata: { k: 'v' }, blob });
  const got = await node.client.get(node.endpoint, { blobId: id, part: GetPart.ALL });
  expect(Buffer.from(got.blob).toString()).toBe('hello datanode');
  expect(got.userMetadata).toEqual({ k: 'v' });
  expect(await node.stop('SIGTERM')).toBe(0);
  node = await startNode(cluster);
  const again = await node.client.get(node.endpoint, { blobId: id });
  expect(Buffer.from(again.blob).toString()).toBe('hello datanode');
  await node.client.delete(node.endpoint, { blobId: id, operationTimeMs: Date.now() });
  const response = await node.client.send(node.endpoint, { type: 'get', blobId: id });
  expect(response.error).toBe(ErrorCode.BLOB_DELETED);
});
