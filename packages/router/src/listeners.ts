import { setMaxListeners } from 'node:events';

/** Signals whose listener limit is off: the router's own, shared by every operation in flight. */
const unlimited = new WeakSet<AbortSignal>();

/** As many abort listeners as operations in flight, by design: no leak warning, ever. */
export function allowAnyListeners(signal: AbortSignal): void {
  setMaxListeners(0, signal);
  unlimited.add(signal);
}

/**
 * Lets `signal` have `count` abort listeners without a leak warning: every request of every chunk in
 * flight listens to one operation signal. A signal whose limit is off keeps it off (node 20 cannot read
 * an AbortSignal's limit back, hence the set).
 */
export function allowListeners(signal: AbortSignal, count: number): void {
  if (!unlimited.has(signal)) setMaxListeners(count, signal);
}
