import { Counter, Histogram, type Registry } from 'prom-client';

export interface RequestMetricsOptions<L extends string, R extends string> {
  /** Metric name prefix: `ambry_datanode_` → `ambry_datanode_requests_total`, ... */
  readonly prefix: string;
  /** Labels of every metric (`type`; `route`, `method`). */
  readonly labelNames: readonly L[];
  /** The request counter's outcome label (`result`, `status`). */
  readonly outcomeLabel: R;
  /** Latency histogram buckets, in seconds. */
  readonly buckets: readonly number[];
  /** The help text of each metric. */
  readonly help: {
    readonly requests: string;
    readonly duration: string;
    readonly bytesIn: string;
    readonly bytesOut: string;
  };
}

/** The four request metrics of a server, registered on `registry` in this order. */
export interface RequestMetrics<L extends string, R extends string> {
  /** `<prefix>requests_total`, by the labels and the outcome. */
  readonly requests: Counter<L | R>;
  /** `<prefix>request_duration_seconds`. */
  readonly latency: Histogram<L>;
  /** `<prefix>bytes_in_total`. */
  readonly bytesIn: Counter<L>;
  /** `<prefix>bytes_out_total`. */
  readonly bytesOut: Counter<L>;
}

/** Requests by outcome, their latency and the bytes in and out, named alike in every server. */
export function requestMetrics<L extends string, R extends string>(
  registry: Registry,
  options: RequestMetricsOptions<L, R>,
): RequestMetrics<L, R> {
  const registers = [registry];
  const labelNames = [...options.labelNames];
  return {
    requests: new Counter({
      name: `${options.prefix}requests_total`,
      help: options.help.requests,
      labelNames: [...labelNames, options.outcomeLabel],
      registers,
    }),
    latency: new Histogram({
      name: `${options.prefix}request_duration_seconds`,
      help: options.help.duration,
      labelNames,
      buckets: [...options.buckets],
      registers,
    }),
    bytesIn: new Counter({
      name: `${options.prefix}bytes_in_total`,
      help: options.help.bytesIn,
      labelNames,
      registers,
    }),
    bytesOut: new Counter({
      name: `${options.prefix}bytes_out_total`,
      help: options.help.bytesOut,
      labelNames,
      registers,
    }),
  };
}
