import type { Replica } from '@ambry/clustermap';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { orderReplicas } from '../src/replica-order.js';
import { replicasIn } from './replicas.js';

const names = (replicas: readonly Replica[]) => replicas.map((r) => r.node.host);

describe('orderReplicas', () => {
  const all = [...replicasIn(3, 2), ...replicasIn(2, 3), ...replicasIn(1, 3)];
  const dcOf = (r: Replica) => r.node.datacenterId;

  it('is a permutation with usable local first, then originating, then others, then unusable', () => {
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { minLength: all.length, maxLength: all.length }),
        fc.infiniteStream(fc.double({ min: 0, max: 1, noNaN: true })),
        (usableFlags, randoms) => {
          const usable = new Set(all.filter((_, i) => usableFlags[i]));
          const ordered = orderReplicas(all, {
            localDatacenter: 'dc1',
            originatingDatacenterId: 2,
            crossDatacenter: true,
            random: () => randoms.next().value,
            usable: (r) => usable.has(r),
          });
          expect(new Set(ordered)).toEqual(new Set(all));
          expect(ordered).toHaveLength(all.length);
          const rank = (r: Replica) =>
            (usable.has(r) ? 0 : 3) + ({ 1: 0, 2: 1, 3: 2 } as const)[dcOf(r) as 1];
          const ranks = ordered.map(rank);
          expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
        },
      ),
    );
  });

  it('is deterministic given random, and shuffles', () => {
    const order = (seed: number) => {
      let s = seed;
      const random = () => ((s = (s * 16807) % 2147483647) - 1) / 2147483646;
      return names(
        orderReplicas(all, { localDatacenter: 'dc1', crossDatacenter: true, random, usable: () => true }),
      );
    };
    expect(order(42)).toEqual(order(42));
    const seen = new Set(
      Array.from({ length: 50 }, (_, i) =>
        order(i + 1)
          .slice(0, 3)
          .join(),
      ),
    );
    expect(seen.size).toBeGreaterThan(1);
  });

  it('keeps the originating datacenter without crossDatacenter and drops the rest', () => {
    const ordered = orderReplicas(all, {
      localDatacenter: 'dc1',
      originatingDatacenterId: 2,
      crossDatacenter: false,
      random: () => 0,
      usable: (r) => r.node.host !== 'dc1-n1',
    });
    expect(ordered.map(dcOf)).toEqual([1, 1, 2, 2, 2, 1]);
    expect(ordered.at(-1)?.node.host).toBe('dc1-n1');
    const local = orderReplicas(all, {
      localDatacenter: 'dc1',
      crossDatacenter: false,
      random: () => 0.999999,
      usable: () => true,
    });
    expect(local.map(dcOf)).toEqual([1, 1, 1]);
  });
});
