/** A wait that doubles from `minMs` up to `maxMs` while `grow` is called, and drops back on `reset`. */
export class DoublingBackoff {
  private current = 0;

  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
  ) {}

  /** The next wait (minMs the first time), then doubled for the time after. */
  grow(): number {
    this.current = this.current === 0 ? this.minMs : Math.min(this.maxMs, this.current * 2);
    return this.current;
  }

  reset(): void {
    this.current = 0;
  }

  get delayMs(): number {
    return this.current;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. Never rejects. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
