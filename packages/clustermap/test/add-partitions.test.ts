import { describe, expect, it } from 'vitest';
import {
  addPartitionsToFiles,
  buildLayout,
  generateLayout,
  ImpossibleShapeError,
  rackSpreadKeepsBalance,
  replicaBalance,
} from '../src/index.js';

describe('addPartitionsToFiles', () => {
  const shapes = [
    {
      datacenters: ['dc1', 'dc2'],
      nodesPerDc: 3,
      disksPerNode: 2,
      racksPerDc: 3,
      partitions: 8,
      replicasPerDc: 3,
    },
    { datacenters: ['a'], nodesPerDc: 7, disksPerNode: 3, racksPerDc: 4, partitions: 13, replicasPerDc: 3 },
    {
      datacenters: ['a', 'b', 'c'],
      nodesPerDc: 5,
      disksPerNode: 1,
      racksPerDc: 2,
      partitions: 0,
      replicasPerDc: 2,
    },
    { datacenters: ['a'], nodesPerDc: 4, disksPerNode: 2, racksPerDc: 4, partitions: 9, replicasPerDc: 4 },
  ];
  for (const shape of shapes) {
    for (const count of [1, 5, 17]) {
      it(`adds ${count} to ${JSON.stringify(shape)}: valid, distinct nodes, rack spread, balanced`, () => {
        const files = generateLayout(shape);
        const partitions = addPartitionsToFiles(files.hardware, files.partitions, {
          count,
          replicasPerDc: shape.replicasPerDc,
        });
        expect(partitions.version).toBe(2);
        expect(partitions.partitions).toHaveLength(shape.partitions + count);
        const layout = buildLayout(files.hardware, partitions);
        for (const p of layout.partitions.slice(shape.partitions)) {
          expect(p.id).toBe(layout.partitions.indexOf(p));
          for (const dc of layout.datacenters) {
            const local = p.replicas.filter((r) => r.node.datacenter === dc.name);
            expect(local).toHaveLength(shape.replicasPerDc);
            expect(new Set(local.map((r) => r.node.key)).size).toBe(shape.replicasPerDc);
            expect(new Set(local.map((r) => r.node.rack)).size).toBe(
              Math.min(shape.racksPerDc, shape.replicasPerDc),
            );
          }
        }
        // Like the generator: balance within one replica per disk unless the racks are too uneven
        // for it, and then rack spread wins.
        const shapeOfDc = { nodes: shape.nodesPerDc, racks: shape.racksPerDc, replicas: shape.replicasPerDc };
        if (rackSpreadKeepsBalance(shapeOfDc) || shape.racksPerDc < shape.replicasPerDc) {
          for (const b of replicaBalance(layout)) expect(b.maxPerDisk - b.minPerDisk).toBeLessThanOrEqual(1);
        }
      });
    }
  }

  it('defaults to the existing replica count and capacity, and refuses what cannot fit', () => {
    const files = generateLayout({
      datacenters: ['dc1'],
      nodesPerDc: 4,
      disksPerNode: 1,
      partitions: 2,
      replicasPerDc: 2,
    });
    const added = addPartitionsToFiles(files.hardware, files.partitions, { count: 1 });
    expect(added.partitions[2]!.replicas).toHaveLength(2);
    expect(added.partitions[2]!.replicaCapacityBytes).toBe(
      files.partitions.partitions[0]!.replicaCapacityBytes,
    );
    expect(() =>
      addPartitionsToFiles(files.hardware, files.partitions, { count: 1, replicasPerDc: 5 }),
    ).toThrow(ImpossibleShapeError);
    expect(() => addPartitionsToFiles(files.hardware, files.partitions, { count: 0 })).toThrow(
      /count must be >= 1/,
    );
    expect(() =>
      addPartitionsToFiles(files.hardware, files.partitions, { count: 1, replicaCapacityBytes: 2 ** 41 }),
    ).toThrow(/no disk left/);
  });
});
