import { describe, expect, it } from 'vitest';
import {
  describeConfig,
  ROUTER_DEFAULTS,
  RouterConfigError,
  type RouterConfigInput,
  resolveRouterConfig,
} from '../src/config.js';
import { RouterError, RouterErrorCode } from '../src/errors.js';

/** The issue's reference defaults, written out independently of the schema. */
const ISSUE_DEFAULTS = {
  putParallelism: 3,
  putSuccessTarget: 2,
  getParallelism: 2,
  getSuccessTarget: 1,
  getCrossDatacenter: true,
  updateParallelism: 3,
  updateSuccessTarget: 2,
  updateStragglerGraceMs: 500,
  chunkBytes: 4 * 1024 * 1024,
  chunksInFlight: 4,
  requestTimeoutMs: 4000,
  maxPutAttempts: 2,
  nodeFailureThreshold: 3,
  nodeBackoffMs: 300_000,
  diskFailureThreshold: 1,
  diskBackoffMs: 600_000,
  hedgeGets: true,
  hedgeQuantile: 0.9,
  hedgeMinSamples: 100,
  hedgeDefaultDelayMs: 50,
  hedgeMaxInFlight: 2,
  notFoundCacheMs: 15_000,
  changeStreamMaxLength: 1_000_000,
};

function problemsOf(input: unknown): readonly string[] {
  try {
    resolveRouterConfig(input as RouterConfigInput);
  } catch (error) {
    expect(error).toBeInstanceOf(RouterConfigError);
    return (error as RouterConfigError).problems;
  }
  throw new Error(`config ${JSON.stringify(input)} was accepted`);
}

describe('router config defaults', () => {
  it('are exactly the reference values, for every key', () => {
    expect(ROUTER_DEFAULTS).toEqual(ISSUE_DEFAULTS);
    expect(resolveRouterConfig()).toEqual(ISSUE_DEFAULTS);
    expect(resolveRouterConfig({})).toEqual(ISSUE_DEFAULTS);
  });

  it('are frozen so no router can change them for the others', () => {
    expect(Object.isFrozen(ROUTER_DEFAULTS)).toBe(true);
  });

  it('fill in only the keys not given', () => {
    const config = resolveRouterConfig({ chunkBytes: 1024, hedgeGets: false, notFoundCacheMs: 0 });
    expect(config).toEqual({ ...ISSUE_DEFAULTS, chunkBytes: 1024, hedgeGets: false, notFoundCacheMs: 0 });
  });

  it('describeConfig has one row per key with its default and a meaning', () => {
    const rows = describeConfig();
    expect(rows.map((r) => r.key)).toEqual(Object.keys(ISSUE_DEFAULTS));
    for (const row of rows) {
      expect(row.default).toBe(ISSUE_DEFAULTS[row.key]);
      expect(row.meaning.length, row.key).toBeGreaterThan(10);
    }
    expect(new Set(rows.map((r) => r.meaning)).size).toBe(rows.length);
  });
});

