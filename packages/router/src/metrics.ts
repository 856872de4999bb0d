/**
 * Prometheus metrics of a router, on a registry the embedding process owns (the frontend's, or a
 * client service's). Operation counts and latencies are recorded as operations end; everything the
 * router only knows as current state (failure-detector states, hedge delays, background work, the
 * not-found cache) is read when the registry is scraped, so an idle router costs nothing.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Router } from './router.js';

export interface RouterMetricsOptions {
  /** Default `ambry_router_`. */
  readonly prefix?: string;
}

/** Registers the metrics and starts recording; returns the function that undoes both. */
export function registerRouterMetrics(
  router: Router,
  registry: Registry,
  options: RouterMetricsOptions = {},
): () => void {
  const prefix = options.prefix ?? 'ambry_router_';
  const registers = [registry];
  const names: string[] = [];
  const named = (suffix: string) => {
    names.push(`${prefix}${suffix}`);
    return `${prefix}${suffix}`;
  };
  const operations = new Counter({
    name: named('operations_total'),
    help: 'Router operations by operation and outcome (OK or the error code)',
    labelNames: ['operation', 'outcome'],
    registers,
  });
  const latency = new Histogram({
    name: named('operation_seconds'),
    help: 'Router operation latency (a GET until its stream is handed over)',
    labelNames: ['operation'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const stopListening = router.onOperation((event) => {
    operations.inc({ operation: event.operation, outcome: event.outcome });
    latency.observe({ operation: event.operation }, event.durationMs / 1000);
  });

  new Gauge({
    name: named('resources'),
    help: 'Nodes and disks the failure detector has seen, by state (up, down, probing)',
    labelNames: ['kind', 'state'],
    registers,
    collect() {
      this.reset();
      const snapshot = router.failureDetector.snapshot();
      for (const [kind, counts] of [
        ['node', snapshot.nodes],
        ['disk', snapshot.disks],
      ] as const) {
        for (const [state, count] of Object.entries(counts)) this.set({ kind, state }, count);
      }
    },
  });
  new Gauge({
    name: named('resource_not_up'),
    help: 'One series per node or disk that is down or probing (value: consecutive failures)',
    labelNames: ['kind', 'node', 'disk', 'state'],
    registers,
    collect() {
      this.reset();
      for (const r of router.failureDetector.snapshot().notUp) {
        this.set({ kind: r.kind, node: r.node, disk: r.disk ?? '', state: r.state }, r.consecutiveFailures);
      }
    },
  });
  new Gauge({
    name: named('hedge_delay_seconds'),
    help: 'Current GET hedge delay per datacenter and response size class (a quantile of recent GET latencies)',
    labelNames: ['datacenter', 'size_class'],
    registers,
    collect() {
      this.reset();
      for (const { datacenter, sizeClass, tracker } of router.latencyTrackers.entries()) {
        this.set({ datacenter, size_class: sizeClass }, tracker.delayMs() / 1000);
      }
    },
  });
  new Gauge({
    name: named('background_tasks'),
    help: 'Background work (data-chunk deletes of deleted composite blobs) by state; finished ones counted since start',
    labelNames: ['state'],
    registers,
    collect() {
      const stats = router.backgroundStats();
      for (const [state, value] of Object.entries(stats)) this.set({ state }, value);
    },
  });
  new Gauge({
    name: named('not_found_cache_entries'),
    help: 'Blob ids remembered as not found',
    registers,
    collect() {
      this.set(router.notFoundCacheSize);
    },
  });

  return () => {
    stopListening();
    for (const name of names) registry.removeSingleMetric(name);
  };
}
