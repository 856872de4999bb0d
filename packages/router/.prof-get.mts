const SIZE = Number(process.env.SIZE ?? 4096); const N = Number(process.env.N ?? 3000);
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { buffer } from 'node:stream/consumers';
import { DataNodeClient, GetPart } from '@ambry/protocol';
import { DatanodeCluster } from '../../test-support/datanode-cluster.js';
import { Router } from './src/router.js';

const session = new Session();
session.connect();

const cluster = await DatanodeCluster.create({ partitions: 4 });
await cluster.start();
try {
  const router = Router.create({
    clusterMap: await cluster.loadClusterMap(),
    config: JSON.parse(process.env.RCFG ?? '{}'),
  });
  const ids = [];
  for (let i = 0; i < 40; i++) {
    const blob = randomBytes(SIZE);
    ids.push(
      await router.put({
        properties: {
          blobSize: SIZE,
          serviceId: 'p',
          contentType: 'x',
          creationTimeMs: Date.now(),
          ttlSeconds: -1,
          isPrivate: false,
          accountId: 1,
          containerId: 1,
        },
        blob,
      }),
    );
  }
  const direct = new DataNodeClient({ clientId: 'd' });
  const node = cluster.nodes[0]!;
  for (const round of [0, 1]) {
    if (round === 1) {
    }
    let t = performance.now();
    for (let i = 0; i < N; i++) {
      const got = await router.get(ids[i % ids.length]!);
      for await (const _ of got.blob) { void _; }
    }
    const routerMs = (performance.now() - t) / N;
    if (round === 1) {
    }
    t = performance.now();
    let n = 0;
    for (let i = 0; i < N; i++) {
      const id = ids[i % ids.length]!;
      const replicas = (await cluster.loadClusterMap()).replicas(id.partitionId);
      void replicas;
      break;
    }
    const map = await cluster.loadClusterMap();
    if (round === 1) {
    }
    t = performance.now();
    for (let i = 0; i < N; i++) {
      const id = ids[i % ids.length]!;
      const rs = map.replicas(id.partitionId); const r = rs[process.env.RANDOM_DIRECT ? Math.floor(Math.random() * rs.length) : 0]!;
      await direct.get({ host: r.node.host, port: r.node.port }, { blobId: id, part: GetPart.ALL });
      n++;
    }
    const directMs = (performance.now() - t) / N;
    if (round === 1) {
    }
    console.log(JSON.stringify({ round, routerMs, directMs }));
  }
  void node;
  await direct.close();
  await router.close();
} finally {
  await cluster.destroy();
}
