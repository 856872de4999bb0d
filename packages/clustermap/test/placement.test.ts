import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildLayout,
  type GenerateOptions,
  generateLayout,
  ImpossibleShapeError,
  rackSpreadKeepsBalance,
  replicaBalance,
} from '../src/index.js';

const shapes = fc
  .record({
    dcs: fc.integer({ min: 1, max: 3 }),
    nodesPerDc: fc.integer({ min: 1, max: 13 }),
    disksPerNode: fc.integer({ min: 1, max: 4 }),
    partitions: fc.integer({ min: 0, max: 90 }),
    rackPick: fc.nat(),
    replicaPick: fc.nat(),
  })
  .map(
    (s): GenerateOptions => ({
      datacenters: Array.from({ length: s.dcs }, (_, i) => `dc${i}`),
      nodesPerDc: s.nodesPerDc,
      disksPerNode: s.disksPerNode,
      racksPerDc: 1 + (s.rackPick % s.nodesPerDc),
      replicasPerDc: 1 + (s.replicaPick % s.nodesPerDc),
      partitions: s.partitions,
      replicaCapacityBytes: 2 ** 30,
    }),
  );

describe('rack-aware placement', () => {
  it('holds its guarantees over many shapes, even and uneven', () => {
    fc.assert(
      fc.property(shapes, (options) => {
        const files = generateLayout(options);
        // The generated map must pass the same validation as a hand-written one.
        const layout = buildLayout(files.hardware, files.partitions);
        const racks = options.racksPerDc!;
        const replicas = options.replicasPerDc;
        expect(layout.partitions).toHaveLength(options.partitions);
        for (const partition of layout.partitions) {
          // Never two replicas of a partition on one node, across the whole partition.
          const nodes = partition.replicas.map((r) => r.node.key);
          expect(new Set(nodes).size).toBe(nodes.length);
          for (const dc of layout.datacenters) {
            const local = partition.replicas.filter((r) => r.node.datacenter === dc.name);
            expect(local).toHaveLength(replicas);
            const perRack = new Map<string, number>();
            for (const r of local) perRack.set(r.node.rack, (perRack.get(r.node.rack) ?? 0) + 1);
            if (racks >= replicas) {
              expect(perRack.size).toBe(replicas);
            } else if (options.nodesPerDc % racks === 0) {
              expect(perRack.size).toBe(racks);
              const counts = [...perRack.values()];
              expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
            }
          }
        }
        const balanced =
          racks < replicas || rackSpreadKeepsBalance({ nodes: options.nodesPerDc, racks, replicas });
        for (const b of replicaBalance(layout)) {
          expect(b.replicas).toBe(options.partitions * replicas);
          if (balanced) expect(b.maxPerDisk - b.minPerDisk).toBeLessThanOrEqual(1);
        }
      }),
      { numRuns: 300, seed: 4 },
    );
  });

  it('keeps rack spread over balance when racks are too uneven for both', () => {
    // 4 nodes in 3 racks (2, 1, 1) with 3 replicas: every partition must use both single-node racks.
    const files = generateLayout({ ...base, nodesPerDc: 4, racksPerDc: 3, replicasPerDc: 3, partitions: 12 });
    const layout = buildLayout(files.hardware, files.partitions);
    for (const p of layout.partitions) expect(new Set(p.replicas.map((r) => r.node.rack)).size).toBe(3);
    const [b] = replicaBalance(layout);
    expect(b!.maxPerDisk).toBe(12);
  });

  it('is deterministic', () => {
    const options = {
      ...base,
      nodesPerDc: 7,
      racksPerDc: 3,
      replicasPerDc: 3,
      partitions: 40,
      disksPerNode: 3,
    };
    expect(generateLayout(options)).toEqual(generateLayout(options));
  });

  it('gives every node of the cluster its own port on one host', () => {
    const files = generateLayout({ ...base, datacenters: ['a', 'b'], nodesPerDc: 3, basePort: 7000 });
    const ports = files.hardware.datacenters.flatMap((dc) => dc.nodes.map((n) => n.port));
    expect(ports).toEqual([7000, 7001, 7002, 7003, 7004, 7005]);
    expect(files.hardware.datacenters[1]!.nodes[0]!.adminPort).toBe(8003);
    expect(files.hardware.datacenters.flatMap((dc) => dc.nodes.map((n) => n.host))).toEqual(
      Array(6).fill('127.0.0.1'),
    );
  });

  it.each([
    [
      { replicasPerDc: 4, nodesPerDc: 3 },
      /replicas per datacenter \(4\) cannot exceed nodes per datacenter \(3\)/,
    ],
    [{ racksPerDc: 5, nodesPerDc: 3 }, /racks per datacenter \(5\) cannot exceed/],
    [{ datacenters: [] }, /at least one datacenter/],
    [{ datacenters: ['a', 'a'] }, /unique/],
    [{ disksPerNode: 0 }, /disks per node must be an integer/],
    [{ basePort: 65_535 }, /base port/],
    [{ adminPortOffset: 2 }, /collide/],
    [{ partitions: 64, replicaCapacityBytes: 2 ** 40 }, /do not fit a disk/],
  ] as const)('rejects an impossible shape %o', (change, message) => {
    expect(() => generateLayout({ ...base, ...change } as GenerateOptions)).toThrow(ImpossibleShapeError);
    expect(() => generateLayout({ ...base, ...change } as GenerateOptions)).toThrow(message);
  });
});

const base: GenerateOptions = {
  datacenters: ['dc1'],
  nodesPerDc: 3,
  disksPerNode: 1,
  racksPerDc: 3,
  partitions: 4,
  replicasPerDc: 3,
};
