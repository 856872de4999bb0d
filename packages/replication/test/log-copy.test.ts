import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DataNode } from '@ambry/clustermap';
import { ErrorCode, ServerError } from '@ambry/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { Limiter } from '../src/limiter.js';
import { LogCopyClaims } from '../src/log-copy.js';
import {
  deleteOn,
  eventually,
  expectSameReplica,
  type Fixture,
  makeBlob,
  putOn,
  startFixture,
  stateOf,
  type Trio,
  ttlUpdateOn,
  undeleteOn,
} from './fixture.js';

let fixture: Fixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

const COPY = { logCopyChunkBytes: 4096 };

/** Puts (mixed sizes), deletes, TTL updates and undeletes on every store of the partition: ~90 KiB of log. */
async function fill(f: Fixture, nodes: readonly DataNode[], p: number, blobs = 30): Promise<void> {
  const all = nodes.map((node) => f.store(node, p));
  const ids = [];
  for (let i = 0; i < blobs; i++) {
    const blob = makeBlob(p, { size: 10 + ((i * 7919) % 6000) });
    await putOn(all, blob);
    ids.push(blob.id);
  }
  await deleteOn(all, ids[0]!);
  await ttlUpdateOn(all, ids[1]!);
  await deleteOn(all, ids[2]!);
  await undeleteOn(all, ids[2]!);
}

/** One partition filled on three nodes, then C's replica wiped (its disk replaced). */
async function withReplacedDisk(blobs = 30) {
  fixture = await startFixture({ partitions: 1 });
  const [a, b, c] = fixture.nodes as Trio;
  const p = fixture.partitionIds[0]!;
  await fill(fixture, [a, b, c], p, blobs);
  await fixture.recreateStore(c, p);
  return { f: fixture, a, b, c, p };
}

async function logFiles(dir: string): Promise<Map<string, Buffer>> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.log')).sort();
  return new Map(await Promise.all(names.map(async (n) => [n, await readFile(join(dir, n))] as const)));
}

/** Blob ids fetched from peers for (node, p), and the ids that replica held when the first fetch came. */
function recordFetches(f: Fixture, node: DataNode, p: number) {
  const ids = new Set<string>();
  let heldBefore = new Set<string>();
  let listed: Promise<void> | undefined;
  f.intercept(async (_peer, type, blobId) => {
    if (type !== 'get' || blobId === undefined) return;
    // Listed once, before the first GET is answered: nothing fetched can have been written yet.
    listed ??= stateOf(f.store(node, p)).then((state) => {
      heldBefore = new Set(state.keys());
    });
    await listed;
    ids.add(blobId.toString());
  });
  return {
    ids,
    get heldBefore() {
      return heldBefore;
    },
  };
}

