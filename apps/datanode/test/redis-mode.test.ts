import fs from 'node:fs/promises';
import path from 'node:path';
import { pushLayout, RedisClusterMap } from '@ambry/clustermap';
import { BlobId, ErrorCode } from '@ambry/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { REDIS_SERVER, RedisServer } from '../../../test-support/redis-server.js';
import { type ClusterDir, makeCluster, type RunningNode, startNode, waitFor } from './harness.js';

let redis: RedisServer | undefined;
let cluster: ClusterDir | undefined;
let node: RunningNode | undefined;
let observer: RedisClusterMap | undefined;

afterEach(async () => {
  await node?.stop('SIGKILL');
  await observer?.close();
  await redis?.stop();
  if (cluster) await fs.rm(cluster.root, { recursive: true, force: true });
  node = undefined;
  observer = undefined;
  redis = undefined;
  cluster = undefined;
});

describe.skipIf(!REDIS_SERVER)('datanode with a Redis cluster map', () => {
  it('heartbeats, reports a failed disk, and is seen down once killed', async () => {
    redis = await RedisServer.start();
    cluster = await makeCluster({
      config: {
        clusterMapDir: undefined,
        redisUrl: redis.url,
        clusterName: 'ambry',
        datacenter: 'dc1',
        testFaultInjection: true,
      },
    });
    const read = async (name: string) =>
      JSON.parse(await fs.readFile(path.join(cluster!.mapDir, name), 'utf8'));
    await pushLayout(redis.url, 'ambry', {
      hardware: await read('hardware.json'),
      partitions: await read('partitions.json'),
    });
    observer = await RedisClusterMap.connect({
      url: redis.url,
      clusterName: 'ambry',
      localDatacenter: 'dc1',
      livenessIntervalMs: 100,
    });
    node = await startNode(cluster);
    await waitFor(() => observer!.nodeState(cluster!.nodeKey) === 'up', 'the node to be seen up');

    // Fail disk A, then touch one of its replicas: the datanode marks the disk and reports it.
    const diskA = cluster.disks[0]!;
    const onA = [...cluster.partitions].find(([, mount]) => mount === diskA)![0];
    const fault = await fetch(`http://127.0.0.1:${cluster.adminPort}/test/disk-fault`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ mountPath: diskA }),
    });
    expect(fault.status).toBe(200);
    const id = BlobId.generate({ partitionId: onA, datacenterId: 0, accountId: 1, containerId: 1 });
    const blob = Buffer.from('x');
    const properties = {
      blobSize: 1,
      serviceId: 'test',
      contentType: 'text/plain',
      creationTimeMs: Date.now(),
      ttlSeconds: -1,
      isPrivate: false,
      accountId: 1,
      containerId: 1,
    };
    const response = await node.client.send(node.endpoint, {
      type: 'put',
      blobId: id,
      properties,
      userMetadata: {},
      blob,
    });
    expect(response.error).toBe(ErrorCode.IO_ERROR);
    await waitFor(
      () => observer!.diskState(cluster!.nodeKey, diskA) === 'failed',
      'the failed disk in Redis',
    );
    expect(observer.diskState(cluster.nodeKey, cluster.disks[1]!)).toBe('available');

    await node.stop('SIGKILL');
    node = undefined;
    await waitFor(
      () => observer!.nodeState(cluster!.nodeKey) === 'down',
      'the killed node to be seen down',
      15_000,
    );
  });
});
