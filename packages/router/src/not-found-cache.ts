/**
 * Ids that every replica, in every datacenter asked, said it does not have. A client that polls for a
 * blob that does not exist (a typo, a scraper, a stale link) would otherwise cost a round of requests
 * to every datacenter each time; for `ttlMs` it gets the answer from memory instead.
 *
 * An id is never reused by a put (ids are random), so a cached "not found" can only go stale while the
 * blob is still on its way through replication: a put still in flight, seen from another router.
 * `ttlMs` bounds that window; a successful put or undelete through this router forgets the id at once.
 */

/** Explicit bound on memory: oldest entries go first. */
export const NOT_FOUND_CACHE_MAX_ENTRIES = 10_000;

export class NotFoundCache {
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #clock: () => number;
  /** id → expiry (epoch ms), in insertion order (Map iteration order), so the first is the oldest. */
  readonly #expiries = new Map<string, number>();

  constructor(ttlMs: number, clock: () => number, maxEntries = NOT_FOUND_CACHE_MAX_ENTRIES) {
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 0) throw new RangeError(`ttlMs must be >= 0, got ${ttlMs}`);
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`maxEntries must be >= 1, got ${maxEntries}`);
    }
    this.#ttlMs = ttlMs;
    this.#clock = clock;
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#expiries.size;
  }

  has(id: string): boolean {
    const expiry = this.#expiries.get(id);
    if (expiry === undefined) return false;
    if (this.#clock() < expiry) return true;
    this.#expiries.delete(id);
    return false;
  }

  add(id: string): void {
    if (this.#ttlMs === 0) return;
    // Re-adding moves the id to the end, so eviction stays oldest-first.
    this.#expiries.delete(id);
    this.#expiries.set(id, this.#clock() + this.#ttlMs);
    while (this.#expiries.size > this.#maxEntries) {
      const oldest = this.#expiries.keys().next().value as string;
      this.#expiries.delete(oldest);
    }
  }

  forget(id: string): void {
    this.#expiries.delete(id);
  }
}
