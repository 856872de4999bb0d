import type { ByteRange } from '@ambry/protocol';
import { FrontendErrorCode, HttpError } from './errors.js';

/**
 * `Range: bytes=a-b | a- | -n`, one range only (Ambry's RestUtils.buildByteRange). Malformed → 400
 * INVALID_RANGE (as Ambry, not RFC 9110's "ignore it"); well-formed but outside the blob → 416 with
 * `Content-Range: bytes * /<size>` (rangeNotSatisfiable).
 */
export type RangeSpec =
  /** bytes=a-b (b clamped to the blob's end) */
  | { readonly kind: 'bounded'; readonly first: number; readonly last: number }
  /** bytes=a- */
  | { readonly kind: 'from'; readonly first: number }
  /** bytes=-n: the last n bytes */
  | { readonly kind: 'suffix'; readonly length: number };

const RANGE = /^bytes=(\d*)-(\d*)$/;

/** Digits as a number; beyond 2^53 a position is simply "past any blob". */
function position(digits: string): number {
  return digits.length > 15 ? Number.MAX_SAFE_INTEGER : Number(digits);
}

export function parseRange(raw: string | undefined): RangeSpec | undefined {
  if (raw === undefined) return undefined;
  const match = RANGE.exec(raw.trim());
  const bad = (why: string) =>
    new HttpError(400, FrontendErrorCode.INVALID_RANGE, `Range ${JSON.stringify(raw.slice(0, 60))}: ${why}`);
  if (!match) throw bad('expected bytes=a-b, bytes=a- or bytes=-n (a single range)');
  const [, a = '', b = ''] = match;
  if (a === '' && b === '') throw bad('a range needs a start or a suffix length');
  if (a === '') return { kind: 'suffix', length: position(b) };
  const first = position(a);
  if (b === '') return { kind: 'from', first };
  const last = position(b);
  if (last < first) throw bad('the last byte comes before the first');
  return { kind: 'bounded', first, last };
}

/** The bytes of a blob of `size` the range selects, or undefined when it selects none (416). */
export function resolveRange(spec: RangeSpec, size: number): ByteRange | undefined {
  if (spec.kind === 'suffix') {
    if (spec.length === 0 || size === 0) return undefined;
    const length = Math.min(spec.length, size);
    return { offset: size - length, length };
  }
  if (spec.first >= size) return undefined;
  const last = spec.kind === 'bounded' ? Math.min(spec.last, size - 1) : size - 1;
  return { offset: spec.first, length: last - spec.first + 1 };
}

/**
 * The range to ask the router for without knowing the size: a-b and a- (its length clamped by the data
 * node / router). A suffix range needs the size first, so undefined.
 */
export function routerRange(spec: RangeSpec): ByteRange | undefined {
  if (spec.kind === 'suffix') return undefined;
  const length = spec.kind === 'bounded' ? spec.last - spec.first + 1 : Number.MAX_SAFE_INTEGER - spec.first;
  return { offset: spec.first, length: Math.max(1, Math.min(length, Number.MAX_SAFE_INTEGER - spec.first)) };
}

export function contentRange(range: ByteRange, size: number): string {
  return `bytes ${range.offset}-${range.offset + range.length - 1}/${size}`;
}

export function rangeNotSatisfiable(raw: string, size: number): HttpError {
  return new HttpError(
    416,
    'RANGE_NOT_SATISFIABLE',
    `Range ${JSON.stringify(raw.slice(0, 60))} selects no byte of a blob of ${size} bytes`,
    { 'content-range': `bytes */${size}` },
  );
}
