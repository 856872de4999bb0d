/**
 * What the crash loop's clients were told: every blob acknowledged (201) with its sha256, every DELETE
 * acknowledged (202), every TTL update acknowledged (200), and the operations sent but never
 * acknowledged (their effect is unknown: the blob may read either way, but never wrong or missing).
 */
export interface AckedBlob {
  readonly id: string;
  readonly sha256: string;
  readonly size: number;
  /** Uploaded with a TTL (so a TTL update has something to change). */
  readonly ttl: boolean;
}

/** A set with O(1) add, delete and uniform random pick. */
class PickSet<T> {
  readonly #items: T[] = [];
  readonly #at = new Map<T, number>();

  get size(): number {
    return this.#items.length;
  }

  add(item: T): void {
    if (this.#at.has(item)) return;
    this.#at.set(item, this.#items.length);
    this.#items.push(item);
  }

  delete(item: T): boolean {
    const at = this.#at.get(item);
    if (at === undefined) return false;
    const last = this.#items.pop()!;
    if (last !== item) {
      this.#items[at] = last;
      this.#at.set(last, at);
    }
    this.#at.delete(item);
    return true;
  }

  has(item: T): boolean {
    return this.#at.has(item);
  }

  /** `random` in [0, 1). */
  pick(random: number): T | undefined {
    if (this.#items.length === 0) return undefined;
    return this.#items[Math.min(this.#items.length - 1, Math.floor(random * this.#items.length))];
  }

  values(): readonly T[] {
    return this.#items;
  }
}

export class Ledger {
  readonly #blobs = new Map<string, AckedBlob>();
  /** Acknowledged, no DELETE ever sent, no operation in flight: what readers and updaters pick from. */
  readonly #idle = new PickSet<string>();
  /** Acknowledged, no DELETE ever sent (idle or with a TTL update in flight). */
  readonly #live = new Set<string>();
  readonly #deleted = new Set<string>();
  readonly #deleteUnknown = new Set<string>();
  readonly #ttlUpdated = new Set<string>();

  acknowledged(blob: AckedBlob): void {
    this.#blobs.set(blob.id, blob);
    this.#live.add(blob.id);
    this.#idle.add(blob.id);
  }

  get acknowledgedCount(): number {
    return this.#blobs.size;
  }

  blob(id: string): AckedBlob | undefined {
    return this.#blobs.get(id);
  }

  /** A random idle blob, taken out of the idle set until `release` (so nobody reads it mid-DELETE). */
  take(random: number, filter: (blob: AckedBlob) => boolean = () => true): AckedBlob | undefined {
    const id = this.#idle.pick(random);
    if (id === undefined) return undefined;
    const blob = this.#blobs.get(id)!;
    if (!filter(blob)) return undefined;
    this.#idle.delete(id);
    return blob;
  }

  /** A random idle blob to read; it stays idle (reads do not change it). */
  peek(random: number): AckedBlob | undefined {
    const id = this.#idle.pick(random);
    return id === undefined ? undefined : this.#blobs.get(id);
  }

  release(id: string): void {
    if (this.#live.has(id)) this.#idle.add(id);
  }

  /** A DELETE is about to be sent: from now on the blob may read as deleted. */
  deleteSent(id: string): void {
    this.#live.delete(id);
    this.#idle.delete(id);
  }

  deleteAcknowledged(id: string): void {
    this.deleteSent(id);
    this.#deleteUnknown.delete(id);
    this.#deleted.add(id);
  }

  /** A DELETE was sent and not acknowledged: the blob may now read as deleted or not. */
  deleteUnacknowledged(id: string): void {
    this.deleteSent(id);
    this.#deleteUnknown.add(id);
  }

  /** Acknowledged and no DELETE sent (yet). */
  isLive(id: string): boolean {
    return this.#live.has(id);
  }

  ttlUpdateAcknowledged(id: string): void {
    this.#ttlUpdated.add(id);
  }

  isTtlUpdated(id: string): boolean {
    return this.#ttlUpdated.has(id);
  }

  /** Acknowledged blobs no DELETE was sent for: each must read back byte-identical. */
  live(): AckedBlob[] {
    return [...this.#live].map((id) => this.#blobs.get(id)!);
  }

  /** Acknowledged DELETEs: each must read 410. */
  deleted(): AckedBlob[] {
    return [...this.#deleted].map((id) => this.#blobs.get(id)!);
  }

  /** DELETEs sent but not acknowledged: 200 with the right bytes or 410. */
  deleteUnknown(): AckedBlob[] {
    return [...this.#deleteUnknown].map((id) => this.#blobs.get(id)!);
  }
}
