import type { RouterConfig } from './config.js';

/**
 * The hedge delay of GETs (Ambry's AdaptiveOperationTracker): a request outstanding longer than a high
 * quantile of recent GET latencies is probably stuck on a slow replica, so the next replica is asked too.
 * Until enough latencies are known the quantile would be noise, so a fixed default is used instead.
 *
 * Ambry keeps an exponentially decaying reservoir; a ring of the last `capacity` samples is simpler,
 * deterministic (testable without randomness) and forgets a past slow spell just as surely.
 */

export interface LatencyTrackerOptions {
  /** In (0, 1]; nearest-rank, so the result is always a recorded sample. */
  readonly quantile: number;
  /** Samples needed before the quantile is trusted; at most `capacity`, or it never would be. */
  readonly minSamples: number;
  /** The delay while fewer than `minSamples` samples are known. Not clamped: it is the operator's choice. */
  readonly defaultDelayMs: number;
  /** Recent samples kept; older ones roll out. Default 1024 (Ambry's reservoir: 1028). */
  readonly capacity?: number;
  /**
   * Floor of the learned delay, default 1: on an idle cluster with sub-millisecond latencies a 0 ms delay
   * would hedge every GET and double the load exactly when nothing is wrong.
   */
  readonly minDelayMs?: number;
  /**
   * Cap of the learned delay, default 2000: after a slow spell fills the ring with timeouts, hedging
   * should still happen well before the request timeout.
   */
  readonly maxDelayMs?: number;
}

const DEFAULT_CAPACITY = 1024;
const DEFAULT_MIN_DELAY_MS = 1;
const DEFAULT_MAX_DELAY_MS = 2000;
// q·n computed in floating point can land just above an integer (0.07 × 100 = 7.000000000000001), which
// would push the nearest rank one sample too high.
const RANK_EPSILON = 1e-9;

/** The 1-based nearest rank of `quantile` among `n` sorted samples: the smallest r with r/n >= quantile. */
export function nearestRank(quantile: number, n: number): number {
  return Math.min(n, Math.max(1, Math.ceil(quantile * n - RANK_EPSILON)));
}

function validate(options: LatencyTrackerOptions): Required<LatencyTrackerOptions> {
  const resolved = {
    capacity: DEFAULT_CAPACITY,
    minDelayMs: DEFAULT_MIN_DELAY_MS,
    maxDelayMs: DEFAULT_MAX_DELAY_MS,
    ...options,
  };
  const { quantile, minSamples, defaultDelayMs, capacity, minDelayMs, maxDelayMs } = resolved;
  if (!(quantile > 0 && quantile <= 1)) {
    throw new RangeError(`quantile must be in (0, 1], got ${quantile}`);
  }
  if (!Number.isInteger(capacity) || capacity < 1) {
    throw new RangeError(`capacity must be an integer >= 1, got ${capacity}`);
  }
  if (!Number.isInteger(minSamples) || minSamples < 1 || minSamples > capacity) {
    throw new RangeError(`minSamples must be an integer in [1, capacity=${capacity}], got ${minSamples}`);
  }
  for (const [name, value] of [
    ['defaultDelayMs', defaultDelayMs],
    ['minDelayMs', minDelayMs],
    ['maxDelayMs', maxDelayMs],
  ] as const) {
    if (!(Number.isFinite(value) && value >= 0)) {
      throw new RangeError(`${name} must be a finite number >= 0, got ${value}`);
    }
  }
  if (minDelayMs > maxDelayMs) {
    throw new RangeError(`minDelayMs (${minDelayMs}) must not exceed maxDelayMs (${maxDelayMs})`);
  }
  return resolved;
}

/**
 * Latencies of one scope (a datacenter) and the hedge delay they imply.
 *
 * Efficiency: besides the ring (arrival order, to know which sample rolls out) the tracker keeps the same
 * samples sorted. `record` moves at most `capacity` numbers twice (binary search, then copyWithin to
 * insert the new sample and drop the evicted one): for 1024 doubles that is a few microseconds, small
 * next to the network request it measures. In exchange `delayMs`, asked before every GET request, is an
 * array read, and always exact. A cache recomputed every N records would be cheaper per record but stale
 * by up to N samples, and sorting a copy on every read would cost O(n log n) per GET.
 */
export class LatencyTracker {
  readonly #quantile: number;
  readonly #minSamples: number;
  readonly #defaultDelayMs: number;
  readonly #minDelayMs: number;
  readonly #maxDelayMs: number;
  /** Samples in arrival order; `#next` is where the next one goes (and the oldest is, once full). */
  readonly #ring: Float64Array;
  /** The same samples, ascending, in `[0, #size)`. */
  readonly #sorted: Float64Array;
  #next = 0;
  #size = 0;