describe('router config validation', () => {
  // One bad value per key, each breaking a different rule (type, integer, bound).
  const BAD: Record<keyof typeof ISSUE_DEFAULTS, unknown> = {
    putParallelism: 0,
    putSuccessTarget: 1.5,
    getParallelism: -1,
    getSuccessTarget: '1',
    getCrossDatacenter: 'yes',
    updateParallelism: Number.NaN,
    updateSuccessTarget: 0,
    updateStragglerGraceMs: 'soon',
    chunkBytes: 1023,
    chunksInFlight: 0,
    requestTimeoutMs: 0,
    maxPutAttempts: 0,
    nodeFailureThreshold: 0,
    nodeBackoffMs: -1,
    diskFailureThreshold: 2.5,
    diskBackoffMs: null,
    hedgeGets: 1,
    hedgeQuantile: 1,
    hedgeMinSamples: 0,
    hedgeDefaultDelayMs: -5,
    hedgeMaxInFlight: 0,
    notFoundCacheMs: -1,
    changeStreamMaxLength: 0,
  };

  for (const [key, value] of Object.entries(BAD)) {
    it(`names ${key} when it is ${String(value)}`, () => {
      const problems = problemsOf({ [key]: value });
      expect(problems.some((p) => p.startsWith(`${key}: `))).toBe(true);
    });
  }

  it('reports every bad key at once, each on its own line', () => {
    const problems = problemsOf(BAD);
    for (const key of Object.keys(BAD)) {
      expect(
        problems.filter((p) => p.startsWith(`${key}: `)),
        key,
      ).toHaveLength(1);
    }
  });

  it('is a RouterError with INVALID_ARGUMENT whose message lists the problems', () => {
    try {
      resolveRouterConfig({ chunkBytes: 65 * 1024 * 1024, hedgeQuantile: 0 });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(RouterError);
      const e = error as RouterConfigError;
      expect(e.code).toBe(RouterErrorCode.INVALID_ARGUMENT);
      expect(e.problems).toHaveLength(2);
      expect(e.message).toContain('chunkBytes: ');
      expect(e.message).toContain('hedgeQuantile: ');
    }
  });

  it('accepts the bounds themselves', () => {
    const config = resolveRouterConfig({
      chunkBytes: 64 * 1024 * 1024,
      hedgeQuantile: 0.999,
      nodeBackoffMs: 0,
      hedgeDefaultDelayMs: 0,
    });
    expect(config.chunkBytes).toBe(64 * 1024 * 1024);
    expect(resolveRouterConfig({ chunkBytes: 1024 }).chunkBytes).toBe(1024);
    expect(resolveRouterConfig({ hedgeQuantile: 0.001 }).hedgeQuantile).toBe(0.001);
  });

  it('rejects hedgeQuantile at 0 and at 1', () => {
    expect(problemsOf({ hedgeQuantile: 0 })[0]).toMatch(/^hedgeQuantile: /);
    expect(problemsOf({ hedgeQuantile: 1 })[0]).toMatch(/^hedgeQuantile: /);
  });

  it('names unknown keys so a typo does not silently keep a default', () => {
    expect(problemsOf({ chunkSize: 1024, putParalelism: 2 })).toEqual([
      'chunkSize: unknown key',
      'putParalelism: unknown key',
    ]);
  });

  it('rejects a config that is not an object', () => {
    expect(problemsOf(null)).toHaveLength(1);
    expect(problemsOf(42)).toHaveLength(1);
  });
});

describe('router config cross-field checks', () => {
  it('success targets may not exceed their parallelism', () => {
    expect(problemsOf({ putSuccessTarget: 4 })).toEqual([
      'putSuccessTarget: must not exceed putParallelism (3)',
    ]);
    expect(problemsOf({ getParallelism: 1, getSuccessTarget: 2, hedgeMaxInFlight: 1 })).toEqual([
      'getSuccessTarget: must not exceed getParallelism (1)',
    ]);
    expect(problemsOf({ updateParallelism: 1 })).toEqual([
      'updateSuccessTarget: must not exceed updateParallelism (1)',
    ]);
  });

  it('a success target equal to the parallelism is fine', () => {
    const config = resolveRouterConfig({ putParallelism: 2, putSuccessTarget: 2, updateSuccessTarget: 3 });
    expect(config.putSuccessTarget).toBe(2);
    expect(config.updateSuccessTarget).toBe(3);
  });

  it('the hedge cap may not be below the GET parallelism', () => {
    expect(problemsOf({ getParallelism: 3 })).toEqual([
      'hedgeMaxInFlight: must be at least getParallelism (3)',
    ]);
    expect(resolveRouterConfig({ getParallelism: 3, hedgeMaxInFlight: 3 }).hedgeMaxInFlight).toBe(3);
  });

  it('are reported together with field errors, checked against the defaults of missing keys', () => {
    const problems = problemsOf({ chunkBytes: 0, putSuccessTarget: 5 });
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^chunkBytes: /);
    expect(problems[1]).toBe('putSuccessTarget: must not exceed putParallelism (3)');
  });

  it('are skipped when one side is itself invalid, so each problem is reported once', () => {
    expect(problemsOf({ putParallelism: 0, putSuccessTarget: 2 })).toHaveLength(1);
    expect(problemsOf({ putParallelism: 2, putSuccessTarget: 'x' })).toHaveLength(1);
  });
});
