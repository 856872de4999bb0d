/**
 * Work the router does after answering its caller: the data chunks of a deleted composite blob are
 * deleted here, as in Ambry, so a delete costs the caller one quorum round however large the blob.
 * Best effort and bounded: at most `concurrency` tasks run and `maxQueued` wait; beyond that a task
 * is dropped and counted (its chunks stay until compaction reclaims the space of expired or orphaned
 * data, which is what Ambry's own background deleter also falls back to).
 *
 * Tasks are keyed (by blob id): an undelete of the blob must first cancel its pending chunk deletes
 * and wait until a running one has stopped, or the chunks would be deleted under an undeleted blob.
 */

export interface BackgroundStats {
  readonly running: number;
  readonly queued: number;
  readonly completed: number;
  readonly failed: number;
  /** Refused (queue full, stopping), or cancelled before they finished. */
  readonly dropped: number;
}

/** `signal` fires when the task is cancelled or the work is stopped: the task should end soon. */
export type BackgroundTask = (signal: AbortSignal) => Promise<void>;

interface Entry {
  readonly key: string;
  readonly task: BackgroundTask;
  readonly abort: AbortController;
  /** Set once it runs: settles when it has finished, whatever the outcome. */
  finished?: Promise<void>;
}

export class BackgroundWork {
  readonly #concurrency: number;
  readonly #maxQueued: number;
  readonly #queue: Entry[] = [];
  readonly #running = new Map<string, Entry>();
  readonly #idleWaiters: Array<() => void> = [];
  #stopping = false;
  #completed = 0;
  #failed = 0;
  #dropped = 0;

  constructor(concurrency: number, maxQueued: number) {
    if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
      throw new RangeError('concurrency must be >= 1');
    }
    if (!Number.isSafeInteger(maxQueued) || maxQueued < 0) throw new RangeError('maxQueued must be >= 0');
    this.#concurrency = concurrency;
    this.#maxQueued = maxQueued;
  }

  stats(): BackgroundStats {
    return {
      running: this.#running.size,
      queued: this.#queue.length,
      completed: this.#completed,
      failed: this.#failed,
      dropped: this.#dropped,
    };
  }

  /** False when the task was dropped (queue full, or stopping). A key already queued or running is kept. */
  submit(key: string, task: BackgroundTask): boolean {
    if (this.#stopping || this.#queue.length >= this.#maxQueued) {
      this.#dropped += 1;
      return false;
    }
    this.#queue.push({ key, task, abort: new AbortController() });
    this.#pump();
    return true;
  }

  /** Removes the key's waiting tasks and aborts its running one; resolves once that one has stopped. */
  async cancel(key: string): Promise<void> {
    for (let i = this.#queue.length - 1; i >= 0; i--) {
      if (this.#queue[i]!.key !== key) continue;
      this.#queue.splice(i, 1);
      this.#dropped += 1;
    }
    const running = this.#running.get(key);
    if (running === undefined) return;
    running.abort.abort(CANCELLED);
    await running.finished;
  }

  /** Resolves when nothing runs or waits. */
  idle(): Promise<void> {
    if (this.#running.size === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Drops what waits, aborts what runs and resolves once it has stopped; later submissions are
   * dropped. What it abandons stays for compaction, as a dropped task does.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#dropped += this.#queue.length;
    this.#queue.length = 0;
    for (const entry of this.#running.values()) entry.abort.abort(CANCELLED);
    await this.idle();
  }

  #pump(): void {
    while (this.#running.size < this.#concurrency && this.#queue.length > 0) {
      // One task per key at a time: a second delete of the same blob waits for the first.
      const index = this.#queue.findIndex((entry) => !this.#running.has(entry.key));
      if (index < 0) return;
      const [entry] = this.#queue.splice(index, 1) as [Entry];
      this.#running.set(entry.key, entry);
      // A task that throws synchronously must be counted like one that rejects.
      entry.finished = Promise.resolve()
        .then(() => entry.task(entry.abort.signal))
        .then(
          () => {
            if (entry.abort.signal.aborted) this.#dropped += 1;
            else this.#completed += 1;
          },
          () => {
            if (entry.abort.signal.aborted) this.#dropped += 1;
            else this.#failed += 1;
          },
        )
        .finally(() => {
          this.#running.delete(entry.key);
          this.#pump();
          if (this.#running.size === 0 && this.#queue.length === 0) {
            for (const wake of this.#idleWaiters.splice(0)) wake();
          }
        });
    }
  }
}

const CANCELLED = Object.freeze({ reason: 'background task cancelled' });
