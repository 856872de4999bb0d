import type { Logger } from '@ambry/protocol';
import type { BlobIndex } from './blob-index.js';
import { keyString } from './blob-index.js';
import {
  asStoreError,
  BlobAlreadyExistsError,
  DiskFullError,
  InvalidStoreArgumentError,
  StoreBusyError,
  type StoreError,
  StoreIoError,
  StoreReadOnlyError,
  StoreUnavailableError,
} from './errors.js';
import type { IndexValue } from './index-value.js';
import { ioErrorCode } from './io.js';
import {
  type AppliedFields,
  applyRecord,
  type DecideContext,
  decideUpdate,
  type UpdateRequest,
} from './life-cycle.js';
import type { AppendItem, Log } from './log.js';
import type { ChunkRecord } from './log-chunk.js';
import { type EncodedPut, encodeUpdateRecord, type PutRecordFields, RecordType } from './record.js';

/**
 * Group commit. Writes queue up; one loop takes everything queued (up to a byte bound), decides each
 * operation against the index plus the effects of earlier operations in the same batch, appends all
 * records with one write per segment, fsyncs once, and only then makes them visible in the index and
 * resolves their promises. Readers therefore never see a record that is not whole (and, under the
 * default policy, durable).
 */

export interface WriteResult {
  /** Life version of the blob after the operation. */
  readonly lifeVersion: number;
  /** False when the operation was a no-op: an identical retried PUT, or a replicated update older than the stored state. */
  readonly applied: boolean;
}

export interface PutChecksums {
  readonly propertiesChecksum: bigint;
  readonly userMetadataChecksum: bigint;
  readonly blobChecksum: bigint;
}

export type WriteOp =
  | {
      readonly type: 'put';
      readonly key: Buffer;
      readonly keyText: string;
      readonly fields: PutRecordFields;
      readonly encoded: EncodedPut;
      /** A copy written by replication: a sealed store still takes it (see seal.ts). */
      readonly replicated: boolean;
    }
  | { readonly type: 'update'; readonly key: Buffer; readonly request: UpdateRequest }
  /** Records copied from a peer's log, to land at the positions they hold there (log-chunk.ts). */
  | {
      readonly type: 'import';
      readonly records: readonly ChunkRecord[];
      readonly bytes: number;
      /** Where the log must end before them: nothing else was written since the copy's last chunk. */
      readonly logEnd: number;
    };

interface Queued {
  readonly op: WriteOp;
  readonly bytes: number;
  readonly resolve: (result: WriteResult) => void;
  readonly reject: (error: unknown) => void;
}

/** One record to append, and what the index learns from it once it is durable. */
interface Append {
  readonly key: Buffer;
  readonly item: AppendItem;
  readonly position: number;
  /** The key's state after the record; undefined: written but not indexed (a copied update whose PUT is unknown). */
  readonly value: IndexValue | undefined;
  readonly isPut: boolean;
}

interface Prepared {
  readonly queued: Queued;
  readonly result: WriteResult;
  readonly append?: Append;
}

export interface PipelineHooks {
  readonly durable: boolean;
  readonly maxBatchBytes: number;
  readonly maxQueuedBytes: number;
  readonly logger: Logger;
  readonly decideContext: () => DecideContext;
  /** Why PUTs are refused right now, or undefined when they are accepted. */
  readonly refusePutsBecause: (replicated: boolean) => string | undefined;
  /** Checksums of the PUT a value points at (read from the log), to tell a retried PUT from a conflicting one. */
  readonly putChecksums: (value: IndexValue) => Promise<PutChecksums>;
  readonly onDiskFull: (error: unknown) => void;
  /** The store cannot go on (a failed fsync, a write it could not cut back). */
  readonly onFatal: (error: StoreError) => void;
  readonly afterBatch: () => void;
}

export class WritePipeline {
  private readonly queue: Queued[] = [];
  private queuedBytes = 0;
  private running: Promise<void> | undefined;
  /** Batches appended and records in them, so callers can see how well group commit batches. */
  batches = 0;
  batchedRecords = 0;

  constructor(
    private readonly log: Log,
    private readonly index: BlobIndex,
    private readonly hooks: PipelineHooks,
  ) {}

  submit(op: WriteOp): Promise<WriteResult> {
    const bytes = op.type === 'put' ? op.encoded.length : op.type === 'import' ? op.bytes : 128;
    if (this.queuedBytes + bytes > this.hooks.maxQueuedBytes && this.queue.length > 0) {
      return Promise.reject(new StoreBusyError(this.queuedBytes + bytes, this.hooks.maxQueuedBytes));
    }
    return new Promise<WriteResult>((resolve, reject) => {
      this.queue.push({ op, bytes, resolve, reject });
      this.queuedBytes += bytes;
      this.kick();
    });
  }

