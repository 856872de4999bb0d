import type { BlobId, MessageInfo } from '@ambry/protocol';
import { expect } from 'vitest';
import { BlobStore, type StoreOptions } from '../src/index.js';
import { decodeToken } from '../src/token.js';
import { blobBytes, newId, propertiesFor } from './helpers.js';

/** What the findEntriesSince test files share: a small store, puts, and paging until caught up. */

export const T0 = 1_700_000_000_000;
export const START = new Uint8Array(0);

/** Small enough that a few dozen puts span several persisted segments and several log segments. */
export function openStore(dir: string, extra: Partial<StoreOptions> = {}): Promise<BlobStore> {
  return BlobStore.open({
    dir,
    capacityBytes: 4 * 1024 * 1024,
    segmentBytes: 16 * 1024,
    maxMemoryRecords: 8,
    entriesPerBlock: 3,
    clock: () => T0,
    ...extra,
  });
}

let blobNumber = 0;
export async function putBlobs(store: BlobStore, count: number, size = 100): Promise<BlobId[]> {
  const ids: BlobId[] = [];
  for (let i = 0; i < count; i++) {
    const id = newId();
    const n = blobNumber++;
    await store.put({ id, properties: propertiesFor(size), blob: blobBytes(n, size) });
    ids.push(id);
  }
  return ids;
}

export interface Page {
  readonly entries: MessageInfo[];
  readonly token: Buffer;
  readonly calls: number;
}

/** Pages from `token` until caught up (lag 0); the bound turns a token that never advances into a failure. */
export async function drain(
  store: BlobStore,
  token: Uint8Array,
  maxBytes: number,
  maxCalls = 2000,
): Promise<Page> {
  const entries: MessageInfo[] = [];
  let current: Buffer = Buffer.from(token);
  for (let calls = 1; calls <= maxCalls; calls++) {
    const page = await store.findEntriesSince(current, maxBytes);
    entries.push(...page.entries);
    current = page.token;
    if (page.lagBytes === 0) return { entries, token: current, calls };
  }
  throw new Error(`not caught up after ${maxCalls} calls`);
}

/** Pages one entry at a time until the token is of `kind` and the caller is still behind. */
export async function pageUntil(
  store: BlobStore,
  token: Uint8Array,
  kind: 'journal' | 'index',
): Promise<{ entries: MessageInfo[]; token: Buffer }> {
  const entries: MessageInfo[] = [];
  let current: Buffer = Buffer.from(token);
  for (let calls = 0; calls < 2000; calls++) {
    if (decodeToken(current).kind === kind && calls > 0) return { entries, token: current };
    const page = await store.findEntriesSince(current, 1);
    expect(page.lagBytes).toBeGreaterThan(0);
    entries.push(...page.entries);
    current = page.token;
  }
  throw new Error(`no ${kind} token reached`);
}

export function expectEachOnce(entries: readonly MessageInfo[], ids: readonly BlobId[]): void {
  const counts = new Map<string, number>();
  for (const e of entries) counts.set(e.blobId.toString(), (counts.get(e.blobId.toString()) ?? 0) + 1);
  const duplicated = [...counts].filter(([, n]) => n > 1);
  expect(duplicated).toEqual([]);
  expect(new Set(counts.keys())).toEqual(new Set(ids.map((id) => id.toString())));
}

export async function putUntilSegmentsGrow(store: BlobStore, ids: BlobId[]): Promise<void> {
  const before = store.stats().persistedIndexSegments;
  for (let i = 0; i < 200 && store.stats().persistedIndexSegments === before; i++) {
    ids.push(...(await putBlobs(store, 1)));
  }
  expect(store.stats().persistedIndexSegments).toBeGreaterThan(before);
}
