import path from 'node:path';
import type { DataNode as MapNode, Replica } from '@ambry/clustermap';
import { ErrorCode, type Logger, ServerError } from '@ambry/protocol';
import { BlobStore, FaultyIo, type StoreConfigInput, type StoreError, type StoreIo } from '@ambry/store';

/**
 * The replicas this node hosts, one store each, in `<disk mount path>/partition-<id>`. A disk whose
 * stores keep failing with I/O errors is marked failed: its replicas answer DISK_UNAVAILABLE and the
 * failure is reported (the cluster map), while the other disks keep serving.
 */

export type ReplicaState = 'opening' | 'open' | 'failed';

export interface HostedReplica {
  readonly partitionId: number;
  readonly mountPath: string;
  readonly dir: string;
  readonly capacityBytes: number;
  store: BlobStore | undefined;
  state: ReplicaState;
}

export interface ReplicaSetOptions {
  readonly node: MapNode;
  readonly replicas: readonly Replica[];
  /** Store settings shared by every replica (durability, segment size, ...). */
  readonly storeConfig: StoreConfigInput;
  readonly diskErrorThreshold: number;
  /** Every store goes through a FaultyIo per disk (test-only fault injection). */
  readonly faultInjection: boolean;
  readonly logger: Logger;
  readonly onDiskFailed: (mountPath: string, reason: string) => void;
  readonly knownPartition: (partitionId: number) => boolean;
  /** Log capacity of a partition's replicas (from the map). */
  readonly replicaCapacity: (partitionId: number) => number;
}

/** How many stores open at once: recovery reads disks, so a few in parallel, not hundreds. */
const OPEN_CONCURRENCY = 8;

export class ReplicaSet {
  private readonly byPartition = new Map<number, HostedReplica>();
  private readonly diskErrors = new Map<string, number>();
  private readonly failedDisks = new Set<string>();
  /** Set by closeAll: from then on a store error says "closed", not "disk in trouble". */
  private closing = false;
  readonly faultyIo = new Map<string, FaultyIo>();
  /** Reads refused because stored bytes failed their checksum, per partition (a metric). */
  readonly corruptRecords = new Map<number, number>();

  constructor(private readonly options: ReplicaSetOptions) {
    for (const replica of options.replicas) {
      const mountPath = replica.disk.mountPath;
      this.byPartition.set(replica.partitionId, {
        partitionId: replica.partitionId,
        mountPath,
        dir: path.join(mountPath, `partition-${replica.partitionId}`),
        capacityBytes: options.replicaCapacity(replica.partitionId),
        store: undefined,
        state: 'opening',
      });
      if (options.faultInjection && !this.faultyIo.has(mountPath))
        this.faultyIo.set(mountPath, new FaultyIo());
    }
  }

