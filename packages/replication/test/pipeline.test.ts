import { Buffer } from 'node:buffer';
import { afterEach, describe, expect, it } from 'vitest';
import { readTokenFile } from '../src/index.js';
import {
  contentOf,
  type Fixture,
  makeBlob,
  type Pair,
  putOn,
  startFixture,
  type TestBlob,
} from './fixture.js';

let fixture: Fixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

/** Two nodes sharing one partition; `count` equal-size blobs on the source only. */
async function sourceWithBlobs(count: number) {
  fixture = await startFixture({ nodesPerDc: 2, replicasPerDc: 2, partitions: 1 });
  const [source, target] = fixture.nodes as Pair;
  const p = fixture.partitionIds[0]!;
  const blobs: TestBlob[] = Array.from({ length: count }, () => makeBlob(p, { size: 1000 }));
  for (const blob of blobs) await putOn([fixture.store(source, p)], blob);
  // One PUT record's size: a byte budget of 3 of them makes every answer carry 3 entries.
  const first = await fixture.store(source, p).findEntriesSince(new Uint8Array(0), 1);
  return { fixture, source, target, p, blobs, recordBytes: first.entries[0]!.size };
}

function metadataRequests(fixture: Fixture, requester: string) {
  return fixture.served().filter((r) => r.type === 'replicaMetadata' && r.requester === requester);
}

describe('pipelined rounds', () => {
  it('asks for the next batch while applying the previous one; the token moves answer by answer', async () => {
    const { fixture, source, target, p, blobs, recordBytes } = await sourceWithBlobs(12);
    // The GETs of the first answer wait for the second REPLICA_METADATA: only a round that sends it
    // before applying the first answer gets past them (otherwise they time out and the round fails).
    let requests = 0;
    let secondArrived = () => {};
    const second = new Promise<void>((resolve) => {
      secondArrived = resolve;
    });
    fixture.intercept(async (_node, type) => {
      if (type === 'replicaMetadata') {
        if (++requests === 2) secondArrived();
        return;
      }
      await second;
    });
    const engine = await fixture.engine(target, {
      config: { intraDc: { batchBytes: 3 * recordBytes, requestsPerRound: 10 } },
    });

    const outcomes = await engine.runRound();
    expect(outcomes.get(source.key)).toBe('progress');
    expect(engine.caughtUp()).toBe(true); // one round, several requests
    for (const blob of blobs) {
      expect(await contentOf(fixture.store(target, p), blob.id)).toBe(
        await contentOf(fixture.store(source, p), blob.id),
      );
    }

    // Each request carries the token of the answer before it, and only the last answer's token is kept.
    const sent = metadataRequests(fixture, target.key).map((r) => r.tokens![0]!);
    expect(sent.length).toBeGreaterThanOrEqual(3); // 12 blobs, about 3 per answer
    expect(sent.reduce((sum, t) => sum + t.entries, 0)).toBe(blobs.length);
    expect(sent[0]!.sent.length).toBe(0);
    for (let i = 1; i < sent.length; i++)
      expect(Buffer.from(sent[i]!.sent)).toEqual(Buffer.from(sent[i - 1]!.answered));
    expect(engine.metrics().intraDc.rounds).toBe(sent.length);
    await engine.flushTokens();
    const persisted = (await readTokenFile(target.disks[0]!.mountPath)).find((t) => t.peer === source.key);
    expect(Buffer.from(persisted!.token)).toEqual(Buffer.from(sent.at(-1)!.answered));
  });

  it('a failure mid-pipeline keeps the token before the unapplied entries and drops later answers', async () => {
    const { fixture, source, target, p, blobs, recordBytes } = await sourceWithBlobs(15);
    // Answers of about 3 blobs: the third one (around blobs 6..8) cannot complete.
    const failing = blobs[7]!.id.toString();
    let failures = true;
    const fetched: string[] = [];
    // The failing GET waits for the request after its answer: that answer is asked for before the
    // failure, so the round must drop it.
    let requests = 0;
    let requestArrived = () => {};
    fixture.intercept(async (_node, type, blobId) => {
      if (type === 'replicaMetadata') {
        requests += 1;
        requestArrived();
        return;
      }
      fetched.push(blobId!.toString());
      if (!failures || blobId!.toString() !== failing) return;
      // Answers so far, in order: the one holding blob 7 is the last whose entries reach past it.
      let seen = 0;
      let holding = 0;
      for (const r of metadataRequests(fixture, target.key)) {
        holding += 1;
        seen += r.tokens![0]!.entries;
        if (seen > 7) break;
      }
      while (requests < holding + 1) await new Promise<void>((resolve) => (requestArrived = resolve));
      throw new Error('injected read failure');
    });
    const config = { intraDc: { batchBytes: 3 * recordBytes, requestsPerRound: 10, fetchParallelism: 1 } };
    const engine = await fixture.engine(target, { config });

    const outcomes = await engine.runRound();
    expect(outcomes.get(source.key)).toBe('progress'); // the first two answers were applied
    const [lag] = engine.lag();
    expect(lag!.caughtUp).toBe(false);
    expect(lag!.problem).toContain(`fetching ${failing}`);
    // Which answer held the failing blob (answers list the blobs in log order).
    const answers = metadataRequests(fixture, target.key).map((r) => r.tokens![0]!);
    let start = 0;
    let failed = 0;
    while (start + answers[failed]!.entries <= 7) start += answers[failed++]!.entries;
    expect(failed).toBeGreaterThan(0);
    expect(answers.length).toBe(failed + 2); // the one after it was asked for, then nothing more
    // Nothing of the answers after the failed one was fetched.
    const later = new Set(blobs.slice(start + answers[failed]!.entries).map((b) => b.id.toString()));
    expect(fetched.some((id) => later.has(id))).toBe(false);
    // The persisted token is the answer's before the failed one: everything from its first blob on
    // comes again.
    await engine.stop();
    const persisted = (await readTokenFile(target.disks[0]!.mountPath)).find((t) => t.peer === source.key);
    expect(Buffer.from(persisted!.token)).toEqual(Buffer.from(answers[failed - 1]!.answered));
    const again = await fixture.store(source, p).findEntriesSince(persisted!.token, 1024 * 1024);
    expect(again.entries.map((e) => e.blobId.toString())).toEqual(
      blobs.slice(start).map((b) => b.id.toString()),
    );

    // Healed, a new engine resumes from that token and completes; nothing is written twice.
    failures = false;
    const written = fixture.store(target, p).stats().blobCount;
    const resumed = await fixture.engine(target, { config });
    expect(await resumed.catchUp()).toBe(true);
    const counters = resumed.metrics().intraDc;
    expect(counters.putsWritten).toBe(blobs.length - written);
    expect(counters.blobErrors).toBe(0);
    expect(fixture.store(target, p).stats().blobCount).toBe(blobs.length);
  });
});
