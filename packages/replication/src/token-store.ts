import { mkdir } from 'node:fs/promises';
import type { Logger } from '@ambry/protocol';
import type { RemoteReplica } from './remote-replica.js';
import { readTokenFile, TokenFileError, writeTokenFile } from './token-file.js';

/**
 * The token files of this node, one per local disk (`<dir>/replica-tokens`). Loading matches persisted
 * entries to the current (partition, peer) pairs and drops the rest. Flushing rewrites the file of each
 * disk whose tokens moved; writes of one disk never overlap.
 *
 * Safety: a replica's in-memory token only moves after every write of its batch resolved, and the store
 * resolves a write once it is fsynced; so any token this writes covers data already durable here.
 */
export class TokenStore {
  private readonly dirty = new Set<string>();
  private readonly writing = new Map<string, Promise<void>>();
  flushes = 0;
  flushErrors = 0;

  constructor(
    /** Token directory of every local disk, by mount path. */
    private readonly dirs: ReadonlyMap<string, string>,
    private readonly replicas: readonly RemoteReplica[],
    private readonly logger: Logger,
    /** Incarnation id of a partition's open local store; undefined when it is not open. */
    private readonly localIncarnation: (partitionId: number) => string | undefined = () => undefined,
  ) {}

  /** Restores tokens from disk; a damaged file is logged and ignored (replication restarts from the beginning). */
  async load(): Promise<{ restored: number; damaged: string[]; stale: number }> {
    const index = new Map(this.replicas.map((r) => [key(r.partitionId, r.peerKey), r]));
    let restored = 0;
    let stale = 0;
    const damaged: string[] = [];
    for (const dir of new Set(this.dirs.values())) {
      let entries: Awaited<ReturnType<typeof readTokenFile>>;
      try {
        entries = await readTokenFile(dir);
      } catch (error) {
        if (!(error instanceof TokenFileError)) throw error;
        this.logger.warn({ err: error, dir }, 'replica token file is damaged; replicating from the start');
        damaged.push(dir);
        continue;
      }
      for (const entry of entries) {
        const replica = index.get(key(entry.partitionId, entry.peer));
        if (replica === undefined || this.dirs.get(replica.localDisk.mountPath) !== dir) continue;
        // A token describes what went into one local store: after the replica was wiped or its disk
        // replaced (another incarnation), it starts over. A store not open now is checked when it is.
        const current = this.localIncarnation(entry.partitionId);
        if (current !== undefined && current !== entry.localIncarnation) {
          stale += 1;
          continue;
        }
        replica.token = entry.token;
        replica.localIncarnation = entry.localIncarnation;
        replica.lagBytes = entry.lagBytes;
        restored += 1;
      }
    }
    if (stale > 0) {
      this.logger.info({ stale }, 'tokens of recreated local replicas dropped; those replicas start over');
    }
    return { restored, damaged, stale };
  }

  markDirty(replica: RemoteReplica): void {
    this.dirty.add(replica.localDisk.mountPath);
  }

  get pending(): boolean {
    return this.dirty.size > 0;
  }

  /** Writes the file of every disk whose tokens moved since its last write. Never rejects. */
  async flush(): Promise<void> {
    const disks = [...this.dirty];
    this.dirty.clear();
    await Promise.all(disks.map((disk) => this.flushDisk(disk)));
  }

  private flushDisk(mountPath: string): Promise<void> {
    const previous = this.writing.get(mountPath) ?? Promise.resolve();
    const next = previous.then(async () => {
      const dir = this.dirs.get(mountPath)!;
      // Snapshot at write time: the newest tokens, all covering durable data.
      const entries = this.replicas
        .filter((r) => r.localDisk.mountPath === mountPath && r.token.length > 0)
        .map((r) => ({
          partitionId: r.partitionId,
          peer: r.peerKey,
          token: r.token,
          lagBytes: r.lagBytes ?? 0,
          localIncarnation: r.localIncarnation,
        }));
      try {
        await mkdir(dir, { recursive: true });
        await writeTokenFile(dir, entries);
        this.flushes += 1;
      } catch (error) {
        this.flushErrors += 1;
        this.dirty.add(mountPath); // try again next flush
        this.logger.error({ err: error, dir }, 'could not write the replica token file');
      }
    });
    this.writing.set(mountPath, next);
    return next;
  }
}

function key(partitionId: number, peer: string): string {
  return `${partitionId}@${peer}`;
}
