import { InvalidArgumentError } from '../errors.js';

export interface BackoffOptions {
  /** Delay after the first failure (default 50 ms). */
  readonly initialMs?: number;
  /** Ceiling of the delay (default 5000 ms). */
  readonly maxMs?: number;
  /** Growth per consecutive failure (default 2). */
  readonly multiplier?: number;
}

/**
 * Exponential backoff with jitter for one endpoint's connect attempts. After the n-th consecutive
 * failure the window is `min(maxMs, initialMs * multiplier^(n-1))`, scaled by a random factor in
 * [0.5, 1) so that many clients that lost the same node do not reconnect in lock-step. A success
 * resets it. `now` and `random` are injectable for tests.
 */
export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly multiplier: number;
  private failures = 0;
  private until = 0;

  constructor(
    options: BackoffOptions = {},
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {
    this.initialMs = options.initialMs ?? 50;
    this.maxMs = options.maxMs ?? 5000;
    this.multiplier = options.multiplier ?? 2;
    if (!Number.isFinite(this.initialMs) || this.initialMs < 0) {
      throw new InvalidArgumentError(`reconnectBackoff.initialMs ${this.initialMs} must be >= 0`);
    }
    if (!Number.isFinite(this.maxMs) || this.maxMs < this.initialMs) {
      throw new InvalidArgumentError(`reconnectBackoff.maxMs ${this.maxMs} must be >= initialMs`);
    }
    if (!Number.isFinite(this.multiplier) || this.multiplier < 1) {
      throw new InvalidArgumentError(`reconnectBackoff.multiplier ${this.multiplier} must be >= 1`);
    }
  }

  /** Consecutive failures since the last success. */
  get consecutiveFailures(): number {
    return this.failures;
  }

  /** Milliseconds left in the current window (0 when a new attempt is allowed). */
  remainingMs(): number {
    return Math.max(0, this.until - this.now());
  }

  get active(): boolean {
    return this.remainingMs() > 0;
  }

  /** Record a failed attempt; returns the length of the new window in ms. */
  fail(): number {
    // Cap the exponent so the power never overflows to Infinity on a long outage.
    const exponent = Math.min(this.failures, 64);
    this.failures += 1;
    const base = Math.min(this.maxMs, this.initialMs * this.multiplier ** exponent);
    const delay = Math.round(base * (0.5 + this.random() * 0.5));
    this.until = this.now() + delay;
    return delay;
  }

  succeed(): void {
    this.failures = 0;
    this.until = 0;
  }
}
