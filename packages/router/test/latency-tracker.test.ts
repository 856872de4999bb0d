import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveRouterConfig } from '../src/config.js';
import {
  LARGE_RESPONSE_BYTES,
  LatencyTracker,
  type LatencyTrackerOptions,
  LatencyTrackers,
  latencyTrackerOptions,
  nearestRank,
  sizeClassOf,
} from '../src/latency-tracker.js';

const BASE: LatencyTrackerOptions = { quantile: 0.9, minSamples: 100, defaultDelayMs: 50 };

function tracker(overrides: Partial<LatencyTrackerOptions> = {}): LatencyTracker {
  return new LatencyTracker({ ...BASE, ...overrides });
}

function recordAll(t: LatencyTracker, samples: Iterable<number>): void {
  for (const ms of samples) t.record(ms);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

describe('nearestRank', () => {
  it('is the smallest rank covering the quantile, despite floating-point products', () => {
    expect(nearestRank(0.9, 1000)).toBe(900);
    expect(nearestRank(0.9, 1001)).toBe(901);
    // 0.07 × 100 is 7.000000000000001 in floating point.
    expect(nearestRank(0.07, 100)).toBe(7);
    expect(nearestRank(0.7, 10)).toBe(7);
    expect(nearestRank(0.01, 10)).toBe(1);
    expect(nearestRank(1, 10)).toBe(10);
  });
});

describe('LatencyTracker', () => {
  it('uses the default delay until minSamples samples are known', () => {
    const t = tracker({ minSamples: 100, defaultDelayMs: 50 });
    recordAll(t, Array(99).fill(500));
    expect(t.sampleCount).toBe(99);
    expect(t.delayMs()).toBe(50);
    t.record(500);
    expect(t.delayMs()).toBe(500);
  });

  it('the 0.9 quantile of 1..1000 is 900 (nearest rank), whatever the arrival order', () => {
    const ascending = tracker();
    recordAll(ascending, range(1, 1000));
    expect(ascending.delayMs()).toBe(900);
    const descending = tracker();
    recordAll(descending, range(1, 1000).reverse());
    expect(descending.delayMs()).toBe(900);
  });

  it('ignores negative, NaN and infinite samples', () => {
    const t = tracker({ minSamples: 1 });
    recordAll(t, [-1, Number.NaN, Number.POSITIVE_INFINITY, -0.5]);
    expect(t.sampleCount).toBe(0);
    expect(t.delayMs()).toBe(50);
    t.record(0);
    t.record(30);
    expect(t.sampleCount).toBe(2);
    expect(t.delayMs()).toBe(30);
  });

  it('rolls old samples out: after capacity new samples only they count', () => {
    const t = tracker({ quantile: 0.99, capacity: 100, minSamples: 100 });
    recordAll(t, Array(100).fill(1900));
    expect(t.delayMs()).toBe(1900);
    recordAll(t, range(1, 98));
    // Two slow samples are left in the ring of 100, and the 0.99 quantile (rank 99) still sees them.
    expect(t.delayMs()).toBe(1900);
    t.record(99);
    expect(t.sampleCount).toBe(100);
    expect(t.delayMs()).toBe(99);
    t.record(100);
    expect(t.delayMs()).toBe(99);
    // A second full turn of the ring behaves the same (the write position wraps).
    recordAll(t, range(1001, 1100));
    expect(t.delayMs()).toBe(1099);
  });

  it('clamps the learned delay but not the configured default', () => {
    const fast = tracker({ minSamples: 1, minDelayMs: 5, maxDelayMs: 1000 });
    recordAll(fast, [0, 1, 2]);
    expect(fast.delayMs()).toBe(5);
    const slow = tracker({ minSamples: 1, minDelayMs: 5, maxDelayMs: 1000 });
    recordAll(slow, [4000, 5000]);
    expect(slow.delayMs()).toBe(1000);
    expect(tracker({ defaultDelayMs: 3000 }).delayMs()).toBe(3000);
  });

  it('defaults to a floor of 1 ms and a cap of 2000 ms', () => {
    const low = tracker({ minSamples: 1 });
    low.record(0.2);
    expect(low.delayMs()).toBe(1);
    const high = tracker({ minSamples: 1 });
    high.record(10_000);
    expect(high.delayMs()).toBe(2000);
  });

  it('keeps 1024 samples by default', () => {
    const t = tracker({ minSamples: 1, quantile: 0.5 });
    recordAll(t, Array(1024).fill(1000));
    recordAll(t, Array(1023).fill(10));
    expect(t.sampleCount).toBe(1024);
    expect(t.delayMs()).toBe(10);
    // The 1024th-newest sample is still the last slow one: max quantile shows it.
    const max = tracker({ minSamples: 1, quantile: 1 });
    recordAll(max, Array(1024).fill(1000));
    recordAll(max, Array(1023).fill(10));
    expect(max.delayMs()).toBe(1000);
    max.record(10);
    expect(max.delayMs()).toBe(10);
  });

  it('reset forgets every sample', () => {
    const t = tracker({ minSamples: 2, capacity: 3 });
    recordAll(t, [700, 800, 900]);
    t.reset();
    expect(t.sampleCount).toBe(0);
    expect(t.delayMs()).toBe(50);
    recordAll(t, [10, 20]);
    expect(t.delayMs()).toBe(20);
  });

  it('rejects options it could not honour', () => {
    expect(() => tracker({ quantile: 0 })).toThrow(RangeError);
    expect(() => tracker({ quantile: 1.5 })).toThrow(RangeError);
    expect(() => tracker({ quantile: Number.NaN })).toThrow(RangeError);
    expect(() => tracker({ capacity: 0 })).toThrow(RangeError);
    expect(() => tracker({ capacity: 2.5 })).toThrow(RangeError);
    expect(() => tracker({ minSamples: 0 })).toThrow(RangeError);
    expect(() => tracker({ minSamples: 200, capacity: 100 })).toThrow(/minSamples/);
    expect(() => tracker({ defaultDelayMs: -1 })).toThrow(/defaultDelayMs/);
    expect(() => tracker({ maxDelayMs: Number.POSITIVE_INFINITY })).toThrow(/maxDelayMs/);
    expect(() => tracker({ minDelayMs: 10, maxDelayMs: 5 })).toThrow(/minDelayMs/);
    expect(() => new LatencyTrackers({ ...BASE, quantile: 2 })).toThrow(RangeError);
  });

  describe('properties', () => {
    const samples = fc.array(
      fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.double({ min: 0, max: 3000, noNaN: true })),
      {
        maxLength: 300,
      },
    );
    const options = fc.record({
      quantile: fc.double({ min: 0.001, max: 1, noNaN: true }),
      capacity: fc.integer({ min: 1, max: 64 }),
      minSamplesFraction: fc.double({ min: 0, max: 1, noNaN: true }),
    });

    it('matches sorting the last capacity samples; the delay is a sample, the clamp or the default', () => {
      fc.assert(
        fc.property(samples, options, (recorded, { quantile, capacity, minSamplesFraction }) => {
          const minSamples = Math.max(1, Math.ceil(minSamplesFraction * capacity));
          const t = tracker({ quantile, capacity, minSamples, minDelayMs: 5, maxDelayMs: 2500 });
          recordAll(t, recorded);
          const window = recorded.slice(-capacity).sort((a, b) => a - b);
          const delay = t.delayMs();
          if (window.length < minSamples) {
            expect(delay).toBe(50);
            return;
          }
          const expected = window[nearestRank(quantile, window.length) - 1]!;
          expect(delay).toBe(Math.min(2500, Math.max(5, expected)));
          expect(window.includes(delay) || delay === 5 || delay === 2500).toBe(true);
        }),
      );
    });

    it('is monotone in the quantile', () => {
      fc.assert(
        fc.property(
          samples,
          fc.double({ min: 0.001, max: 1, noNaN: true }),
          fc.double({ min: 0.001, max: 1, noNaN: true }),
          (recorded, a, b) => {
            const [low, high] = a <= b ? [a, b] : [b, a];
            const lowTracker = tracker({ quantile: low, minSamples: 1, capacity: 64 });
            const highTracker = tracker({ quantile: high, minSamples: 1, capacity: 64 });
            recordAll(lowTracker, recorded);
            recordAll(highTracker, recorded);
            expect(lowTracker.delayMs()).toBeLessThanOrEqual(highTracker.delayMs());
          },
        ),
      );
    });
  });
});

