import type { ClusterMapEvent, ClusterMapListener } from './states.js';

/**
 * The subscribers of one cluster map. A throwing listener is reported through `onError` and does not
 * stop the others; each `subscribe` call is its own subscription, even for the same function.
 */
export class ListenerSet {
  readonly #listeners = new Set<ClusterMapListener>();
  readonly #onError: (error: unknown) => void;

  constructor(onError?: (error: unknown) => void) {
    this.#onError =
      onError ??
      ((error) => process.emitWarning(`cluster map listener failed: ${String(error)}`, 'ClusterMapWarning'));
  }

  subscribe(listener: ClusterMapListener): () => void {
    const entry: ClusterMapListener = (event) => listener(event);
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  emit(event: ClusterMapEvent): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.#onError(error);
      }
    }
  }
}
