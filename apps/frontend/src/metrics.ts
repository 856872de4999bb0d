import { type Router, registerRouterMetrics } from '@ambry/router';
import { type RequestMetrics, requestMetrics } from '@ambry/service-kit';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

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
  readonly #request: RequestMetrics<'route' | 'method', 'status'>;

  constructor(router?: Router) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'ambry_frontend_' });
    this.#request = requestMetrics(this.registry, {
      prefix: 'ambry_frontend_',
      labelNames: ['route', 'method'],
      outcomeLabel: 'status',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      help: {
        requests: 'HTTP requests answered, by route pattern, method and status',
        duration: 'Time from request received to response finished',
        bytesIn: 'Request body bytes received',
        bytesOut: 'Response bytes written (headers included)',
      },
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
    this.#request.requests.inc({ route: o.route, method: o.method, status: String(o.status) });
    this.#request.latency.observe({ route: o.route, method: o.method }, o.seconds);
    if (o.bytesIn > 0) this.#request.bytesIn.inc({ route: o.route, method: o.method }, o.bytesIn);
    if (o.bytesOut > 0) this.#request.bytesOut.inc({ route: o.route, method: o.method }, o.bytesOut);
  }
}
