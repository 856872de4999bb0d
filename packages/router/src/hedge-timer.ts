/**
 * The timer that decides when a GET asks one more replica. Timers are a seam on the router context so
 * tests fire a hedge when they choose instead of waiting out a real delay.
 */
import type { Replica } from '@ambry/clustermap';

export interface Timers {
  readonly set: (callback: () => void, ms: number) => unknown;
  readonly clear: (handle: unknown) => void;
}

export const realTimers: Timers = {
  set: (callback, ms) => setTimeout(callback, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** How long the newest request to `replica` may go unanswered before the next replica is asked. */
export interface HedgePolicy {
  readonly delayMs: (replica: Replica) => number;
}

/**
 * One pending hedge deadline at most. `due` is set when it fired; the request loop consumes it. After a
 * hedge the tracker refused (at its in-flight cap) the timer stays disarmed until a response frees a slot,
 * so a stuck operation does not spin on a timer that can achieve nothing.
 */
export class HedgeTimer {
  readonly #timers: Timers;
  readonly #onDue: () => void;
  #handle: unknown;
  #armed = false;
  #due = false;
  #blocked = false;

  constructor(timers: Timers, onDue: () => void) {
    this.#timers = timers;
    this.#onDue = onDue;
  }

  get due(): boolean {
    return this.#due;
  }

  /** Consumes a fired deadline; true when the loop should try a hedge now. */
  takeDue(): boolean {
    const due = this.#due;
    this.#due = false;
    return due;
  }

  /** The tracker refused the hedge: wait for a response before arming again. */
  block(): void {
    this.#blocked = true;
  }

  /** A response arrived: a slot may be free again. */
  unblock(): void {
    this.#blocked = false;
  }

  /** Arms the deadline unless one is pending or hedging is blocked. */
  ensureArmed(ms: number): void {
    if (this.#armed || this.#blocked) return;
    this.#armed = true;
    this.#handle = this.#timers.set(() => {
      this.#armed = false;
      this.#due = true;
      this.#onDue();
    }, ms);
  }

  /** Also used when a new request goes out: the next deadline counts from it. */
  cancel(): void {
    this.#due = false;
    if (!this.#armed) return;
    this.#armed = false;
    this.#timers.clear(this.#handle);
  }
}
