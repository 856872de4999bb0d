import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BlobId, BlobIdType, type BlobProperties } from '@ambry/protocol';

/** Temporary directories removed by `cleanup` (call it from afterEach). */
export class TempDirs {
  private readonly dirs: string[] = [];

  async make(prefix = 'ambry-store-'): Promise<string> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }

  async cleanup(): Promise<void> {
    for (const dir of this.dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
  }
}

export function newId(partition = 1): BlobId {
  return BlobId.generate({
    type: BlobIdType.SIMPLE,
    datacenterId: 1,
    accountId: 7,
    containerId: 3,
    partitionId: partition,
  });
}

export function propertiesFor(blobSize: number, overrides: Partial<BlobProperties> = {}): BlobProperties {
  return {
    blobSize,
    serviceId: 'store-test',
    contentType: 'application/octet-stream',
    creationTimeMs: 1_700_000_000_000,
    ttlSeconds: -1,
    isPrivate: false,
    accountId: 7,
    containerId: 3,
    ...overrides,
  };
}

/** xorshift32: a tiny seeded PRNG, so tests that need many random values are the same every run. */
export function xorshift32(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/** Deterministic bytes for blob number `n` (so a test can re-derive what it wrote). */
export function blobBytes(n: number, size: number): Buffer {
  const out = Buffer.alloc(size);
  const next = xorshift32((n * 2654435761) >>> 0);
  for (let i = 0; i < size; i++) out[i] = next() & 0xff;
  return out;
}