describe('an empty replica is rebuilt by copying a peer log', () => {
  it('from one peer, byte for byte, with no blob fetched; later writes then replicate as usual', async () => {
    fixture = await startFixture({ partitions: 2 });
    const [a, b, c] = fixture.nodes as Trio;
    for (const p of fixture.partitionIds) {
      await fill(fixture, [a, b, c], p);
      await fixture.recreateStore(c, p); // disk replaced
    }
    const engine = await fixture.engine(c, { config: COPY });
    expect(await engine.catchUp({ maxRounds: 50 })).toBe(true);

    const served = fixture.served();
    expect(served.filter((r) => r.type === 'get')).toEqual([]);
    const counters = engine.metrics().intraDc;
    expect(counters.logCopies).toBe(2);
    expect(counters.logCopyFailures).toBe(0);
    expect(counters.blobsFetched).toBe(0);
    for (const p of fixture.partitionIds) {
      const copiedFrom = new Set(served.filter((r) => r.type === 'logChunk').map((r) => r.node));
      expect(copiedFrom.size).toBeGreaterThanOrEqual(1);
      await expectSameReplica(fixture.store(a, p), fixture.store(c, p));
      const dir = (node: DataNode) => join(node.disks[0]!.mountPath, `p${p}`);
      // Every store took the same operations in the same order, so every log is the same bytes.
      expect(await logFiles(dir(c))).toEqual(await logFiles(dir(a)));
    }
    // One peer per partition copied, in many chunks (4 KiB each), and each chunk was asked for once.
    const chunks = served.filter((r) => r.type === 'logChunk' && r.bytes > 0);
    const bytes = chunks.reduce((sum, r) => sum + r.bytes, 0);
    expect(bytes).toBe(counters.logCopyBytes);
    expect(bytes).toBe(
      fixture.partitionIds.reduce((sum, p) => sum + fixture!.store(a, p).stats().bytesUsed - 32, 0),
    );

    fixture.resetServed();
    const later = makeBlob(fixture.partitionIds[0]!);
    const store = (node: DataNode) => fixture!.store(node, later.id.partitionId);
    await putOn([store(a), store(b)], later);
    await eventually(async () => {
      await engine.runRound();
      return store(c).stats().blobCount === store(a).stats().blobCount;
    }, 50);
    expect(fixture.served().filter((r) => r.type === 'logChunk')).toEqual([]);
    expect((await store(c).get(later.id)).blob.equals(later.blob)).toBe(true);
  });

  it('that fails midway ends early, and the rest arrives blob by blob from where it stopped', async () => {
    const { f, a, c, p } = await withReplacedDisk();
    let chunks = 0;
    f.intercept((_node, type) => {
      if (type === 'logChunk' && ++chunks > 3) throw new Error('injected: the peer cannot read its log');
    });
    const fetched = recordFetches(f, c, p);
    const engine = await f.engine(c, { config: COPY });
    expect(await engine.catchUp({ maxRounds: 50 })).toBe(true);
    const counters = engine.metrics().intraDc;
    expect(counters.logCopyFailures).toBe(1);
    expect(counters.logChunks).toBe(3);
    await expectSameReplica(f.store(a, p), f.store(c, p));
    // What the three chunks held was not fetched again (the other peer had no token and found it present).
    expect(fetched.heldBefore.size).toBeGreaterThanOrEqual(3);
    expect(fetched.ids.size).toBeGreaterThan(0);
    for (const id of fetched.ids) expect(fetched.heldBefore.has(id)).toBe(false);
  });

  it('waits out a busy peer instead of giving up', async () => {
    const { f, a, c, p } = await withReplacedDisk();
    let asked = 0;
    f.intercept((_node, type) => {
      asked += type === 'logChunk' ? 1 : 0;
      if (type === 'logChunk' && (asked === 2 || asked === 3))
        throw new ServerError(ErrorCode.SERVER_BUSY, 'injected: too many bytes in flight');
    });
    const engine = await f.engine(c, { config: COPY });
    expect(await engine.catchUp({ maxRounds: 50 })).toBe(true);
    const counters = engine.metrics().intraDc;
    expect(counters.logCopies).toBe(1);
    expect(counters.logCopyFailures).toBe(0);
    expect(counters.blobsFetched).toBe(0);
    await expectSameReplica(f.store(a, p), f.store(c, p));
  });

  it('that meets a write of its own ends early without harm', async () => {
    const { f, a, b, c, p } = await withReplacedDisk();
    const during = makeBlob(p);
    let chunks = 0;
    f.intercept(async (_node, type) => {
      // A client's quorum write lands on every replica, the one being rebuilt too, mid-copy.
      if (type === 'logChunk' && ++chunks === 3)
        await putOn(
          [a, b, c].map((n) => f.store(n, p)),
          during,
        );
    });
    const engine = await f.engine(c, { config: COPY });
    expect(await engine.catchUp({ maxRounds: 50 })).toBe(true);
    expect(engine.metrics().intraDc.logCopyFailures).toBe(1);
    await expectSameReplica(f.store(a, p), f.store(c, p));
    expect((await f.store(c, p).get(during.id)).blob.equals(during.blob)).toBe(true);
  });

  it('is not started for a replica that holds anything, and the other pairs wait for the one copying', async () => {
    fixture = await startFixture({ partitions: 2 });
    const [a, b, c] = fixture.nodes as Trio;
    const [p, q] = fixture.partitionIds as [number, number];
    await fill(fixture, [a, b], p);
    await fill(fixture, [a, b], q);
    await putOn([fixture.store(c, q)], makeBlob(q)); // q already holds a blob of its own
    let pending: (() => void) | undefined;
    const released = new Promise<void>((resolve) => {
      pending = resolve;
    });
    fixture.intercept(async (_node, type) => {
      if (type === 'logChunk') await released;
    });
    const engine = await fixture.engine(c, { config: COPY });
    engine.start();
    // While the copy of p waits on its first chunk, q replicates blob by blob and p takes nothing else.
    await eventually(() => fixture!.store(c, q).stats().blobCount > 1);
    const problems = engine
      .lag()
      .filter((l) => l.partitionId === p)
      .map((l) => l.problem ?? '');
    expect(problems.some((why) => why.startsWith('waiting: rebuilding from'))).toBe(true);
    expect(fixture.store(c, p).stats().bytesUsed).toBe(32);
    pending!();
    await eventually(() => engine.caughtUp());
    await engine.stop();
    const counters = engine.metrics().intraDc;
    expect(counters.logCopies).toBe(1);
    await expectSameReplica(fixture.store(a, p), fixture.store(c, p));
    expect(
      fixture
        .served()
        .filter((r) => r.type === 'logChunk')
        .every((r) => r.partitions === 1),
    ).toBe(true);
  });

  it('stopped midway resumes blob by blob from its persisted token after a restart', async () => {
    const { f, a, c, p } = await withReplacedDisk(60);
    const total = f.store(a, p).stats().blobCount;
    let chunks = 0;
    let stopped: Promise<void> | undefined;
    const first = await f.engine(c, { config: COPY });
    f.intercept((_node, type) => {
      if (type === 'logChunk' && ++chunks === 6) stopped = first.stop();
    });
    first.start();
    await eventually(() => stopped !== undefined);
    await stopped;
    const held = f.store(c, p).stats().blobCount;
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThan(total);

    const fetched = recordFetches(f, c, p);
    const second = await f.engine(c, { config: COPY });
    expect(await second.catchUp({ maxRounds: 50 })).toBe(true);
    expect(second.metrics().intraDc.logChunks).toBe(0); // no longer empty: no second copy
    await expectSameReplica(f.store(a, p), f.store(c, p));
    // Only what the copy had not reached is fetched.
    expect(fetched.heldBefore.size).toBe(held);
    for (const id of fetched.ids) expect(fetched.heldBefore.has(id)).toBe(false);
    expect(fetched.ids.size).toBeLessThanOrEqual(total - held);
  });

  it('prefers a peer of its own datacenter, and copies across only when none can', async () => {
    for (const localPeerDown of [false, true]) {
      fixture = await startFixture({
        datacenters: ['dc1', 'dc2'],
        nodesPerDc: 2,
        partitions: 1,
        replicasPerDc: 2,
      });
      const f = fixture;
      const p = f.partitionIds[0]!;
      const [c, d] = f.nodesIn('dc2') as [DataNode, DataNode];
      await fill(f, f.nodes, p);
      await f.recreateStore(c, p);
      const heal = localPeerDown ? f.disconnect(d) : () => {};
      const engine = await f.engine(c, { config: COPY });
      expect(await engine.catchUp({ maxRounds: 50 })).toBe(!localPeerDown); // a dead d stays behind
      heal();
      await expectSameReplica(f.store(f.nodesIn('dc1')[0]!, p), f.store(c, p));
      const copiedFrom = new Set(
        f
          .served()
          .filter((r) => r.type === 'logChunk' && r.bytes > 0)
          .map((r) => r.node),
      );
      const { intraDc, interDc } = engine.metrics();
      if (localPeerDown) {
        expect([intraDc.logCopies, interDc.logCopies, intraDc.logCopyFailures]).toEqual([0, 1, 1]);
        expect(copiedFrom.size).toBe(1);
        expect(copiedFrom.has(d.key)).toBe(false);
      } else {
        expect([intraDc.logCopies, interDc.logCopies]).toEqual([1, 0]);
        expect([...copiedFrom]).toEqual([d.key]);
        expect(interDc.blobsFetched).toBe(0);
      }
      await f.close();
      fixture = undefined;
    }
  });
});

describe('log copy claims', () => {
  it('hold each partition for one pair, and keep other datacenters waiting until a local pair looked', () => {
    const claims = new LogCopyClaims(new Limiter(1), [1]);
    // Partition 1 has a peer in this datacenter: another datacenter's pair waits for it to look.
    expect(claims.deferred(1, 'interDc')).toBe(true);
    expect(claims.claim(1, 'remote:1', 'interDc')).toBe(false);
    expect(claims.deferred(1, 'intraDc')).toBe(false);
    claims.lookedLocally(1);
    expect(claims.deferred(1, 'interDc')).toBe(false);
    expect(claims.claim(1, 'remote:1', 'interDc')).toBe(true);
    expect(claims.claim(1, 'local:1', 'intraDc')).toBe(false); // held
    expect(claims.holder(1)).toBe('remote:1');
    claims.release(1, 'local:1'); // not the holder: nothing happens
    expect(claims.holder(1)).toBe('remote:1');
    claims.release(1, 'remote:1');
    expect(claims.holder(1)).toBeUndefined();
    // Partition 2 has no peer in this datacenter: nobody waits.
    expect(claims.claim(2, 'remote:2', 'interDc')).toBe(true);
  });
});
