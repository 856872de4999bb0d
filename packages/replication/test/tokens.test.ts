import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { xxh64 } from '@ambry/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decodeTokenFile,
  encodeTokenFile,
  readTokenFile,
  TOKEN_FILE_NAME,
  TokenFileError,
  tokenIncarnation,
  writeTokenFile,
} from '../src/index.js';
import {
  contentOf,
  eventually,
  type Fixture,
  makeBlob,
  putOn,
  startFixture,
  stateOf,
  type Trio,
} from './fixture.js';

let fixture: Fixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

describe('token file', () => {
  const entries = [
    {
      partitionId: 0,
      peer: '127.0.0.1:6667',
      token: new Uint8Array([1, 2, 3]),
      lagBytes: 0,
      localIncarnation: 'ab'.repeat(16),
    },
    {
      partitionId: 4_000_000_000,
      peer: '[::1]:7000',
      token: new Uint8Array(300).fill(9),
      lagBytes: 2 ** 40,
      localIncarnation: '',
    },
  ];

  it('round-trips and has the documented layout', () => {
    const bytes = encodeTokenFile(entries);
    expect(bytes.subarray(0, 8).toString('latin1')).toBe('AMBRYRTK');
    expect(bytes.readUInt16LE(8)).toBe(2);
    expect(bytes.readUInt32LE(12)).toBe(2);
    // header 16 + entry 1 (4 + 2 + 14 + 8 + 4 + 3 + 2 + 32) + entry 2 (4 + 2 + 10 + 8 + 4 + 300 + 2)
    // + checksum 8
    expect(bytes.length).toBe(16 + 69 + 330 + 8);
    expect(decodeTokenFile(bytes)).toEqual(entries.map((e) => ({ ...e, token: Buffer.from(e.token) })));
    expect(decodeTokenFile(encodeTokenFile([]))).toEqual([]);
  });

  it('still reads a version-1 file (no local incarnation: unknown)', () => {
    // Version 1 is version 2 without the trailing localIncarnation of each entry.
    const parts: Buffer[] = [Buffer.from('AMBRYRTK', 'latin1'), Buffer.from([1, 0, 0, 0, 1, 0, 0, 0])];
    const entry = Buffer.alloc(4 + 2);
    entry.writeUInt32LE(7, 0);
    entry.writeUInt16LE(3, 4);
    const tail = Buffer.alloc(12);
    tail.writeBigUInt64LE(5n, 0);
    tail.writeUInt32LE(2, 8);
    parts.push(entry, Buffer.from('a:1'), tail, Buffer.from([4, 2]));
    const body = Buffer.concat(parts);
    const checksum = Buffer.alloc(8);
    checksum.writeBigUInt64LE(xxh64(body), 0);
    expect(decodeTokenFile(Buffer.concat([body, checksum]))).toEqual([
      { partitionId: 7, peer: 'a:1', lagBytes: 5, token: Buffer.from([4, 2]), localIncarnation: '' },
    ]);
  });

  it('rejects any flipped or missing byte', () => {
    const bytes = encodeTokenFile(entries);
    for (let at = 0; at < bytes.length; at += 7) {
      const bad = Buffer.from(bytes);
      bad[at]! ^= 0x10;
      expect(() => decodeTokenFile(bad)).toThrow(TokenFileError);
    }
    for (const cut of [0, 10, bytes.length - 1]) {
      expect(() => decodeTokenFile(bytes.subarray(0, cut))).toThrow(TokenFileError);
    }
  });

  it('is replaced atomically, leaving no temp file', async () => {
    fixture = await startFixture({ partitions: 1 });
    const dir = fixture.nodes[0]!.disks[0]!.mountPath;
    expect(await readTokenFile(dir)).toEqual([]);
    await writeTokenFile(dir, entries);
    await writeTokenFile(dir, entries.slice(0, 1));
    expect((await readTokenFile(dir)).length).toBe(1);
    expect((await readdir(dir)).filter((name) => name.startsWith(TOKEN_FILE_NAME))).toEqual([
      TOKEN_FILE_NAME,
    ]);
  });
});