describe('LatencyTrackers', () => {
  it('keeps one tracker per datacenter, created on first use', () => {
    const trackers = new LatencyTrackers({ ...BASE, minSamples: 10 });
    expect(trackers.datacenters()).toEqual([]);
    const local = trackers.for('dc1');
    expect(trackers.for('dc1')).toBe(local);
    recordAll(local, Array(10).fill(5));
    recordAll(trackers.for('dc2'), Array(10).fill(120));
    expect(trackers.for('dc1').delayMs()).toBe(5);
    expect(trackers.for('dc2').delayMs()).toBe(120);
    // A datacenter with no samples of its own still waits on the default.
    expect(trackers.for('dc3').delayMs()).toBe(50);
    expect(trackers.datacenters()).toEqual(['dc1', 'dc2', 'dc3']);
  });

  it('times large responses apart from small ones, per datacenter', () => {
    const trackers = new LatencyTrackers({ ...BASE, minSamples: 10 });
    recordAll(trackers.for('dc1', sizeClassOf(4096)), Array(10).fill(2));
    recordAll(trackers.for('dc1', sizeClassOf(LARGE_RESPONSE_BYTES)), Array(10).fill(40));
    expect(trackers.for('dc1').delayMs()).toBe(2);
    expect(trackers.for('dc1', 'large').delayMs()).toBe(40);
    expect([sizeClassOf(undefined), sizeClassOf(LARGE_RESPONSE_BYTES - 1)]).toEqual(['small', 'small']);
    expect(trackers.datacenters()).toEqual(['dc1']);
    expect(trackers.entries().map((e) => [e.datacenter, e.sizeClass])).toEqual([
      ['dc1', 'small'],
      ['dc1', 'large'],
    ]);
  });
});

describe('latencyTrackerOptions', () => {
  it('maps the hedge keys of the router config', () => {
    expect(latencyTrackerOptions(resolveRouterConfig())).toEqual({
      quantile: 0.9,
      minSamples: 100,
      defaultDelayMs: 50,
      capacity: 1024,
    });
  });

  it('grows the ring when hedgeMinSamples exceeds it, so the quantile is eventually trusted', () => {
    const options = latencyTrackerOptions(resolveRouterConfig({ hedgeMinSamples: 5000 }));
    const t = new LatencyTracker(options);
    recordAll(t, Array(5000).fill(7));
    expect(t.delayMs()).toBe(7);
  });
});
