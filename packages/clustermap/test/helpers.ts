import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import {
  type GenerateOptions,
  generateLayout,
  type HardwareFile,
  type PartitionsFile,
} from '../src/index.js';

/** A temporary directory removed after the current test. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ambry-clustermap-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const SMALL: GenerateOptions = {
  datacenters: ['dc1', 'dc2'],
  nodesPerDc: 3,
  disksPerNode: 2,
  racksPerDc: 3,
  partitions: 8,
  replicasPerDc: 3,
};

/** Fresh, mutable copies of a small generated layout, for tests that break them on purpose. */
export function smallFiles(options: Partial<GenerateOptions> = {}): {
  hardware: HardwareFile;
  partitions: PartitionsFile;
} {
  return structuredClone(generateLayout({ ...SMALL, ...options })) as {
    hardware: HardwareFile;
    partitions: PartitionsFile;
  };
}
