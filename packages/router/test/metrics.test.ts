import { BlobId, type BlobProperties } from '@ambry/protocol';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registerRouterMetrics } from '../src/metrics.js';
import { type ClusterFixture, startCluster } from './cluster-fixture.js';

let cluster: ClusterFixture;
beforeEach(async () => {
  cluster = await startCluster();
});
afterEach(async () => {
  await cluster.close();
});

const properties: BlobProperties = {
  blobSize: 5,
  serviceId: 'metrics-test',
  contentType: 'text/plain',
  creationTimeMs: Date.now(),
  ttlSeconds: -1,
  isPrivate: false,
  accountId: 1,
  containerId: 1,
};

/** The value of the first sample line that starts with `series`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('router metrics', () => {
  it('counts operations by outcome and exports detector, cache and background state', async () => {
    const router = cluster.router({ config: { nodeFailureThreshold: 1 } });
    const registry = new Registry();
    const unregister = registerRouterMetrics(router, registry);
    const id = await router.put({ properties, blob: Buffer.from('hello') });
    await router.get(id);
    await router.get(BlobId.generate({ partitionId: 0, datacenterId: 0 })).catch(() => undefined);
    const [down] = cluster.nodesIn('dc1');
    cluster.disconnect(down!);
    await router.health();

    const text = await registry.metrics();
    expect(sample(text, 'ambry_router_operations_total{operation="put",outcome="OK"}')).toBe(1);
    expect(sample(text, 'ambry_router_operations_total{operation="get",outcome="OK"}')).toBe(1);
    expect(sample(text, 'ambry_router_operations_total{operation="get",outcome="BLOB_NOT_FOUND"}')).toBe(1);
    expect(sample(text, 'ambry_router_operation_seconds_count{operation="get"}')).toBe(2);
    expect(sample(text, 'ambry_router_resources{kind="node",state="down"}')).toBe(1);
    expect(text).toContain(
      `ambry_router_resource_not_up{kind="node",node="${down!.key}",disk="",state="down"} 1`,
    );
    expect(sample(text, 'ambry_router_not_found_cache_entries')).toBe(1);
    expect(sample(text, 'ambry_router_background_tasks{state="completed"}')).toBe(0);
    expect(
      sample(text, 'ambry_router_hedge_delay_seconds{datacenter="dc1",size_class="small"}'),
    ).toBeGreaterThan(0);

    unregister();
    expect(await registry.metrics()).not.toContain('ambry_router_');
    await router.get(id); // recording stopped: nothing left to throw
    registerRouterMetrics(router, registry); // and the names are free again
  });
});
