import { SealState } from '@ambry/protocol';
import type { StoreConfig } from './options.js';

/**
 * Seal state from log fullness, with hysteresis so a replica near a threshold does not flap: it seals at
 * the threshold and unseals only below threshold − hysteresis. A full file system (ENOSPC) seals it
 * read-only until the store is reopened.
 */
export class SealTracker {
  private current = SealState.READ_WRITE;
  private diskFull = false;

  constructor(
    private readonly config: Pick<
      StoreConfig,
      'readOnlyThreshold' | 'partialSealThreshold' | 'sealHysteresis'
    >,
    private readonly capacityBytes: number,
  ) {}

  get state(): SealState {
    return this.diskFull ? SealState.READ_ONLY : this.current;
  }

  update(usedBytes: number): SealState {
    const used = usedBytes / this.capacityBytes;
    const { readOnlyThreshold, partialSealThreshold, sealHysteresis } = this.config;
    const readOnly =
      used >= readOnlyThreshold ||
      (this.current === SealState.READ_ONLY && used >= readOnlyThreshold - sealHysteresis);
    const partial =
      used >= partialSealThreshold ||
      (this.current !== SealState.READ_WRITE && used >= partialSealThreshold - sealHysteresis);
    this.current = readOnly
      ? SealState.READ_ONLY
      : partial
        ? SealState.PARTIALLY_SEALED
        : SealState.READ_WRITE;
    return this.state;
  }

  markDiskFull(): void {
    this.diskFull = true;
  }

  /**
   * A sealed replica refuses new blobs from clients, but not copies of blobs its peers already took:
   * a replica must stay complete to serve reads and to be a source for others. Those stop only when
   * the file system or the log's capacity is full (the log refuses past its capacity).
   */
  refusePutsBecause(replicated: boolean): string | undefined {
    if (this.diskFull) return 'the file system is full';
    if (this.current === SealState.READ_ONLY && !replicated) {
      return `log is past ${Math.round(this.config.readOnlyThreshold * 100)}% of its capacity`;
    }
    return undefined;
  }
}