  private kick(): void {
    if (this.running !== undefined) return;
    this.running = this.drainQueue().finally(() => {
      this.running = undefined;
      // A write queued between the loop's last check and this callback would otherwise wait forever.
      if (this.queue.length > 0) this.kick();
    });
  }

  /** Resolves once every write submitted so far has been settled. */
  async idle(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  /** Rejects everything still queued (the store failed or is closing). */
  abort(error: unknown): void {
    for (const queued of this.queue.splice(0)) queued.reject(error);
    this.queuedBytes = 0;
  }

  private async drainQueue(): Promise<void> {
    while (this.queue.length > 0) {
      // One turn of the event loop before forming a batch: writers released by the previous batch (or
      // arriving together) get to queue, so they share this fsync instead of waiting for the next.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const batch: Queued[] = [];
      let bytes = 0;
      // An import is a batch of its own: its records must land exactly where its source had them.
      while (
        this.queue.length > 0 &&
        (batch.length === 0 ||
          (bytes + this.queue[0]!.bytes <= this.hooks.maxBatchBytes &&
            batch[0]!.op.type !== 'import' &&
            this.queue[0]!.op.type !== 'import'))
      ) {
        const next = this.queue.shift()!;
        bytes += next.bytes;
        batch.push(next);
      }
      this.queuedBytes -= bytes;
      try {
        await this.writeBatch(batch);
      } catch (error) {
        // writeBatch settles every operation itself; anything escaping is a bug, surfaced on the batch.
        for (const queued of batch) queued.reject(error);
      }
    }
  }

  private async writeBatch(batch: readonly Queued[]): Promise<void> {
    if (batch[0]!.op.type === 'import') return this.writeImport(batch[0]!);
    const overlay = new Map<string, IndexValue | undefined>();
    const batchPuts = new Map<string, EncodedPut>();
    const nextPosition = this.log.planner();
    const ctx = this.hooks.decideContext();
    const prepared: Prepared[] = [];

    // Index lookups of the whole batch run together, so reads of persisted blocks overlap.
    const lookups = new Map<string, Promise<IndexValue | undefined>>();
    for (const { op } of batch) {
      if (op.type === 'import') continue;
      const keyText = op.type === 'put' ? op.keyText : op.request.keyText;
      if (!lookups.has(keyText)) {
        const lookup = this.index.lookup(op.key);
        lookup.catch(() => {}); // observed where it is awaited; this keeps an unawaited one from being unhandled
        lookups.set(keyText, lookup);
      }
    }
    for (const queued of batch) {
      const { op } = queued;
      if (op.type === 'import') continue; // never batched with others (drainQueue)
      try {
        const keyText = op.type === 'put' ? op.keyText : op.request.keyText;
        const current = overlay.has(keyText) ? overlay.get(keyText) : await lookups.get(keyText);
        let header: AppliedFields;
        let item: AppendItem;
        if (op.type === 'put') {
          if (current !== undefined) {
            const existing = batchPuts.get(keyText) ?? (await this.hooks.putChecksums(current));
            if (!sameContent(existing, op.encoded)) throw new BlobAlreadyExistsError(keyText);
            prepared.push({ queued, result: { lifeVersion: current.lifeVersion, applied: false } });
            continue;
          }
          const refusal = this.hooks.refusePutsBecause(op.replicated);
          if (refusal !== undefined) throw new StoreReadOnlyError(refusal);
          header = { ...op.fields, type: RecordType.PUT };
          item = { length: op.encoded.length, buffers: op.encoded.buffers };
          batchPuts.set(keyText, op.encoded);
        } else {
          const decision = decideUpdate(current, op.request, ctx);
          if (decision.kind === 'ignore') {
            prepared.push({ queued, result: { lifeVersion: decision.lifeVersion, applied: false } });
            continue;
          }
          const fields = {
            type: op.request.type,
            key: op.key,
            lifeVersion: decision.lifeVersion,
            accountId: current!.accountId,
            containerId: current!.containerId,
            operationTimeMs: op.request.operationTimeMs,
            expiresAtMs: decision.expiresAtMs,
          };
          header = fields;
          const record = encodeUpdateRecord(fields);
          item = { length: record.length, buffers: [record] };
        }
        const position = nextPosition(item.length);
        const value = applyRecord(current, header, position, item.length)!;
        overlay.set(keyText, value);
        prepared.push({
          queued,
          result: { lifeVersion: value.lifeVersion, applied: true },
          append: { key: op.key, item, position, value, isPut: header.type === RecordType.PUT },
        });
      } catch (error) {
        queued.reject(asStoreError(error, 'preparing the write'));
      }
    }

    const failure = await this.commit(prepared.flatMap((p) => (p.append === undefined ? [] : [p.append])));
    if (failure !== undefined) {
      for (const p of prepared) p.queued.reject(failure);
      return;
    }
    for (const p of prepared) p.queued.resolve(p.result);
    this.hooks.afterBatch();
  }

  /**
   * Appends copied records where their source had them: each must be planned at its own position (the
   * log is a prefix of the source's), and a PUT must not meet a key already here. Update records whose
   * PUT is unknown are written but not indexed, as recovery treats them.
   */
  private async writeImport(queued: Queued): Promise<void> {
    const op = queued.op as Extract<WriteOp, { type: 'import' }>;
    const appends: Append[] = [];
    try {
      if (this.log.endPosition !== op.logEnd) {
        throw new InvalidStoreArgumentError(
          `the log ends at ${this.log.endPosition}, not at ${op.logEnd} where the copy left it: another write came between`,
        );
      }
      const nextPosition = this.log.planner();
      const overlay = new Map<string, IndexValue | undefined>();
      const lookups = await Promise.all(op.records.map((r) => this.index.lookup(r.header.key)));
      for (const [i, record] of op.records.entries()) {
        const planned = nextPosition(record.bytes.length);
        if (planned !== record.position) {
          throw new InvalidStoreArgumentError(
            `copied record at ${record.position} would land at ${planned}: this log is not a prefix of its source`,
          );
        }
        const key = keyString(record.header.key);
        const current = overlay.has(key) ? overlay.get(key) : lookups[i];
        if (record.header.type === RecordType.PUT) {
          if (current !== undefined) {
            throw new InvalidStoreArgumentError(
              `copied PUT at ${record.position} meets a key this log already holds: not a prefix of its source`,
            );
          }
          const refusal = this.hooks.refusePutsBecause(true);
          if (refusal !== undefined) throw new StoreReadOnlyError(refusal);
        }
        const value = applyRecord(current, record.header, record.position, record.bytes.length);
        if (value !== undefined) overlay.set(key, value);
        appends.push({
          key: record.header.key,
          item: { length: record.bytes.length, buffers: [record.bytes] },
          position: record.position,
          value,
          isPut: record.header.type === RecordType.PUT,
        });
      }
    } catch (error) {
      queued.reject(asStoreError(error, 'importing copied records'));
      return;
    }
    const failure = await this.commit(appends);
    if (failure !== undefined) {
      queued.reject(failure);
      return;
    }
    queued.resolve({ lifeVersion: 0, applied: appends.length > 0 });
    this.hooks.afterBatch();
  }

  /**
   * Appends the records durably, then makes them visible in the index: readers never see a record that
   * is not whole (and, under the default policy, durable). Returns the error to give the batch, if any.
   */
  private async commit(appends: readonly Append[]): Promise<StoreError | undefined> {
    if (appends.length === 0) return undefined;
    const failure = await this.appendDurably(appends);
    if (failure !== undefined) return failure;
    this.batches += 1;
    this.batchedRecords += appends.length;
    for (const { key, value, position, item, isPut } of appends) {
      if (value !== undefined) this.index.record(key, value, position, item.length, isPut);
    }
    return undefined;
  }

  /** Appends (and fsyncs, under the durable policy); returns the error to give the batch, if any. */
  private async appendDurably(appends: readonly Append[]): Promise<StoreError | undefined> {
    try {
      await this.log.append(
        appends.map((a) => a.item),
        appends.map((a) => a.position),
      );
    } catch (error) {
      const cutBack = (error as { cutBack?: boolean }).cutBack !== false;
      const code = ioErrorCode(error);
      const failure =
        code === 'ENOSPC'
          ? new DiskFullError('the file system is full', { cause: error })
          : new StoreIoError(`log write failed (${code ?? String(error)})`, { cause: error });
      if (code === 'ENOSPC') this.hooks.onDiskFull(error);
      if ((error as { syncFailed?: boolean }).syncFailed === true) {
        // A segment fsync at a roll-over failed: as below, the page cache state is unknown.
        const fatal = new StoreUnavailableError(`log fsync failed (${code ?? String(error)})`, {
          cause: error,
        });
        this.hooks.onFatal(fatal);
        return fatal;
      }
      if (!cutBack) {
        this.hooks.onFatal(
          new StoreUnavailableError('a failed log write could not be cut back', { cause: error }),
        );
      }
      this.hooks.logger.error({ err: error, cutBack }, 'store log write failed');
      return failure;
    }
    if (!this.hooks.durable) return undefined;
    try {
      await this.log.sync();
      return undefined;
    } catch (error) {
      // After a failed fsync the page cache state is unknown (fsyncgate): stop rather than guess.
      const fatal = new StoreUnavailableError(`log fsync failed (${ioErrorCode(error) ?? String(error)})`, {
        cause: error,
      });
      this.hooks.onFatal(fatal);
      return fatal;
    }
  }
}

function sameContent(a: PutChecksums, b: PutChecksums): boolean {
  return (
    a.blobChecksum === b.blobChecksum &&
    a.propertiesChecksum === b.propertiesChecksum &&
    a.userMetadataChecksum === b.userMetadataChecksum
  );
}
