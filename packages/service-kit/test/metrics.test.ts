import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { requestMetrics } from '../src/index.js';

describe('requestMetrics', () => {
  it('registers requests, latency and bytes in and out under the prefix, with the labels', async () => {
    const registry = new Registry();
    const m = requestMetrics(registry, {
      prefix: 'ambry_test_',
      labelNames: ['type'],
      outcomeLabel: 'result',
      buckets: [0.1, 1],
      help: { requests: 'Requests', duration: 'Latency', bytesIn: 'In', bytesOut: 'Out' },
    });
    m.requests.inc({ type: 'get', result: 'NO_ERROR' });
    m.latency.observe({ type: 'get' }, 0.5);
    m.bytesIn.inc({ type: 'get' }, 10);
    m.bytesOut.inc({ type: 'get' }, 20);
    const text = await registry.metrics();
    expect(registry.getMetricsAsArray().map((metric) => metric.name)).toEqual([
      'ambry_test_requests_total',
      'ambry_test_request_duration_seconds',
      'ambry_test_bytes_in_total',
      'ambry_test_bytes_out_total',
    ]);
    expect(text).toContain('# HELP ambry_test_requests_total Requests');
    expect(text).toContain('ambry_test_requests_total{type="get",result="NO_ERROR"} 1');
    expect(text).toContain('ambry_test_request_duration_seconds_bucket{le="1",type="get"} 1');
    expect(text).toContain('ambry_test_bytes_in_total{type="get"} 10');
    expect(text).toContain('ambry_test_bytes_out_total{type="get"} 20');
  });
});
