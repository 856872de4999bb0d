import { type Endpoint, InvalidArgumentError } from '../errors.js';

/**
 * Fault rules of the in-memory network (see memory.ts). A rule is matched against every data unit
 * (one `write`, or one corked batch delivered to `_writev`) at the moment it is written, so the faults
 * a run sees depend only on the seed and the sequence of writes, never on timing.
 */

/** Which way a unit travels, seen from the server the connection was made to. */
export type UnitDirection = 'to-server' | 'to-client';
export type FaultDirection = UnitDirection | 'both';

export type FaultAction =
  /** The unit never arrives (an unanswered request: the caller times out). */
  | { readonly kind: 'drop' }
  /** The unit arrives `ms` later; later units of the same connection and direction wait behind it. */
  | { readonly kind: 'delay'; readonly ms: number }
  /** The connection is reset instead of delivering the unit (and anything still in flight). */
  | { readonly kind: 'disconnect' }
  /** One byte of the unit is flipped (xor 0xff) at `byteOffset`, default chosen by the rule's PRNG. */
  | { readonly kind: 'corrupt'; readonly byteOffset?: number };

export type FaultKind = FaultAction['kind'] | 'blackhole';

export interface FaultRule {
  /** Server endpoint whose connections the rule applies to; omitted = every connection. */
  readonly endpoint?: Endpoint;
  /** Default 'both'. */
  readonly direction?: FaultDirection;
  readonly action: FaultAction;
  /** Fire on the nth matching unit (1-based, counted per rule); with `every`, on nth, nth+every, ... */
  readonly nth?: number;
  /** Fire on every k-th matching unit (k, 2k, ...; or nth, nth+k, ... with `nth`). */
  readonly every?: number;
  /** Fire with this probability (0..1), drawn from the rule's seeded PRNG, on units the counters allow. */
  readonly probability?: number;
  /** Fire at most this many times. Default: 1 when `nth` is set without `every`, otherwise unlimited. */
  readonly times?: number;
}

/** mulberry32: tiny, fast, good enough for fault scheduling, and the same on every platform. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Derive an independent 32-bit seed per rule, so adding one rule never shifts another's draws. */
export function deriveSeed(seed: number, stream: number): number {
  let h = (Math.floor(seed) ^ Math.floor(seed / 4_294_967_296) ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return a.host === b.host && a.port === b.port;
}

function checkCount(name: string, value: number | undefined, min: number): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < min)) {
    throw new InvalidArgumentError(`fault rule ${name} must be an integer >= ${min}, got ${value}`);
  }
}

export function validateFaultRule(rule: FaultRule): void {
  checkCount('nth', rule.nth, 1);
  checkCount('every', rule.every, 1);
  checkCount('times', rule.times, 0);
  const p = rule.probability;
  if (p !== undefined && !(p >= 0 && p <= 1)) {
    throw new InvalidArgumentError(`fault rule probability must be within [0, 1], got ${p}`);
  }
  const direction = rule.direction ?? 'both';
  if (direction !== 'both' && direction !== 'to-server' && direction !== 'to-client') {
    throw new InvalidArgumentError(`unknown fault direction ${String(direction)}`);
  }
  const action = rule.action;
  switch (action.kind) {
    case 'drop':
    case 'disconnect':
      break;
    case 'delay':
      if (!(Number.isFinite(action.ms) && action.ms >= 0)) {
        throw new InvalidArgumentError(`delay must be a finite number of ms >= 0, got ${action.ms}`);
      }
      break;
    case 'corrupt':
      checkCount('byteOffset', action.byteOffset, 0);
      break;
    default:
      throw new InvalidArgumentError(`unknown fault action ${String((action as { kind: unknown }).kind)}`);
  }
}

/** A rule plus its per-rule counters and PRNG. */
export class ActiveRule {
  private matched = 0;
  private fired = 0;
  private readonly limit: number;
  removed = false;

  constructor(
    readonly rule: FaultRule,
    readonly random: () => number,
  ) {
    validateFaultRule(rule);
    this.limit = rule.times ?? (rule.nth !== undefined && rule.every === undefined ? 1 : Infinity);
  }

  /**
   * Count the unit if it matches the rule's filter and decide whether the rule fires on it. A corrupt
   * rule does not match units too short to hold its byte (empty units, or shorter than byteOffset + 1).
   */
  consider(server: Endpoint, direction: UnitDirection, unitLength: number): boolean {
    const { rule } = this;
    if (this.removed) return false;
    if (rule.endpoint && !sameEndpoint(rule.endpoint, server)) return false;
    const wanted = rule.direction ?? 'both';
    if (wanted !== 'both' && wanted !== direction) return false;
    if (rule.action.kind === 'corrupt' && unitLength <= (rule.action.byteOffset ?? 0)) return false;

    const n = ++this.matched;
    if (this.fired >= this.limit) return false;
    if (rule.nth !== undefined) {
      if (n < rule.nth) return false;
      if (rule.every === undefined ? n !== rule.nth : (n - rule.nth) % rule.every !== 0) return false;
    } else if (rule.every !== undefined && n % rule.every !== 0) {
      return false;
    }
    if (rule.probability !== undefined && !(this.random() < rule.probability)) return false;
    this.fired++;
    return true;
  }
}
