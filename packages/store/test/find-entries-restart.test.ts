import fs from 'node:fs/promises';
import type { MessageInfo } from '@ambry/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultyIo } from '../src/index.js';
import { decodeToken } from '../src/token.js';
import { drain, expectEachOnce, openStore, pageUntil, putBlobs, START } from './find-entries-fixture.js';
import { TempDirs } from './helpers.js';

/** findEntriesSince across restarts: clean, crashed, with a lost tail, and with a rebuilt index segment. */

const temp = new TempDirs();
afterEach(() => temp.cleanup());

describe('findEntriesSince across restarts', () => {
  it('continues a token from before a clean close or a crash', async () => {
    for (const crash of [false, true]) {
      const dir = await temp.make();
      const io = new FaultyIo();
      const store = await openStore(dir, { io });
      const ids = await putBlobs(store, 30);
      const inSegment = await pageUntil(store, START, 'index');
      const inJournal = await pageUntil(store, inSegment.token, 'journal');
      const held = [...inSegment.entries, ...inJournal.entries];
      ids.push(...(await putBlobs(store, 5)));
      if (crash) await io.crashNow();
      await store.close().catch(() => {});
      const reopened = await openStore(dir);
      expect(reopened.stats().cleanStart).toBe(!crash);
      if (crash) expect(reopened.stats().recoveredRecords).toBeGreaterThan(0);
      ids.push(...(await putBlobs(reopened, 12)));
      expectEachOnce([...inSegment.entries, ...(await drain(reopened, inSegment.token, 250)).entries], ids);
      expectEachOnce([...held, ...(await drain(reopened, inJournal.token, 1)).entries], ids);
      await reopened.close();
    }
  });

  it('pulls a token past a log tail lost in a crash back to where the log ended', async () => {
    const dir = await temp.make();
    const io = new FaultyIo();
    // Interval durability: acknowledged records may be lost to a power cut, yet a peer may have read them.
    const options = { durability: 'interval', syncIntervalMs: 3_600_000, maxMemoryRecords: 1000 } as const;
    const store = await openStore(dir, { io, ...options });
    await putBlobs(store, 10);
    const ends: number[] = [];
    let token: Buffer = Buffer.alloc(0);
    for (let i = 0; i < 10; i++) {
      token = (await store.findEntriesSince(token, 1)).token;
      const decoded = decodeToken(token);
      ends.push(decoded.kind === 'journal' ? decoded.position : -1);
    }
    await io.crashNow();
    await store.close().catch(() => {});
    // The power cut takes the last three records (the segment's file offset is its log position).
    await fs.truncate(`${dir}/00000000.log`, ends[6]!);
    const reopened = await openStore(dir, options);
    expect(reopened.stats().bytesUsed).toBe(ends[6]);
    const fresh = await putBlobs(reopened, 5);
    expectEachOnce((await drain(reopened, token, 1)).entries, fresh);
    // Still true after further clean restarts: the unclean open is remembered in the session history.
    await reopened.close();
    const later = await openStore(dir, options);
    await later.close();
    const again = await openStore(dir, options);
    expectEachOnce((await drain(again, token, 1)).entries, fresh);
    await again.close();
  });

  it('never skips an entry when the segment under an index token was rebuilt after damage', async () => {
    const dir = await temp.make();
    let store = await openStore(dir);
    const ids = await putBlobs(store, 40);
    // A token in the middle of the first persisted segment.
    let token: Buffer = Buffer.alloc(0);
    const seen: MessageInfo[] = [];
    for (let i = 0; i < 3; i++) {
      const page = await store.findEntriesSince(token, 1);
      seen.push(...page.entries);
      token = page.token;
    }
    expect(decodeToken(token).kind).toBe('index');
    await store.close();
    // Damage an entry block of the first segment: it and every later one are dropped and the log is
    // re-indexed into segments with other boundaries.
    const first = (await fs.readdir(dir)).filter((n) => n.endsWith('.idx')).sort()[0]!;
    const bytes = await fs.readFile(`${dir}/${first}`);
    bytes[bytes.length - 5]! ^= 0xff;
    await fs.writeFile(`${dir}/${first}`, bytes);
    store = await openStore(dir);
    expect(store.stats().persistedIndexSegments).toBe(0);
    await store.close(); // persists the re-indexed log as one segment, from the same start to a new end
    store = await openStore(dir);
    expect(store.stats().persistedIndexSegments).toBe(1);
    const rest = await drain(store, token, 1);
    const all = new Set([...seen, ...rest.entries].map((e) => e.blobId.toString()));
    for (const id of ids) expect(all.has(id.toString())).toBe(true);
    await store.close();
  });
});
