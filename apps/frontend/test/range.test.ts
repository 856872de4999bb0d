import { describe, expect, it } from 'vitest';
import { HttpError } from '../src/errors.js';
import { contentRange, parseRange, rangeNotSatisfiable, resolveRange, routerRange } from '../src/range.js';

describe('Range header', () => {
  it('parses the three single-range forms', () => {
    expect(parseRange('bytes=0-99')).toEqual({ kind: 'bounded', first: 0, last: 99 });
    expect(parseRange('bytes=100-')).toEqual({ kind: 'from', first: 100 });
    expect(parseRange('bytes=-5')).toEqual({ kind: 'suffix', length: 5 });
    expect(parseRange(undefined)).toBeUndefined();
  });

  it.each(['bytes=', 'bytes=-', 'bytes=5-1', 'bytes=0-1,3-4', 'items=0-1', 'bytes=a-b', 'bytes=1.5-2'])(
    '%j is 400 INVALID_RANGE',
    (raw) => {
      let error: unknown;
      try {
        parseRange(raw);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(HttpError);
      expect([(error as HttpError).status, (error as HttpError).code]).toEqual([400, 'INVALID_RANGE']);
    },
  );

  it('resolves against the size, clamping the end; none selected → undefined (416)', () => {
    expect(resolveRange({ kind: 'bounded', first: 2, last: 1000 }, 10)).toEqual({ offset: 2, length: 8 });
    expect(resolveRange({ kind: 'from', first: 9 }, 10)).toEqual({ offset: 9, length: 1 });
    expect(resolveRange({ kind: 'suffix', length: 3 }, 10)).toEqual({ offset: 7, length: 3 });
    expect(resolveRange({ kind: 'suffix', length: 30 }, 10)).toEqual({ offset: 0, length: 10 });
    expect(resolveRange({ kind: 'from', first: 10 }, 10)).toBeUndefined();
    expect(resolveRange({ kind: 'suffix', length: 0 }, 10)).toBeUndefined();
    expect(resolveRange({ kind: 'suffix', length: 1 }, 0)).toBeUndefined();
  });

  it('gives the router a-b and a- as they are, never a suffix', () => {
    expect(routerRange({ kind: 'bounded', first: 5, last: 9 })).toEqual({ offset: 5, length: 5 });
    expect(routerRange({ kind: 'from', first: 5 })?.offset).toBe(5);
    expect(routerRange({ kind: 'suffix', length: 5 })).toBeUndefined();
    expect(parseRange('bytes=99999999999999999999-')).toEqual({
      kind: 'from',
      first: Number.MAX_SAFE_INTEGER,
    });
  });

  it('formats Content-Range, and a 416 carries bytes */size', () => {
    expect(contentRange({ offset: 7, length: 3 }, 10)).toBe('bytes 7-9/10');
    const error = rangeNotSatisfiable('bytes=20-', 10);
    expect([error.status, error.headers['content-range']]).toEqual([416, 'bytes */10']);
  });
});
