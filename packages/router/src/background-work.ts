/**
 * Work the router does after answering its caller: the data chunks of a deleted composite blob are
 * deleted here, as in Ambry, so a delete costs the caller one quorum round however large the blob.
 * Best effort and bounded: at most `concurrency` tasks run and `maxQueued` wait; beyond that a task
 * is dropped and counted (its chunks stay until compaction reclaims the space of expired or orphaned
 * data, which is what Ambry's own background deleter also falls back to).
 */

export interface BackgroundStats {
  readonly running: number;
  readonly queued: number;
  readonly completed: number;
  readonly failed: number;
  readonly dropped: number;
}

export type BackgroundTask = () => Promise<void>;

export class BackgroundWork {
  readonly #concurrency: number;
  readonly #maxQueued: number;
  readonly #queue: BackgroundTask[] = [];
  #stopping = false;
  readonly #idleWaiters: Array<() => void> = [];
  #running = 0;
  #completed = 0;
  #failed = 0;
  #dropped = 0;

  constructor(concurrency: number, maxQueued: number) {
    if (!Number.isSafeInteger(concurrency) || concurrency < 1)
      throw new RangeError('concurrency must be >= 1');
    if (!Number.isSafeInteger(maxQueued) || maxQueued < 0) throw new RangeError('maxQueued must be >= 0');
    this.#concurrency = concurrency;
    this.#maxQueued = maxQueued;
  }

  stats(): BackgroundStats {
    return {
      running: this.#running,
      queued: this.#queue.length,
      completed: this.#completed,
      failed: this.#failed,
      dropped: this.#dropped,
    };
  }

  /** False when the task was dropped (queue full or stopping). */
  submit(task: BackgroundTask): boolean {
    if (this.#stopping || this.#queue.length >= this.#maxQueued) {
      this.#dropped += 1;
      return false;
    }
    this.#queue.push(task);
    this.#pump();
    return true;
  }

  /** Resolves when nothing runs or waits. */
  idle(): Promise<void> {
    if (this.#running === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Drops what waits and lets what runs finish (each task is bounded by request timeouts); later
   * submissions are dropped. Resolves when the running tasks are done.
   */
  async stop(): Promise<void> {
    this.#dropped += this.#queue.length;
    this.#queue.length = 0;
    this.#stopping = true;
    await this.idle();
  }

  #pump(): void {
    while (this.#running < this.#concurrency && this.#queue.length > 0) {
      const task = this.#queue.shift() as BackgroundTask;
      this.#running += 1;
      // A task that throws synchronously must be counted like one that rejects.
      Promise.resolve()
        .then(task)
        .then(
          () => {
            this.#completed += 1;
          },
          () => {
            this.#failed += 1;
          },
        )
        .finally(() => {
          this.#running -= 1;
          this.#pump();
          if (this.#running === 0 && this.#queue.length === 0) {
            for (const wake of this.#idleWaiters.splice(0)) wake();
          }
        });
    }
  }
}
