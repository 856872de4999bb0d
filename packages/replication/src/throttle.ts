import { sleep } from './backoff.js';

/**
 * Token bucket over bytes: `rate` bytes per second, bursts up to one second's worth. `take` waits until
 * the bytes are available; a request larger than the bucket goes into debt and later callers wait it off,
 * so one large blob never blocks forever. Rate 0 = unlimited.
 */
export class Throttle {
  private available: number;
  private last: number;

  constructor(
    private readonly bytesPerSecond: number,
    private readonly clock: () => number = Date.now,
  ) {
    this.available = bytesPerSecond;
    this.last = clock();
  }

  get unlimited(): boolean {
    return this.bytesPerSecond <= 0;
  }

  async take(bytes: number, signal: AbortSignal): Promise<void> {
    if (this.unlimited || bytes <= 0) return;
    this.refill();
    while (this.available <= 0 && !signal.aborted) {
      const waitMs = Math.ceil((-this.available / this.bytesPerSecond) * 1000) + 1;
      await sleep(waitMs, signal);
      this.refill();
    }
    this.available -= bytes;
  }

  private refill(): void {
    const now = this.clock();
    const elapsed = Math.max(0, now - this.last);
    this.last = now;
    this.available = Math.min(this.bytesPerSecond, this.available + (elapsed * this.bytesPerSecond) / 1000);
  }
}
