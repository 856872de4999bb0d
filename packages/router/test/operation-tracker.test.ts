import type { Replica } from '@ambry/clustermap';
import { describe, expect, it } from 'vitest';
import {
  OperationTracker,
  type OperationTrackerOptions,
  type ReplicaOutcome,
} from '../src/operation-tracker.js';
import { replicasIn } from './replicas.js';

const names = (replicas: readonly Replica[]) => replicas.map((r) => r.node.host);

/**
 * Drives a tracker to completion: answers every request with `answer(replica)`, in send order,
 * refilling after each answer. Returns every replica asked, in order.
 */
function drive(tracker: OperationTracker, answer: (r: Replica) => ReplicaOutcome): Replica[] {
  const asked: Replica[] = [];
  const queue: Replica[] = [];
  for (let step = 0; step < 1_000 && !tracker.isDone; step++) {
    const next = tracker.nextReplicas();
    asked.push(...next);
    queue.push(...next);
    const replica = queue.shift();
    if (replica === undefined) break;
    tracker.onResponse(replica, answer(replica));
  }
  return asked;
}

const failing =
  (...hosts: string[]) =>
  (r: Replica) =>
    hosts.includes(r.node.host) ? 'failure' : 'success';

describe('OperationTracker: put (3 local replicas, success after 2)', () => {
  const options = (): OperationTrackerOptions => ({
    replicas: replicasIn(1, 3),
    parallelism: 3,
    successTarget: 2,
  });

  it('sends to all three at once and succeeds with one failure', () => {
    const tracker = new OperationTracker(options());
    expect(names(tracker.nextReplicas())).toEqual(['dc1-n0', 'dc1-n1', 'dc1-n2']);
    expect(tracker.nextReplicas()).toEqual([]);
    const [a, b, c] = replicasIn(1, 3);
    tracker.onResponse(a!, 'failure');
    expect(tracker.isDone).toBe(false);
    tracker.onResponse(b!, 'success');
    expect(tracker.isDone).toBe(false);
    tracker.onResponse(c!, 'success');
    expect(tracker.succeeded).toBe(true);
    expect(tracker.result).toEqual({
      status: 'success',
      successes: 2,
      notFound: 0,
      failures: 1,
      inFlight: 0,
      pending: 0,
    });
  });

  it('fails as soon as two replicas fail, leaving the third to cancel', () => {
    const tracker = new OperationTracker(options());
    const [a, b, c] = tracker.nextReplicas();
    tracker.onResponse(a!, 'success');
    tracker.onResponse(b!, 'failure');
    expect(tracker.isDone).toBe(false);
    tracker.onResponse(c!, 'failure');
    expect(tracker.result?.status).toBe('failure');

    const early = new OperationTracker(options());
    const [x, y, z] = early.nextReplicas();
    early.onResponse(x!, 'failure');
    early.onResponse(y!, 'failure');
    expect(early.result?.status).toBe('failure');
    expect(early.outstanding()).toEqual([z]);
    // A late answer is counted but cannot change the outcome.
    early.onResponse(z!, 'success');
    expect(early.result?.status).toBe('failure');
    expect(early.counts.successes).toBe(1);
  });

  it('caps the target by the number of replicas', () => {
    const tracker = new OperationTracker({ replicas: replicasIn(1, 1), parallelism: 3, successTarget: 2 });
    drive(tracker, () => 'success');
    expect(tracker.succeeded).toBe(true);
    const none = new OperationTracker({ replicas: [], parallelism: 3, successTarget: 2 });
    expect(none.result?.status).toBe('failure');
  });
});

describe('OperationTracker: get (parallelism 2, success after 1)', () => {
  const local = replicasIn(1, 3);
  const origin = replicasIn(2, 3);
  const other = replicasIn(3, 3);
  const replicas = [...local, ...origin, ...other];

  it('asks two at a time and stops at the first success', () => {
    const tracker = new OperationTracker({ replicas, parallelism: 2, successTarget: 1 });
    const asked = drive(tracker, failing('dc1-n0'));
    expect(tracker.succeeded).toBe(true);
    expect(names(asked)).toEqual(['dc1-n0', 'dc1-n1', 'dc1-n2']);
    expect(tracker.result?.pending).toBe(6);
  });

  it('falls through local, then originating, then other datacenters', () => {
    const tracker = new OperationTracker({ replicas, parallelism: 2, successTarget: 1 });
    const down = [...local, ...origin].map((r) => r.node.host);
    const asked = drive(tracker, failing(...down));
    expect(tracker.succeeded).toBe(true);
    expect(names(asked).slice(0, 6)).toEqual(down);
    expect(asked[6]?.node.datacenter).toBe('dc3');
  });

  it('fails with unavailability, not absence, when errors and not-founds mix', () => {
    const tracker = new OperationTracker({ replicas: local, parallelism: 2, successTarget: 1 });
    drive(tracker, (r) => (r.node.host === 'dc1-n0' ? 'failure' : 'not-found'));
    expect(tracker.result?.status).toBe('failure');
    const all = new OperationTracker({ replicas: local, parallelism: 2, successTarget: 1 });
    drive(all, () => 'not-found');
    expect(all.result?.status).toBe('not-found');
  });

  describe('notFoundNeedsAllOriginating', () => {
    const options = (): OperationTrackerOptions => ({
      replicas,
      parallelism: 2,
      successTarget: 1,
      notFoundNeedsAllOriginating: true,
      originatingDatacenterId: 2,
    });

    it('keeps going past local not-founds, and is NOT_FOUND once every originating replica says so', () => {
      const tracker = new OperationTracker(options());
      const asked = drive(tracker, () => 'not-found');
      expect(tracker.result?.status).toBe('not-found');
      // The originating datacenter is authoritative: the last one is not waited for (its first
      // request went out while dc2-n2 was outstanding; the caller cancels it) nor fully tried.
      expect(names(asked).filter((h) => h.startsWith('dc3'))).toEqual(['dc3-n0']);
      expect(tracker.result).toMatchObject({ notFound: 6, inFlight: 1, pending: 2 });
      expect(names(tracker.outstanding())).toEqual(['dc3-n0']);
    });

    it('finds a blob the originating datacenter has but the local one lacks', () => {
      const tracker = new OperationTracker(options());
      drive(tracker, (r) => (r.node.host === 'dc2-n2' ? 'success' : 'not-found'));
      expect(tracker.succeeded).toBe(true);
    });

    it('is a failure when an originating replica could not answer', () => {
      const tracker = new OperationTracker(options());
      drive(tracker, (r) => (r.node.host === 'dc2-n1' ? 'failure' : 'not-found'));
      expect(tracker.result?.status).toBe('failure');
      expect(tracker.result?.pending).toBe(0);
    });

    it('without the rule, local not-founds alone end the operation', () => {
      const tracker = new OperationTracker({
        ...options(),
        replicas: local,
        notFoundNeedsAllOriginating: false,
      });
      drive(tracker, () => 'not-found');
      expect(tracker.result?.status).toBe('not-found');
    });
  });
});