describe('persisted tokens', () => {
  it('a restart resumes from the persisted tokens instead of copying again', async () => {
    fixture = await startFixture({ partitions: 2 });
    const [a, b, c] = fixture.nodes as Trio;
    const up = (p: number) => [fixture!.store(a, p), fixture!.store(b, p)];
    for (const p of fixture.partitionIds) for (let i = 0; i < 60; i++) await putOn(up(p), makeBlob(p));

    const first = await fixture.engine(c);
    expect(await first.catchUp({ maxRounds: 50 })).toBe(true);
    await first.stop();
    const copied = fixture.served().filter((r) => r.type === 'get' && r.requester === c.key).length;
    expect(copied).toBeGreaterThanOrEqual(120);

    // While C's engine is down: a few more blobs.
    const later = fixture.partitionIds.flatMap((p) => [makeBlob(p), makeBlob(p), makeBlob(p)]);
    for (const blob of later) await putOn(up(blob.id.partitionId), blob);
    fixture.resetServed();

    const second = await fixture.engine(c);
    expect(await second.catchUp({ maxRounds: 50 })).toBe(true);
    const gets = fixture.served().filter((r) => r.type === 'get' && r.requester === c.key);
    // Each new blob is fetched at most once per peer (two peers may race for it); nothing old again.
    expect(gets.length).toBeGreaterThanOrEqual(later.length);
    expect(gets.length).toBeLessThanOrEqual(2 * later.length);
    const counters = second.metrics().intraDc;
    expect(counters.putsWritten).toBe(later.length);
    // Metadata entries seen after the restart: the new blobs only, from each of the two peers.
    expect(counters.entries).toBeLessThanOrEqual(2 * later.length);
    for (const blob of later) {
      expect(await contentOf(fixture.store(c, blob.id.partitionId), blob.id)).toBe(
        await contentOf(fixture.store(a, blob.id.partitionId), blob.id),
      );
    }
  });

  it('a damaged token file means starting over, not failing', async () => {
    fixture = await startFixture({ partitions: 1 });
    const [a, b, c] = fixture.nodes as Trio;
    const p = fixture.partitionIds[0]!;
    for (let i = 0; i < 5; i++) await putOn([fixture.store(a, p), fixture.store(b, p)], makeBlob(p));
    const first = await fixture.engine(c);
    await first.catchUp();
    await first.stop();
    const file = join(c.disks[0]!.mountPath, TOKEN_FILE_NAME);
    const bytes = await readFile(file);
    bytes[20]! ^= 0xff;
    await writeFile(file, bytes);

    const second = await fixture.engine(c);
    expect(await second.catchUp()).toBe(true);
    expect(second.metrics().intraDc.entries).toBeGreaterThanOrEqual(5); // read from the start again
    expect(second.metrics().intraDc.putsWritten).toBe(0); // and found nothing missing
  });

  it("a peer's recreated store (new incarnation) resets the token to its start", async () => {
    fixture = await startFixture({ partitions: 1 });
    const [a, b, c] = fixture.nodes as Trio;
    const p = fixture.partitionIds[0]!;
    for (let i = 0; i < 10; i++) await putOn([fixture.store(a, p), fixture.store(b, p)], makeBlob(p));
    const first = await fixture.engine(c);
    expect(await first.catchUp()).toBe(true);
    await first.stop();
    const before = await readTokenFile(c.disks[0]!.mountPath);
    const oldIncarnation = fixture.store(a, p).incarnationId;
    expect(before.find((t) => t.peer === a.key)?.token).toSatisfy(
      (token: Uint8Array) => tokenIncarnation(token) === oldIncarnation,
    );

    // A's disk is replaced; its new, empty replica takes a few fresh blobs (its own rebuild aside).
    const recreated = await fixture.recreateStore(a, p);
    const fresh = [makeBlob(p), makeBlob(p)];
    for (const blob of fresh) await putOn([recreated], blob);

    const second = await fixture.engine(c);
    expect(await second.catchUp()).toBe(true);
    expect(second.metrics().intraDc.tokenResets).toBe(1);
    for (const blob of fresh) expect(await contentOf(fixture.store(c, p), blob.id)).not.toMatch(/^error/);
    await second.stop();
    const after = await readTokenFile(c.disks[0]!.mountPath);
    expect(tokenIncarnation(after.find((t) => t.peer === a.key)!.token)).toBe(recreated.incarnationId);

    // And A rebuilds itself from B and C.
    const rebuild = await fixture.engine(a);
    expect(await rebuild.catchUp()).toBe(true);
    expect([...(await stateOf(recreated)).keys()].sort()).toEqual(
      [...(await stateOf(fixture.store(c, p))).keys()].sort(),
    );
  });

  it('a wiped local replica drops its persisted tokens and is rebuilt in full', async () => {
    fixture = await startFixture({ partitions: 1 });
    const [a, b, c] = fixture.nodes as Trio;
    const p = fixture.partitionIds[0]!;
    const blobs = Array.from({ length: 12 }, () => makeBlob(p));
    for (const blob of blobs) await putOn([fixture.store(a, p), fixture.store(b, p)], blob);
    const first = await fixture.engine(c);
    expect(await first.catchUp()).toBe(true);
    await first.stop();
    const persisted = await readTokenFile(c.disks[0]!.mountPath);
    expect(persisted.length).toBe(2);
    for (const entry of persisted) expect(entry.localIncarnation).toBe(fixture.store(c, p).incarnationId);

    // C's replica directory is wiped; the token file on its disk survives.
    const wiped = await fixture.recreateStore(c, p);
    const second = await fixture.engine(c);
    expect(await second.catchUp()).toBe(true);
    expect(wiped.stats().blobCount).toBe(blobs.length);
    expect(await stateOf(wiped)).toEqual(await stateOf(fixture.store(a, p)));
    await second.stop();
    for (const entry of await readTokenFile(c.disks[0]!.mountPath))
      expect(entry.localIncarnation).toBe(wiped.incarnationId);

    // The same while an engine is running: the next round notices the new incarnation.
    const third = await fixture.engine(c);
    expect(await third.catchUp()).toBe(true);
    const again = await fixture.recreateStore(c, p);
    await third.runRound(); // notices the new incarnation: the pairs restart from the beginning
    expect(await third.catchUp()).toBe(true);
    expect(third.metrics().intraDc.localResets).toBe(2);
    expect(await stateOf(again)).toEqual(await stateOf(fixture.store(a, p)));
  });

  it('stopping in the middle of a batch keeps the old token; the re-run duplicates nothing', async () => {
    fixture = await startFixture({ partitions: 1 });
    const [a, , c] = fixture.nodes as Trio;
    const p = fixture.partitionIds[0]!;
    const blobs = Array.from({ length: 30 }, () => makeBlob(p));
    for (const blob of blobs) await putOn([fixture.store(a, p)], blob);
    let gets = 0;
    let stopped: Promise<void> | undefined;
    const engine = await fixture.engine(c, { config: { intraDc: { fetchParallelism: 1 } } });
    fixture.intercept((_node, type) => {
      if (type === 'get' && ++gets === 10) stopped = engine.stop(); // mid-batch
    });
    engine.start();
    await eventually(() => stopped !== undefined);
    await stopped;
    const written = fixture.store(c, p).stats().blobCount;
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThan(blobs.length);
    // The batch did not finish: its token was not persisted.
    expect((await readTokenFile(c.disks[0]!.mountPath)).find((t) => t.peer === a.key)).toBeUndefined();

    const again = await fixture.engine(c);
    expect(await again.catchUp()).toBe(true);
    const counters = again.metrics().intraDc;
    expect(counters.blobErrors).toBe(0);
    expect(counters.putsWritten).toBe(blobs.length - written);
    expect(fixture.store(c, p).stats().blobCount).toBe(blobs.length);
    expect(await stateOf(fixture.store(c, p))).toEqual(await stateOf(fixture.store(a, p)));
  });
});
