/** What the store benchmark and its child processes share: the store configuration and small helpers. */
import { randomFillSync } from 'node:crypto';
import { BlobId, BlobIdType } from '@ambry/protocol';
import { progress } from '../../../test-support/bench.js';
import { defaultStoreConfig, type StoreConfigInput } from '../src/options.js';

const GiB = 1024 * 1024 * 1024;

/**
 * Every measured store uses this (the rest is the production defaults). The capacity only bounds how far
 * the log may grow: segment files are not preallocated, so it costs no disk.
 */
export const STORE_CONFIG = {
  capacityBytes: 64 * GiB,
  segmentBytes: GiB,
} as const satisfies StoreConfigInput;

/** The defaults the RAM and cold-read figures depend on, reported with the results. */
const defaults = defaultStoreConfig();
export const INDEX_DEFAULTS = {
  maxMemoryRecords: defaults.maxMemoryRecords,
  entriesPerBlock: defaults.entriesPerBlock,
  bloomFalsePositiveRate: defaults.bloomFalsePositiveRate,
} as const;

/**
 * A fresh random id per call, like the test helper's `newId`, but drawing the uuid bytes from a pool
 * filled 4,096 ids at a time: one getrandom call per id costs about as much as the store's whole PUT
 * path, and on a data node the id arrives with the request, so it is no part of what is measured.
 */
export function idSource(): () => BlobId {
  const pool = Buffer.alloc(16 * 4096);
  let at = pool.length;
  const random = (target: Uint8Array) => {
    if (at + target.length > pool.length) {
      randomFillSync(pool);
      at = 0;
    }
    target.set(pool.subarray(at, at + target.length));
    at += target.length;
  };
  return () =>
    BlobId.generate({
      type: BlobIdType.SIMPLE,
      datacenterId: 1,
      accountId: 7,
      containerId: 3,
      partitionId: 1,
      random,
    });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Progress and notes go to stderr, so `--json` leaves exactly one document on stdout. */
export const note = progress('store bench');

export interface MemorySample {
  /** heapUsed + external (external already includes arrayBuffers, so that is not added again). */
  readonly heapAndExternal: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
  readonly rss: number;
}

/** Memory after full collections; needs `--expose-gc` (the parent forks children with it). */
export function settledMemory(): MemorySample {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  // Two rounds: the first can leave weakly held objects and finalizers for the second.
  gc();
  gc();
  const m = process.memoryUsage();
  return {
    heapAndExternal: m.heapUsed + m.external,
    heapUsed: m.heapUsed,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    rss: m.rss,
  };
}

/** Message a child sends its parent: its figures, or why it failed. */
export type ChildMessage =
  | { readonly ok: true; readonly result: Record<string, number | boolean> }
  | { readonly ok: false; readonly error: string };