  /** Opens every store; a store that cannot open fails its replica (and counts against its disk). */
  async openAll(): Promise<void> {
    const pending = [...this.byPartition.values()];
    const worker = async () => {
      for (let replica = pending.shift(); replica !== undefined; replica = pending.shift()) {
        await this.openReplica(replica);
      }
    };
    await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, pending.length) }, worker));
  }

  get ready(): boolean {
    return [...this.byPartition.values()].every((r) => r.state !== 'opening');
  }

  all(): HostedReplica[] {
    return [...this.byPartition.values()];
  }

  get disksFailed(): readonly string[] {
    return [...this.failedDisks];
  }

  /** The open store of a partition, or the ServerError that explains why there is none. */
  storeFor(partitionId: number): { replica: HostedReplica; store: BlobStore } {
    const replica = this.byPartition.get(partitionId);
    if (replica === undefined) {
      if (!this.options.knownPartition(partitionId)) {
        throw new ServerError(
          ErrorCode.PARTITION_UNKNOWN,
          `partition ${partitionId} is not in the cluster map`,
        );
      }
      throw new ServerError(
        ErrorCode.REPLICA_UNAVAILABLE,
        `partition ${partitionId} has no replica on this node`,
      );
    }
    if (replica.state === 'opening') {
      throw new ServerError(
        ErrorCode.REPLICA_UNAVAILABLE,
        `replica of partition ${partitionId} is still opening`,
      );
    }
    if (
      (replica.state === 'failed' || replica.store === undefined) &&
      !this.failedDisks.has(replica.mountPath)
    ) {
      // Failed on its own (corrupt, or a store that cannot open with this configuration): the disk is fine.
      throw new ServerError(
        ErrorCode.REPLICA_UNAVAILABLE,
        `replica of partition ${partitionId} is unavailable (it failed to open)`,
      );
    }
    if (replica.state === 'failed' || replica.store === undefined) {
      throw new ServerError(
        ErrorCode.DISK_UNAVAILABLE,
        `replica of partition ${partitionId} is unavailable (disk ${replica.mountPath})`,
      );
    }
    return { replica, store: replica.store };
  }

  /** Counts an I/O failure of a replica's store against its disk. */
  reportStoreError(replica: HostedReplica, error: StoreError): void {
    if (error.code === ErrorCode.DATA_CORRUPT) this.reportCorruption(replica, error);
    // A request that outlived the shutdown timeout fails on its closed store: that is no disk failure,
    // and reporting it would mark a healthy disk failed in the cluster map beyond this process.
    if (this.closing || !isDiskError(error)) return;
    const count = (this.diskErrors.get(replica.mountPath) ?? 0) + 1;
    this.diskErrors.set(replica.mountPath, count);
    if (count >= this.options.diskErrorThreshold) this.failDisk(replica.mountPath, error.message);
  }

  /**
   * Stored bytes failed a checksum: the store refused to serve them (the reader goes to another
   * replica). Counted and logged so bit rot is seen and can be repaired, not only routed around; the
   * disk is not failed for it, as the rest of what it holds still checks out.
   */
  private reportCorruption(replica: HostedReplica, error: StoreError): void {
    this.corruptRecords.set(replica.partitionId, (this.corruptRecords.get(replica.partitionId) ?? 0) + 1);
    this.options.logger.error(
      { partitionId: replica.partitionId, mountPath: replica.mountPath, err: error },
      'corrupt record refused',
    );
  }

  failDisk(mountPath: string, reason: string): void {
    if (this.failedDisks.has(mountPath)) return;
    this.failedDisks.add(mountPath);
    for (const replica of this.byPartition.values()) {
      if (replica.mountPath === mountPath) replica.state = 'failed';
    }
    this.options.logger.error({ mountPath, reason }, 'disk marked failed; its replicas are unavailable');
    this.options.onDiskFailed(mountPath, reason);
  }

  /** Closes every open store (clean shutdown: each persists its index and writes its marker). */
  async closeAll(): Promise<void> {
    this.closing = true;
    await Promise.all(
      [...this.byPartition.values()].map(async (replica) => {
        const store = replica.store;
        replica.store = undefined;
        if (replica.state !== 'failed') replica.state = 'opening';
        await store?.close().catch((error: unknown) => {
          this.options.logger.warn(
            { partitionId: replica.partitionId, err: error },
            'store did not close cleanly',
          );
        });
      }),
    );
  }

  private async openReplica(replica: HostedReplica): Promise<void> {
    if (this.failedDisks.has(replica.mountPath)) {
      replica.state = 'failed';
      return;
    }
    const io: StoreIo | undefined = this.faultyIo.get(replica.mountPath);
    try {
      replica.store = await BlobStore.open({
        ...this.options.storeConfig,
        dir: replica.dir,
        capacityBytes: replica.capacityBytes,
        io,
        logger: this.options.logger,
      });
      replica.state = this.failedDisks.has(replica.mountPath) ? 'failed' : 'open';
    } catch (error) {
      replica.state = 'failed';
      this.options.logger.error(
        { partitionId: replica.partitionId, err: error },
        'replica could not be opened',
      );
      this.reportStoreError(replica, error as StoreError);
    }
  }
}

/** Errors that say the disk (not the request or the data) is in trouble. */
function isDiskError(error: StoreError): boolean {
  return (
    error.code === ErrorCode.IO_ERROR ||
    error.code === ErrorCode.REPLICA_UNAVAILABLE ||
    error.code === ErrorCode.DISK_UNAVAILABLE
  );
}
