import { encodeBlobProperties, encodeUserMetadata } from '@ambry/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import {
  deleteOn,
  expectSameReplica,
  type Fixture,
  makeBlob,
  putOn,
  startFixture,
  type Trio,
  ttlUpdateOn,
  undeleteOn,
} from './fixture.js';

let fixture: Fixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

describe('three replicas, one missed writes', () => {
  it('converges to exactly the same state, blob by blob', async () => {
    fixture = await startFixture({ partitions: 2 });
    const [a, b, c] = fixture.nodes as Trio;
    const partitions = fixture.partitionIds;
    const all = (p: number) => [fixture!.store(a, p), fixture!.store(b, p), fixture!.store(c, p)];
    const up = (p: number) => [fixture!.store(a, p), fixture!.store(b, p)];
    const skipped = new Set<string>();

    for (const p of partitions) {
      // Before C went down: on all three.
      const before = Array.from({ length: 6 }, () => makeBlob(p));
      for (const blob of before) await putOn(all(p), blob);
      const gone = makeBlob(p);
      await putOn(all(p), gone);
      await deleteOn(all(p), gone.id);

      // While C is down.
      const fresh = Array.from({ length: 20 }, (_, i) => makeBlob(p, { size: 50 + i * 997 }));
      for (const blob of fresh) await putOn(up(p), blob);
      await deleteOn(up(p), before[0]!.id); // missed DELETE
      await ttlUpdateOn(up(p), before[1]!.id); // missed TTL update
      await ttlUpdateOn(up(p), before[2]!.id);
      await deleteOn(up(p), before[2]!.id); // missed TTL update + DELETE
      await undeleteOn(up(p), gone.id); // missed UNDELETE
      await deleteOn(up(p), before[3]!.id);
      await undeleteOn(up(p), before[3]!.id);
      await deleteOn(up(p), before[3]!.id);
      await undeleteOn(up(p), before[3]!.id); // two lives later
      await ttlUpdateOn(up(p), fresh[0]!.id); // new and TTL-updated
      await deleteOn(up(p), fresh[1]!.id); // new and deleted: not fetched
      skipped.add(fresh[1]!.id.toString());
      await deleteOn(up(p), fresh[2]!.id);
      await undeleteOn(up(p), fresh[2]!.id); // new, deleted, undeleted: fetched at life version 1
      await deleteOn(up(p), fresh[3]!.id);
      await undeleteOn(up(p), fresh[3]!.id);
      await ttlUpdateOn(up(p), fresh[3]!.id);
      await deleteOn(up(p), fresh[3]!.id); // new, deleted at life 1 after a TTL update: not fetched
      skipped.add(fresh[3]!.id.toString());
      const expired = makeBlob(p, { creationTimeMs: 1_000_000, ttlSeconds: 1 });
      await putOn(up(p), expired); // new and already expired: not fetched
      skipped.add(expired.id.toString());
    }

    const engines = await Promise.all([a, b, c].map((node) => fixture!.engine(node)));
    for (const engine of engines) expect(await engine.catchUp({ maxRounds: 50 })).toBe(true);

    for (const p of partitions) {
      await expectSameReplica(fixture.store(a, p), fixture.store(c, p), skipped);
      await expectSameReplica(fixture.store(b, p), fixture.store(c, p), skipped);
      await expectSameReplica(fixture.store(a, p), fixture.store(b, p));
    }
    const counters = engines[2]!.metrics().intraDc;
    expect(counters.skippedDeleted).toBe(2 * partitions.length * 2); // 2 blobs, from both peers
    expect(counters.skippedExpired).toBe(partitions.length * 2);
    expect(counters.blobErrors).toBe(0);
    expect(counters.putsWritten).toBe(18 * partitions.length); // 20 new, 2 deleted there
    // A and B held the same data: they wrote nothing into each other.
    expect(engines[0]!.metrics().intraDc.putsWritten).toBe(0);
    expect(engines[0]!.lag().every((l) => l.lagBytes === 0 && l.problem === undefined)).toBe(true);
  });

  it('an empty replica bootstraps in full', async () => {
    fixture = await startFixture({ partitions: 2 });
    const [a, b, c] = fixture.nodes as Trio;
    for (const p of fixture.partitionIds) {
      const all = [fixture.store(a, p), fixture.store(b, p), fixture.store(c, p)];
      for (let i = 0; i < 40; i++) await putOn(all, makeBlob(p));
      const updated = makeBlob(p);
      await putOn(all, updated);
      await ttlUpdateOn(all, updated.id);
      const undeleted = makeBlob(p);
      await putOn(all, undeleted);
      await deleteOn(all, undeleted.id);
      await undeleteOn(all, undeleted.id);
    }
    for (const p of fixture.partitionIds) await fixture.recreateStore(c, p); // disk replaced
    const engine = await fixture.engine(c, { config: { intraDc: { batchBytes: 16 * 1024 } } });
    expect(await engine.catchUp({ maxRounds: 200 })).toBe(true);
    for (const p of fixture.partitionIds) {
      await expectSameReplica(fixture.store(a, p), fixture.store(c, p));
      expect(fixture.store(c, p).stats().blobCount).toBe(42);
    }
    // Small batches: many rounds, each within its byte budget.
    expect(engine.metrics().intraDc.rounds).toBeGreaterThan(4);
  });

  it('copies properties and user metadata byte for byte, unknown extensions included', async () => {
    fixture = await startFixture({ partitions: 1 });
    const [a, , c] = fixture.nodes as Trio;
    const p = fixture.partitionIds[0]!;
    const blob = makeBlob(p);
    const plain = encodeBlobProperties(blob.properties);
    // One extension of a tag this version does not know (formats.md 2): readers skip it, copies keep it.
    const extended = Buffer.concat([
      plain.subarray(0, plain.byteLength - 2),
      Buffer.from([0, 1, 0x7f, 0x01, 0, 0, 0, 4, 1, 2, 3, 4]),
    ]);
    await fixture.store(a, p).put({
      id: blob.id,
      properties: extended,
      userMetadata: encodeUserMetadata(blob.userMetadata),
      blob: blob.blob,
    });
    const engine = await fixture.engine(c);
    expect(await engine.catchUp()).toBe(true);
    const copy = await fixture.store(c, p).getInfo(blob.id);
    expect(copy.propertiesBytes).toEqual(extended);
    expect(copy.userMetadataBytes).toEqual((await fixture.store(a, p).getInfo(blob.id)).userMetadataBytes);
  });
});