describe('OperationTracker: delete across datacenters (success after 2 of N)', () => {
  const replicas = [...replicasIn(1, 3), ...replicasIn(2, 3)];

  it('succeeds with two successes in any datacenters', () => {
    const tracker = new OperationTracker({ replicas, parallelism: 3, successTarget: 2 });
    drive(tracker, failing('dc1-n0', 'dc1-n1', 'dc1-n2', 'dc2-n0'));
    expect(tracker.succeeded).toBe(true);
    expect(tracker.result?.failures).toBe(4);
  });

  it('fails once five of six have failed', () => {
    const tracker = new OperationTracker({ replicas, parallelism: 3, successTarget: 2 });
    drive(tracker, failing('dc1-n0', 'dc1-n1', 'dc1-n2', 'dc2-n0', 'dc2-n1'));
    expect(tracker.result?.status).toBe('failure');
  });
});

describe('OperationTracker: undelete (majority in every datacenter)', () => {
  const replicas = [...replicasIn(1, 3), ...replicasIn(2, 3), ...replicasIn(3, 2)];
  const options = { replicas, parallelism: replicas.length, mode: 'quorum-per-datacenter' } as const;

  it('succeeds with 2 of 3, 2 of 3 and 2 of 2', () => {
    const tracker = new OperationTracker(options);
    drive(tracker, failing('dc1-n0', 'dc2-n2'));
    expect(tracker.succeeded).toBe(true);
  });

  it('fails when one datacenter is short, however many succeed elsewhere', () => {
    const tracker = new OperationTracker(options);
    drive(tracker, failing('dc3-n1'));
    expect(tracker.result?.status).toBe('failure');
    expect(tracker.result?.successes).toBeLessThanOrEqual(7);
  });

  it('does not succeed until the last datacenter has its majority', () => {
    const tracker = new OperationTracker(options);
    const sent = tracker.nextReplicas();
    expect(sent).toHaveLength(8);
    for (const r of sent.filter((r) => r.node.datacenterId !== 3)) tracker.onResponse(r, 'success');
    const [x, y] = sent.filter((r) => r.node.datacenterId === 3);
    tracker.onResponse(x!, 'success');
    expect(tracker.isDone).toBe(false);
    tracker.onResponse(y!, 'success');
    expect(tracker.succeeded).toBe(true);
  });
});

describe('OperationTracker: hedging', () => {
  const replicas = replicasIn(1, 4);

  it('adds one replica beyond parallelism, up to maxInFlight', () => {
    const tracker = new OperationTracker({ replicas, parallelism: 1, successTarget: 1, maxInFlight: 2 });
    const [slow] = tracker.nextReplicas();
    expect(slow?.node.host).toBe('dc1-n0');
    const hedge = tracker.hedge();
    expect(hedge?.node.host).toBe('dc1-n1');
    expect(tracker.hedge()).toBeUndefined();
    expect(tracker.nextReplicas()).toEqual([]);
    tracker.onResponse(hedge!, 'success');
    expect(tracker.succeeded).toBe(true);
    expect(tracker.outstanding()).toEqual([slow]);
    expect(tracker.hedge()).toBeUndefined();
  });

  it('never hedges past the last replica, and not when maxInFlight equals parallelism', () => {
    const tracker = new OperationTracker({ replicas: replicasIn(1, 2), parallelism: 2, successTarget: 1 });
    expect(tracker.nextReplicas()).toHaveLength(2);
    expect(tracker.hedge()).toBeUndefined();
    const capped = new OperationTracker({ replicas, parallelism: 2, successTarget: 1, maxInFlight: 2 });
    capped.nextReplicas();
    expect(capped.hedge()).toBeUndefined();
  });

  it('rejects answers from replicas never asked or asked already', () => {
    const tracker = new OperationTracker({ replicas, parallelism: 1, successTarget: 2 });
    const [first] = tracker.nextReplicas();
    expect(() => tracker.onResponse(replicas[1]!, 'success')).toThrow(/no request is outstanding/);
    tracker.onResponse(first!, 'success');
    expect(() => tracker.onResponse(first!, 'success')).toThrow(/no request is outstanding/);
    expect(
      () => new OperationTracker({ replicas: [first!, first!], parallelism: 1, successTarget: 1 }),
    ).toThrow(/twice/);
    expect(
      () => new OperationTracker({ replicas, parallelism: 2, successTarget: 1, maxInFlight: 1 }),
    ).toThrow(RangeError);
  });
});
