import { InvalidArgumentError } from '../errors.js';

/** setTimeout fires at once for delays above a signed 32-bit millisecond count. */
export const MAX_TIMER_MS = 0x7fff_ffff;

export function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  const result = value ?? fallback;
  if (!Number.isSafeInteger(result) || result < 1) {
    throw new InvalidArgumentError(`${name} ${result} must be a positive integer`);
  }
  return result;
}

export function nonNegativeInteger(name: string, value: number | undefined, fallback: number): number {
  const result = value ?? fallback;
  if (!Number.isSafeInteger(result) || result < 0) {
    throw new InvalidArgumentError(`${name} ${result} must be a non-negative integer`);
  }
  return result;
}

export function timeout(name: string, value: number | undefined, fallback: number): number {
  const result = value ?? fallback;
  if (!Number.isFinite(result) || result <= 0) {
    throw new InvalidArgumentError(`${name} ${result} must be a positive number of milliseconds`);
  }
  return Math.min(result, MAX_TIMER_MS);
}
