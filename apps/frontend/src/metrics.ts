import { type Router, registerRouterMetrics } from '@ambry/router';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface RequestObservation {
  /** The route's pattern (`/:id`, `/`, ...), or `unmatched`: never the raw URL, which is unbounded. */
  readonly route: string;
  readonly method: string;
  readonly status: number;
  readonly seconds: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

/**
 * Prometheus metrics of one frontend, in its own registry: requests by route, method and status,
 * latency by route, bytes in and out, requests in flight, and the router's metrics
 * (`registerRouterMetrics`). Node's process metrics come along.
 */
export class FrontendMetrics {
  readonly registry = new Registry();
  readonly inFlight: Gauge;
  readonly #requests: Counter<'route' | 'method' | 'status'>;
  readonly #latency: Histogram<'route' | 'method'>;
  readonly #bytesIn: Counter<'route' | 'method'>;
  readonly #bytesOut: Counter<'route' | 'method'>;

  constructor(router?: Router) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'ambry_frontend_' });
    this.#requests = new Counter({
      name: 'ambry_frontend_requests_total',
      help: 'HTTP requests answered, by route pattern, method and status',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.#latency = new Histogram({
      name: 'ambry_frontend_request_duration_seconds',
      help: 'Time from request received to response finished',
      labelNames: ['route', 'method'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.#bytesIn = new Counter({
      name: 'ambry_frontend_bytes_in_total',
      help: 'Request body bytes received',
      labelNames: ['route', 'method'],
      registers,
    });
    this.#bytesOut = new Counter({
      name: 'ambry_frontend_bytes_out_total',
      help: 'Response bytes written (headers included)',
      labelNames: ['route', 'method'],
      registers,
    });
    this.inFlight = new Gauge({
      name: 'ambry_frontend_requests_in_flight',
      help: 'Requests received and not yet answered',
      registers,
    });
    // The router's own metrics (operations, failure-detector states, hedge delays, background work),
    // on the same registry so one scrape has both.
    if (router !== undefined) registerRouterMetrics(router, this.registry, { prefix: 'ambry_router_' });
  }

  observe(o: RequestObservation): void {
    this.#requests.inc({ route: o.route, method: o.method, status: String(o.status) });
    this.#latency.observe({ route: o.route, method: o.method }, o.seconds);
    if (o.bytesIn > 0) this.#bytesIn.inc({ route: o.route, method: o.method }, o.bytesIn);
    if (o.bytesOut > 0) this.#bytesOut.inc({ route: o.route, method: o.method }, o.bytesOut);
  }
}
