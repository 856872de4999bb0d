import { describe, expect, it } from 'vitest';
import {
  FailureDetector,
  type FailureDetectorOptions,
  type ResourceChange,
} from '../src/failure-detector.js';

const A = 'a:1';
const B = 'b:1';

function detector(overrides: Partial<FailureDetectorOptions> = {}) {
  const time = { now: 1_000 };
  const changes: ResourceChange[] = [];
  const fd = new FailureDetector({
    nodeFailureThreshold: 3,
    nodeBackoffMs: 100,
    diskFailureThreshold: 1,
    diskBackoffMs: 500,
    clock: () => time.now,
    ...overrides,
  });
  fd.onChange((change) => changes.push(change));
  return { fd, time, changes };
}

describe('FailureDetector', () => {
  it('takes a node down only after threshold consecutive failures', () => {
    const { fd, changes } = detector();
    fd.recordFailure('node', A);
    fd.recordFailure('node', A);
    expect(fd.state(A)).toBe('up');
    expect(changes).toEqual([]);
    fd.recordFailure('node', A);
    expect(fd.state(A)).toBe('down');
    expect(fd.state(B)).toBe('up');
    expect(changes).toEqual([{ kind: 'node', node: A, from: 'up', to: 'down' }]);
  });

  it('a response in between resets the count (failures must be consecutive)', () => {
    const { fd } = detector();
    fd.recordFailure('node', A);
    fd.recordFailure('node', A);
    fd.recordSuccess(A);
    fd.recordFailure('node', A);
    fd.recordFailure('node', A);
    expect(fd.state(A)).toBe('up');
    fd.recordFailure('node', A);
    expect(fd.state(A)).toBe('down');
  });

  it('does not forgive failures with time', () => {
    const { fd, time } = detector();
    fd.recordFailure('node', A);
    fd.recordFailure('node', A);
    time.now += 1_000_000;
    fd.recordFailure('node', A);
    expect(fd.state(A)).toBe('down');
  });

  it('stays down for the backoff, then probes; late failures while down do not extend it', () => {
    const { fd, time, changes } = detector();
    for (let i = 0; i < 3; i++) fd.recordFailure('node', A);
    time.now += 99;
    fd.recordFailure('node', A);
    expect(fd.state(A)).toBe('down');
    expect(fd.tryAcquireProbe(A)).toBe(false);
    time.now += 1;
    expect(fd.state(A)).toBe('probing');
    expect(changes.map((c) => c.to)).toEqual(['down', 'probing']);
  });

  it('grants exactly one probe; its success revives the node', () => {
    const { fd, time, changes } = detector();
    for (let i = 0; i < 3; i++) fd.recordFailure('node', A);
    time.now += 100;
    expect(fd.isUsable(A, '/d0')).toBe(false);
    expect(fd.tryAcquireProbe(A, '/d0')).toBe(true);
    expect(fd.tryAcquireProbe(A, '/d0')).toBe(false);
    expect(fd.tryAcquireProbe(A)).toBe(false);
    expect(fd.isUsable(A, '/d0')).toBe(false);
    fd.recordSuccess(A, '/d0');
    expect(fd.state(A)).toBe('up');
    expect(fd.isUsable(A, '/d0')).toBe(true);
    // Up needs no probe.
    expect(fd.tryAcquireProbe(A)).toBe(false);
    expect(changes.map((c) => c.to)).toEqual(['down', 'probing', 'up']);
    // Revived with a clean count.
    fd.recordFailure('node', A);
    fd.recordFailure('node', A);
    expect(fd.state(A)).toBe('up');
  });

  it('a failed probe sends it down for another full backoff', () => {
    const { fd, time } = detector();
    for (let i = 0; i < 3; i++) fd.recordFailure('node', A);
    time.now += 100;
    expect(fd.tryAcquireProbe(A)).toBe(true);
    time.now += 7;
    fd.recordFailure('node', A);
    expect(fd.state(A)).toBe('down');
    time.now += 99;
    expect(fd.state(A)).toBe('down');
    time.now += 1;
    expect(fd.state(A)).toBe('probing');
    expect(fd.tryAcquireProbe(A)).toBe(true);
  });

  it('releases a probe whose outcome never comes after the lease', () => {
    const { fd, time } = detector({ probeLeaseMs: 50 });
    for (let i = 0; i < 3; i++) fd.recordFailure('node', A);
    time.now += 100;
    expect(fd.tryAcquireProbe(A)).toBe(true);
    time.now += 49;
    expect(fd.tryAcquireProbe(A)).toBe(false);
    time.now += 1;
    expect(fd.tryAcquireProbe(A)).toBe(true);
  });

  it('any response revives a down node at once, before the backoff ends', () => {
    const { fd } = detector();
    for (let i = 0; i < 3; i++) fd.recordFailure('node', A);
    fd.recordSuccess(A);
    expect(fd.state(A)).toBe('up');
  });

  it('a disk is down if its node is down, and on its own after its threshold', () => {
    const { fd, time, changes } = detector();
    for (let i = 0; i < 3; i++) fd.recordFailure('node', A);
    expect(fd.state(A, '/d0')).toBe('down');
    expect(fd.isUsable(A, '/d0')).toBe(false);
    expect(fd.tryAcquireProbe(A, '/d0')).toBe(false);
    fd.recordSuccess(A);
    expect(fd.isUsable(A, '/d0')).toBe(true);

    // The node answered with a disk error: the node is fine, the disk is not.
    fd.recordSuccess(A);
    fd.recordFailure('disk', A, '/d0');
    expect(fd.state(A)).toBe('up');
    expect(fd.state(A, '/d0')).toBe('down');
    expect(fd.state(A, '/d1')).toBe('up');
    expect(changes.at(-1)).toEqual({ kind: 'disk', node: A, disk: '/d0', from: 'up', to: 'down' });
    time.now += 499;
    expect(fd.state(A, '/d0')).toBe('down');
    time.now += 1;
    expect(fd.state(A, '/d0')).toBe('probing');
    expect(fd.tryAcquireProbe(A, '/d0')).toBe(true);
    fd.recordSuccess(A, '/d0');
    expect(fd.isUsable(A, '/d0')).toBe(true);
  });

  it('a probing node with a down disk is down on that path', () => {
    const { fd, time } = detector({ diskBackoffMs: 1_000 });
    fd.recordFailure('disk', A, '/d0');
    for (let i = 0; i < 3; i++) fd.recordFailure('node', A);
    time.now += 100;
    expect(fd.state(A)).toBe('probing');
    expect(fd.state(A, '/d0')).toBe('down');
    expect(fd.tryAcquireProbe(A, '/d0')).toBe(false);
    // The probe goes through a healthy disk instead.
    expect(fd.tryAcquireProbe(A, '/d1')).toBe(true);
  });

  it('snapshot counts resources by state and lists the ones not up', () => {
    const { fd, time } = detector();
    fd.recordSuccess(B, '/d0');
    fd.recordFailure('node', B);
    for (let i = 0; i < 3; i++) fd.recordFailure('node', A);
    fd.recordFailure('disk', B, '/d1');
    time.now += 100;
    const snap = fd.snapshot();
    expect(snap.nodes).toEqual({ up: 1, down: 0, probing: 1 });
    expect(snap.disks).toEqual({ up: 0, down: 1, probing: 0 });
    expect(snap.notUp).toEqual(
      expect.arrayContaining([
        { kind: 'node', node: A, state: 'probing', consecutiveFailures: 3, downUntil: 1_100 },
        { kind: 'disk', node: B, disk: '/d1', state: 'down', consecutiveFailures: 1, downUntil: 1_500 },
      ]),
    );
    expect(snap.notUp).toHaveLength(2);
  });

  it('isolates a throwing listener and stops calling an unsubscribed one', () => {
    const errors: unknown[] = [];
    const { fd, changes } = detector({ onListenerError: (e) => errors.push(e) });
    const seen: ResourceChange[] = [];
    fd.onChange(() => {
      throw new Error('boom');
    });
    const off = fd.onChange((c) => seen.push(c));
    fd.recordFailure('disk', A, '/d0');
    off();
    fd.recordSuccess(A, '/d0');
    expect(errors).toHaveLength(2);
    expect(seen).toHaveLength(1);
    expect(changes).toHaveLength(2);
  });

  it('rejects bad options and a disk failure without a disk', () => {
    expect(() => detector({ nodeFailureThreshold: 0 })).toThrow(RangeError);
    expect(() => detector({ diskBackoffMs: -1 })).toThrow(RangeError);
    expect(() => detector().fd.recordFailure('disk', A)).toThrow(TypeError);
  });
});