  constructor(options: LatencyTrackerOptions) {
    const resolved = validate(options);
    this.#quantile = resolved.quantile;
    this.#minSamples = resolved.minSamples;
    this.#defaultDelayMs = resolved.defaultDelayMs;
    this.#minDelayMs = resolved.minDelayMs;
    this.#maxDelayMs = resolved.maxDelayMs;
    this.#ring = new Float64Array(resolved.capacity);
    this.#sorted = new Float64Array(resolved.capacity);
  }

  /** Samples currently held (at most `capacity`). */
  get sampleCount(): number {
    return this.#size;
  }

  /**
   * Adds one latency. Negative, NaN and infinite values are ignored: they come from clock steps or
   * requests that never completed, and one would sit at the top of the ring until it rolled out.
   */
  record(ms: number): void {
    if (!(Number.isFinite(ms) && ms >= 0)) return;
    const capacity = this.#ring.length;
    if (this.#size === capacity) {
      this.#removeSorted(this.#ring[this.#next]!);
    }
    this.#ring[this.#next] = ms;
    this.#next = (this.#next + 1) % capacity;
    this.#insertSorted(ms);
  }

  /**
   * How long a GET request may be outstanding before the next replica is asked: the quantile of the
   * recent samples, clamped to [minDelayMs, maxDelayMs], or defaultDelayMs while too few are known.
   */
  delayMs(): number {
    if (this.#size < this.#minSamples) return this.#defaultDelayMs;
    const sample = this.#sorted[nearestRank(this.#quantile, this.#size) - 1]!;
    return Math.min(this.#maxDelayMs, Math.max(this.#minDelayMs, sample));
  }

  /** Forgets every sample, e.g. after the cluster changed enough that old latencies mislead. */
  reset(): void {
    this.#next = 0;
    this.#size = 0;
  }

  /** First index in the sorted part whose sample is >= `value`. */
  #lowerBound(value: number): number {
    let lo = 0;
    let hi = this.#size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#sorted[mid]! < value) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #insertSorted(value: number): void {
    const at = this.#lowerBound(value);
    this.#sorted.copyWithin(at + 1, at, this.#size);
    this.#sorted[at] = value;
    this.#size += 1;
  }

  #removeSorted(value: number): void {
    // Equal samples are interchangeable, so removing the first of them is removing the right one.
    const at = this.#lowerBound(value);
    this.#sorted.copyWithin(at, at + 1, this.#size);
    this.#size -= 1;
  }
}

/**
 * One LatencyTracker per datacenter, created on first use with the same options. Ambry scopes its
 * histogram per datacenter by default: a remote datacenter's GETs are slower by the WAN round trip, and
 * mixing them in would make local hedges late and remote hedges early.
 */
/**
 * Responses at least this large are timed apart from the others: a 4 MiB chunk takes many times as
 * long as a 4 KiB photo, and one quantile over both would hedge large reads early (fetching them
 * twice) and small ones late.
 */
export const LARGE_RESPONSE_BYTES = 256 * 1024;

export type SizeClass = 'small' | 'large';

export function sizeClassOf(bytes: number | undefined): SizeClass {
  return bytes !== undefined && bytes >= LARGE_RESPONSE_BYTES ? 'large' : 'small';
}

export class LatencyTrackers {
  readonly #options: LatencyTrackerOptions;
  /** `datacenter` for small responses, `datacenter|large` for large ones. */
  readonly #trackers = new Map<
    string,
    { datacenter: string; sizeClass: SizeClass; tracker: LatencyTracker }
  >();

  constructor(options: LatencyTrackerOptions) {
    // Validated now, so a bad config fails at router start rather than on the first GET.
    validate(options);
    this.#options = { ...options };
  }

  for(datacenter: string, sizeClass: SizeClass = 'small'): LatencyTracker {
    const key = sizeClass === 'small' ? datacenter : `${datacenter}|large`;
    let entry = this.#trackers.get(key);
    if (entry === undefined) {
      entry = { datacenter, sizeClass, tracker: new LatencyTracker(this.#options) };
      this.#trackers.set(key, entry);
    }
    return entry.tracker;
  }

  /** Datacenters seen so far, in first-use order. */
  datacenters(): string[] {
    return [...new Set([...this.#trackers.values()].map((entry) => entry.datacenter))];
  }

  /** Every tracker so far, with its datacenter and size class (for metrics). */
  entries(): Array<{ datacenter: string; sizeClass: SizeClass; tracker: LatencyTracker }> {
    return [...this.#trackers.values()];
  }
}

/**
 * Tracker options from the router config's hedge keys; the clamps keep their defaults. The config does
 * not bound hedgeMinSamples, so the ring grows to hold that many rather than never trusting its quantile.
 */
export function latencyTrackerOptions(
  config: Pick<RouterConfig, 'hedgeQuantile' | 'hedgeMinSamples' | 'hedgeDefaultDelayMs'>,
): LatencyTrackerOptions {
  return {
    quantile: config.hedgeQuantile,
    minSamples: config.hedgeMinSamples,
    defaultDelayMs: config.hedgeDefaultDelayMs,
    capacity: Math.max(DEFAULT_CAPACITY, config.hedgeMinSamples),
  };
}
