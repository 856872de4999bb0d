import { afterEach, describe, expect, it } from 'vitest';
import {
  contentOf,
  eventually,
  type Fixture,
  makeBlob,
  type Pair,
  putOn,
  startFixture,
  type Trio,
} from './fixture.js';

let fixture: Fixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

describe('two datacenters', () => {
  it('pulls from both, each class with its own batch size and concurrency', async () => {
    fixture = await startFixture({ datacenters: ['dc1', 'dc2'], partitions: 3, replicasPerDc: 3 });
    const dc1 = fixture.nodesIn('dc1');
    const [target, sibling] = fixture.nodesIn('dc2') as Pair;
    const blobs = fixture.partitionIds.flatMap((p) => Array.from({ length: 8 }, () => makeBlob(p)));
    // Put in dc1 only (all three replicas), plus a few that reached one dc2 sibling too.
    for (const blob of blobs)
      await putOn(
        dc1.map((n) => fixture!.store(n, blob.id.partitionId)),
        blob,
      );
    for (const blob of blobs.slice(0, 3)) await putOn([fixture.store(sibling, blob.id.partitionId)], blob);

    // Concurrency per class, observed from the serving side.
    let inFlight = { intra: 0, inter: 0 };
    let peak = { intra: 0, inter: 0 };
    fixture.intercept(async (node, type) => {
      if (type !== 'replicaMetadata') return;
      const kind = node.datacenter === 'dc2' ? 'intra' : 'inter';
      inFlight = { ...inFlight, [kind]: inFlight[kind] + 1 };
      peak = { intra: Math.max(peak.intra, inFlight.intra), inter: Math.max(peak.inter, inFlight.inter) };
      await new Promise((resolve) => setImmediate(resolve)); // let other rounds arrive meanwhile
      inFlight = { ...inFlight, [kind]: inFlight[kind] - 1 };
    });

    const engine = await fixture.engine(target, {
      config: {
        intraDc: { batchPartitions: 2, concurrency: 2 },
        interDc: { batchPartitions: 1, concurrency: 1 },
      },
    });
    expect(
      engine
        .peers()
        .map((p) => p.peerClass)
        .sort(),
    ).toEqual(['interDc', 'interDc', 'interDc', 'intraDc', 'intraDc']);
    expect(await engine.catchUp({ maxRounds: 100 })).toBe(true);
    for (const blob of blobs) {
      expect(await contentOf(fixture.store(target, blob.id.partitionId), blob.id)).toBe(
        await contentOf(fixture.store(dc1[0]!, blob.id.partitionId), blob.id),
      );
    }

    const metrics = engine.metrics();
    expect(metrics.interDc.rounds).toBeGreaterThan(0);
    expect(metrics.intraDc.rounds).toBeGreaterThan(0);
    expect(metrics.interDc.putsWritten + metrics.intraDc.putsWritten).toBe(blobs.length);
    const requests = fixture
      .served()
      .filter((r) => r.type === 'replicaMetadata' && r.requester === target.key);
    const fromDc = (dc: string) =>
      requests.filter((r) => fixture!.nodes.find((n) => n.key === r.node)!.datacenter === dc);
    expect(Math.max(...fromDc('dc1').map((r) => r.partitions))).toBe(1);
    expect(Math.max(...fromDc('dc2').map((r) => r.partitions))).toBe(2);
    expect(peak.inter).toBe(1);
    expect(peak.intra).toBeLessThanOrEqual(2);
    const lag = engine.lag();
    expect(lag.length).toBe(3 * 5);
    expect(lag.every((l) => l.lagBytes === 0 && l.caughtUp)).toBe(true);
  });
});

describe('failures', () => {
  it('a dead peer backs off while the other peers go on', async () => {
    fixture = await startFixture({ partitions: 2 });
    const [a, b, c] = fixture.nodes as Trio;
    const heal = fixture.disconnect(a);
    const blobs = fixture.partitionIds.flatMap((p) => Array.from({ length: 5 }, () => makeBlob(p)));
    for (const blob of blobs) {
      await putOn([fixture.store(a, blob.id.partitionId), fixture.store(b, blob.id.partitionId)], blob);
    }
    const engine = await fixture.engine(c, {
      config: { idleBackoffMinMs: 1, idleBackoffMaxMs: 5, errorBackoffMinMs: 1, errorBackoffMaxMs: 20 },
    });
    engine.start();
    await eventually(async () => {
      for (const blob of blobs) {
        if ((await contentOf(fixture!.store(c, blob.id.partitionId), blob.id)).startsWith('error'))
          return false;
      }
      return true;
    });
    await eventually(() => engine.metrics().intraDc.roundErrors >= 3); // A keeps failing, bounded waits
    const lag = engine.lag();
    expect(lag.filter((l) => l.peer === a.key).every((l) => l.problem?.includes('unreachable'))).toBe(true);
    expect(lag.filter((l) => l.peer === b.key).every((l) => l.caughtUp && l.problem === undefined)).toBe(
      true,
    );
    expect(engine.caughtUp()).toBe(false);

    heal();
    await eventually(() => engine.caughtUp());
    expect(engine.problems()).toEqual([]);
    await engine.stop();
  });

  it('a failed or read-only local store is skipped and reported; the other partitions go on', async () => {
    fixture = await startFixture({ partitions: 2 });
    const [a, b, c] = fixture.nodes as Trio;
    const [broken, healthy] = fixture.partitionIds as [number, number];
    const blobs = [broken, healthy].flatMap((p) => [makeBlob(p), makeBlob(p)]);
    for (const blob of blobs) {
      await putOn([fixture.store(a, blob.id.partitionId), fixture.store(b, blob.id.partitionId)], blob);
    }
    await fixture.closeStore(c, broken);
    const engine = await fixture.engine(c);
    expect(await engine.catchUp({ maxRounds: 5 })).toBe(false);
    for (const blob of blobs.filter((x) => x.id.partitionId === healthy)) {
      expect(await contentOf(fixture.store(c, healthy), blob.id)).not.toMatch(/^error/);
    }
    const problems = engine.problems();
    expect(problems.map((p) => p.partitionId)).toEqual([broken, broken]);
    expect(problems[0]!.problem).toMatch(/unavailable/);
    expect(engine.metrics().intraDc.localStoreSkips).toBeGreaterThan(0);
  });
});
