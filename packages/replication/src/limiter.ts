/** At most `limit` holders at once; the others wait in arrival order. */
export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly limit: number) {}

  async acquire(): Promise<() => void> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next === undefined) this.active -= 1;
      else next(); // the slot passes straight to the next waiter
    };
  }

  get inUse(): number {
    return this.active;
  }
}

/** Runs `work` over `items` with at most `parallelism` at once; resolves with results in item order. */
export async function mapLimited<T, R>(
  items: readonly T[],
  parallelism: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const at = next++;
      results[at] = await work(items[at]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallelism, items.length) }, worker));
  return results;
}

/**
 * At most `limit` bytes held at once, granted in arrival order (no overtaking, so a large request is not
 * starved by small ones). A request larger than the limit is granted once nothing else is held: one
 * large blob goes alone instead of waiting forever.
 */
export class ByteBudget {
  private used = 0;
  private readonly waiting: { readonly bytes: number; readonly grant: () => void }[] = [];

  constructor(readonly limit: number) {}

  async acquire(bytes: number): Promise<() => void> {
    const amount = Math.max(0, bytes);
    if (this.waiting.length > 0 || !this.fits(amount)) {
      await new Promise<void>((grant) => this.waiting.push({ bytes: amount, grant }));
    } else {
      this.used += amount;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= amount;
      this.grantWaiting();
    };
  }

  get inUse(): number {
    return this.used;
  }

  private fits(bytes: number): boolean {
    return this.used === 0 || this.used + bytes <= this.limit;
  }

  private grantWaiting(): void {
    while (this.waiting.length > 0 && this.fits(this.waiting[0]!.bytes)) {
      const next = this.waiting.shift()!;
      this.used += next.bytes;
      next.grant();
    }
  }
}

/**
 * What a peer loop lets its partitions do at once, shared by every partition applied in parallel: at
 * most `slots` blob fetches or local reconciliations, and at most `bytes` of fetched blobs not yet
 * written here (memory bound: a fetched blob is held from its GET until its PUT is durable).
 */
export class FetchGate {
  private readonly slots: Limiter;
  private readonly budget: ByteBudget;

  constructor(slots: number, bytes: number) {
    this.slots = new Limiter(slots);
    this.budget = new ByteBudget(bytes);
  }

  /** A slot plus `bytes` of the budget; the function returned gives both back. */
  async acquire(bytes: number): Promise<() => void> {
    // Bytes first: a caller waiting for memory does not sit on a slot a small blob could use.
    const releaseBytes = await this.budget.acquire(bytes);
    const releaseSlot = await this.slots.acquire();
    return () => {
      releaseSlot();
      releaseBytes();
    };
  }

  get inUse(): { slots: number; bytes: number } {
    return { slots: this.slots.inUse, bytes: this.budget.inUse };
  }
}
