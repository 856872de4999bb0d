import {
  type BlobId,
  type BlobProperties,
  type BlobState,
  decodeBlobProperties,
  decodeUserMetadata,
  type MessageInfo,
  type SealState,
  type UserMetadata,
} from '@ambry/protocol';
import type { BlobIndex } from './blob-index.js';
import {
  asStoreError,
  BlobDeletedError,
  BlobExpiredError,
  BlobNotFoundError,
  InvalidStoreArgumentError,
  RangeNotSatisfiableError,
  type StoreError,
  StoreUnavailableError,
} from './errors.js';
import { findEntries } from './find-entries.js';
import {
  FLAG_DELETED,
  FLAG_TTL_UPDATED,
  FLAG_UNDELETED,
  type IndexValue,
  isExpired,
  MAX_EXPIRY_MS,
  NEVER_EXPIRES,
} from './index-value.js';
import { MAX_LIFE_VERSION } from './life-cycle.js';
import type { Log } from './log.js';
import { type ChunkSource, type LogChunk, parseLogChunk, readLogChunk } from './log-chunk.js';
import { type ResolvedOptions, resolveOptions, type StoreOptions } from './options.js';
import { type PutInput, preparePut, validTime } from './put-input.js';
import { readPut, readPutChecksums, type StoredPut } from './put-reader.js';
import { RecordType } from './record.js';
import type { SealTracker } from './seal.js';
import { type SessionHistory, writeCleanShutdownMarker } from './store-files.js';
import { openStoreParts, type StoreParts } from './store-open.js';
import { decodeToken, encodeToken } from './token.js';
import { WritePipeline, type WriteResult } from './write-pipeline.js';

export type { PutInput } from './put-input.js';

/**
 * One partition replica on local disk. See the package README for the API and docs/formats.md for the
 * files. Writes go through the group-commit pipeline; reads consult the index and read the log.
 */

export interface GetOptions {
  readonly includeDeleted?: boolean;
  readonly includeExpired?: boolean;
  /** A byte range of the blob; `length` is clamped to the end of the blob. */
  readonly range?: { readonly offset: number; readonly length: number };
}

export interface UpdateOptions {
  readonly operationTimeMs?: number;
  /** Set by replication: the source's life version. Older than the stored one ⇒ ignored. */
  readonly lifeVersion?: number;
}

export interface BlobInfo {
  readonly id: BlobId;
  readonly properties: BlobProperties;
  /** Exactly the bytes given at PUT. */
  readonly propertiesBytes: Buffer;
  readonly userMetadata: UserMetadata;
  readonly userMetadataBytes: Buffer;
  readonly blobSize: number;
  readonly blobChecksum: bigint;
  readonly state: BlobState;
}

export interface StoredBlob extends BlobInfo {
  /** The whole blob, or the range asked for. */
  readonly blob: Buffer;
  readonly range?: { readonly offset: number; readonly length: number };
}

export interface FindEntriesResult {
  readonly entries: MessageInfo[];
  /** Opaque; pass it to the next call. */
  readonly token: Buffer;
  /** Log bytes after the new token (how far the caller is behind). */
  readonly lagBytes: number;
}

export interface StoreStats {
  readonly bytesUsed: number;
  readonly capacityBytes: number;
  readonly blobCount: number;
  readonly sealState: SealState;
  readonly available: boolean;
  readonly persistedIndexSegments: number;
  readonly memoryRecords: number;
  /** Records re-indexed from the log when the store opened, and bytes cut from a torn tail. */
  readonly recoveredRecords: number;
  readonly recoveryCutBytes: number;
  readonly cleanStart: boolean;
  /** Group commit: write batches appended since open, and the records they held. */
  readonly writeBatches: number;
  readonly batchedRecords: number;
}

type Lifecycle = 'open' | 'closing' | 'closed' | 'failed';

const MISSING_KEYS_PARALLEL = 64;

export class BlobStore {
  private lifecycle: Lifecycle = 'open';
  private failure: StoreError | undefined;
  private readonly pipeline: WritePipeline;
  private syncTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;

  private readonly log: Log;
  private readonly index: BlobIndex;
  private readonly incarnation: Buffer;
  private readonly seal: SealTracker;
  private readonly recovery: StoreParts['recovery'];
  private readonly session: Buffer;
  private readonly sessions: SessionHistory;
  /** What replication reads through: tokens (findEntriesSince) and raw records (readLogChunk). */
  private readonly chunkSource: ChunkSource;

  private constructor(
    private readonly options: ResolvedOptions,
    parts: StoreParts,
  ) {
    ({
      log: this.log,
      index: this.index,
      incarnation: this.incarnation,
      seal: this.seal,
      recovery: this.recovery,
      session: this.session,
      sessions: this.sessions,
    } = parts);
    const { log, index } = parts;
    const { config, logger, clock } = options;
    this.chunkSource = {
      log,
      index,
      incarnation: this.incarnation,
      session: this.session,
      resumePosition: (session, position) => this.sessions.resumePosition(session, position),
    };
    this.pipeline = new WritePipeline(log, index, {
      durable: config.durability === 'group-commit',
      maxBatchBytes: config.maxBatchBytes,
      maxQueuedBytes: config.maxQueuedBytes,
      logger,
      decideContext: () => ({ nowMs: clock(), ttlUpdateBufferMs: config.ttlUpdateBufferMs }),
      refusePutsBecause: (replicated) => this.seal.refusePutsBecause(replicated),
      putChecksums: (value) => readPutChecksums(this.log, value),
      onDiskFull: () => this.seal.markDiskFull(),
      onFatal: (error) => this.fail(error),
      afterBatch: () => this.afterBatch(),
    });
    if (config.durability === 'interval') {
      this.syncTimer = setInterval(() => {
        if (this.log.needsSync) this.log.sync().catch((error: unknown) => this.fail(syncFailure(error)));
      }, config.syncIntervalMs);
      this.syncTimer.unref();
    }
  }

  /** Opens (creating or recovering as needed) the store in `options.dir`. */
  static open(input: StoreOptions): Promise<BlobStore> {
    return BlobStore.openOrThrow(input).catch((error: unknown) => {
      throw asStoreError(error, 'opening the store');
    });
  }

  private static async openOrThrow(input: StoreOptions): Promise<BlobStore> {
    const options = resolveOptions(input);
    return new BlobStore(options, await openStoreParts(options));
  }

  /** Hex of the incarnation id: changes only when the store directory is recreated. */
  get incarnationId(): string {
    return this.incarnation.toString('hex');
  }

  async put(input: PutInput): Promise<WriteResult> {
    this.assertOpen();
    const prepared = preparePut(input, this.options);
    if (!(prepared instanceof Promise)) return this.pipeline.submit(prepared);
    const op = await prepared;
    // Reading a stream yields: the store may have been closed (its log with it) meanwhile.
    this.assertOpen();
    return this.pipeline.submit(op);
  }

  async get(id: BlobId, options: GetOptions = {}): Promise<StoredBlob> {
    const { value, put } = await this.readLive(id, options, 'all');
    const info = this.toInfo(id, value, put);
    const range = options.range;
    if (range === undefined) return { ...info, blob: put.blob! };
    const blobSize = put.blob!.length;
    if (
      !Number.isSafeInteger(range.offset) ||
      !Number.isSafeInteger(range.length) ||
      range.offset < 0 ||
      range.length < 1 ||
      range.offset >= blobSize
    ) {
      throw new RangeNotSatisfiableError(range.offset, range.length, blobSize);
    }
    const length = Math.min(range.length, blobSize - range.offset);
    return {
      ...info,
      blob: put.blob!.subarray(range.offset, range.offset + length),
      range: { offset: range.offset, length },
    };
  }

  /** Properties, user metadata and state, without reading the blob bytes. */
  async getInfo(id: BlobId, options: Omit<GetOptions, 'range'> = {}): Promise<BlobInfo> {
    const { value, put } = await this.readLive(id, options, 'info');
    return this.toInfo(id, value, put);
  }

  delete(id: BlobId, options: UpdateOptions = {}): Promise<WriteResult> {
    return this.update(RecordType.DELETE, id, options);
  }

  /** Sets a new expiry (epoch ms, or -1 for never: what the frontend's TTL update does). */
  updateTtl(id: BlobId, expiresAtMs: number, options: UpdateOptions = {}): Promise<WriteResult> {
    if (!Number.isSafeInteger(expiresAtMs) || expiresAtMs < NEVER_EXPIRES) {
      return Promise.reject(
        new InvalidStoreArgumentError(`expiry ${expiresAtMs} is not an epoch ms value or -1`),
      );
    }
    return this.update(RecordType.TTL_UPDATE, id, options, Math.min(expiresAtMs, MAX_EXPIRY_MS));
  }

  undelete(id: BlobId, options: UpdateOptions = {}): Promise<WriteResult> {
    return this.update(RecordType.UNDELETE, id, options);
  }

  /**
   * Entries changed since `token` (empty = from the beginning), each with its key's current state, until
   * about `maxBytes` of blob records are covered; and the token to continue from.
   */
  async findEntriesSince(token: Uint8Array, maxBytes: number): Promise<FindEntriesResult> {
    this.assertOpen();
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
      throw new InvalidStoreArgumentError(`maxBytes ${maxBytes} must be a positive integer`);
    }
    const decoded = decodeToken(token);
    const found = await findEntries(this.chunkSource, decoded, maxBytes).catch((error: unknown) => {
      throw asStoreError(error, 'finding entries');
    });
    return {
      entries: found.entries.map(({ id, value }) => ({
        blobId: id,
        size: value.putSize,
        expiresAtMs: value.expiresAtMs,
        deleted: (value.flags & FLAG_DELETED) !== 0,
        ttlUpdated: (value.flags & FLAG_TTL_UPDATED) !== 0,
        undeleted: (value.flags & FLAG_UNDELETED) !== 0,
        lifeVersion: value.lifeVersion,
        operationTimeMs: value.operationTimeMs,
        accountId: value.accountId,
        containerId: value.containerId,
      })),
      token: encodeToken(found.token),
      lagBytes: Math.max(0, this.index.indexedEnd - found.position),
    };
  }

  /**
   * Whole records of this store's log after `token` (a journal token of an earlier chunk; empty = the
   * start), up to about `maxBytes` and never past the indexed end: what a peer copies to rebuild an empty
   * replica (`appendLogChunk`). `into`, when at least `maxBytes` long, receives the records (the result
   * points into it) instead of a new buffer. A first record larger than `maxBytes` is sent whole, once
   * `reserve` accepts its size (false: ReadBudgetExceededError, SERVER_BUSY).
   */
  async readLogChunk(
    token: Uint8Array,
    maxBytes: number,
    into?: Buffer,
    reserve?: (bytes: number) => boolean,
  ): Promise<LogChunk> {
    this.assertOpen();
    try {
      return await readLogChunk(this.chunkSource, token, maxBytes, into, reserve);
    } catch (error) {
      this.assertOpen();
      throw asStoreError(error, 'reading a log chunk');
    }
  }

  /**
   * Appends records copied from a peer's log (`readLogChunk` there) at the positions they hold in it.
   * Only a store whose log is a prefix of the source's can take them: the segment sizes must match,
   * the log must end at `logEnd` (where the previous chunk of this copy left it; omitted: an empty log),
   * so no other write slipped in between, and the chunk must start where this log's next record goes.
   * Anything else is refused with InvalidStoreArgumentError and nothing is written. Every record is
   * checked against its checksums first (DataCorruptError). Resolves, once the records are durable and
   * indexed, with the log's end after them: the `logEnd` of the next chunk.
   */
  async appendLogChunk(
    chunk: { readonly position: number; readonly segmentBytes: number; readonly records: Uint8Array },
    logEnd: number = this.log.startPosition,
  ): Promise<number> {
    this.assertOpen();
    const { records, bytes } = parseLogChunk(chunk, this.log.segmentBytes);
    if (records.length === 0) return logEnd;
    await this.pipeline.submit({ type: 'import', records, bytes, logEnd });
    return chunk.position + bytes;
  }

  /** The ids this store holds no PUT for (deleted or expired blobs count as present). */
  async findMissingKeys(ids: readonly BlobId[]): Promise<BlobId[]> {
    this.assertOpen();
    const missing: BlobId[] = [];
    try {
      // In slices, so reads of persisted blocks (bloom false positives, mostly) overlap but stay bounded.
      for (let at = 0; at < ids.length; at += MISSING_KEYS_PARALLEL) {
        const slice = ids.slice(at, at + MISSING_KEYS_PARALLEL);
        const values = await Promise.all(slice.map((id) => this.index.lookup(id.toBytes())));
        values.forEach((value, i) => {
          if (value === undefined) missing.push(slice[i]!);
        });
      }
    } catch (error) {
      throw asStoreError(error, 'looking up keys');
    }
    return missing;
  }

  stats(): StoreStats {
    return {
      bytesUsed: this.log.endPosition,
      capacityBytes: this.log.capacityBytes,
      blobCount: this.index.putCount,
      sealState: this.seal.state,
      available: this.lifecycle === 'open',
      persistedIndexSegments: this.index.persistedSegments.length,
      memoryRecords: this.index.memoryRecords,
      recoveredRecords: this.recovery.records,
      recoveryCutBytes: this.recovery.cutBytes,
      cleanStart: this.recovery.clean,
      writeBatches: this.pipeline.batches,
      batchedRecords: this.pipeline.batchedRecords,
    };
  }

  /**
   * Finishes queued writes, makes everything durable, persists the in-memory index and writes the
   * clean-shutdown marker, so the next open scans nothing.
   */
  close(): Promise<void> {
    // Every caller waits for the one close: a second call returning early would let its caller reopen
    // the directory while the first is still writing to it.
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    if (this.lifecycle === 'closed' || this.lifecycle === 'closing') return;
    const wasFailed = this.lifecycle === 'failed';
    this.lifecycle = 'closing';
    clearInterval(this.syncTimer);
    try {
      await this.pipeline.idle();
      if (this.failure === undefined) {
        await this.syncOrFail();
        await this.index.settled().catch(() => {});
        await this.index.persist(this.index.indexedEnd, () => this.syncOrFail());
        // The first call only retries a part frozen by an earlier failed persist, if there is one.
        await this.index.persist(this.index.indexedEnd, () => this.syncOrFail());
        await writeCleanShutdownMarker(this.options.io, this.options.dir, this.log.endPosition);
      } else if (!wasFailed) {
        throw this.failure;
      }
    } catch (error) {
      throw asStoreError(error, 'closing the store');
    } finally {
      this.lifecycle = 'closed';
      await this.index.close();
      await this.log.close().catch(() => {});
    }
  }

  private async update(
    type: RecordType.DELETE | RecordType.TTL_UPDATE | RecordType.UNDELETE,
    id: BlobId,
    options: UpdateOptions,
    expiresAtMs?: number,
  ): Promise<WriteResult> {
    this.assertOpen();
    const lifeVersion = options.lifeVersion;
    if (
      lifeVersion !== undefined &&
      (!Number.isInteger(lifeVersion) || lifeVersion < 0 || lifeVersion > MAX_LIFE_VERSION)
    ) {
      throw new InvalidStoreArgumentError(`life version ${lifeVersion} is out of range`);
    }
    return this.pipeline.submit({
      type: 'update',
      key: id.toBytes(),
      request: {
        type,
        keyText: id.toString(),
        operationTimeMs: validTime(options.operationTimeMs ?? this.options.clock()),
        expiresAtMs,
        lifeVersion,
      },
    });
  }

  private async readLive(
    id: BlobId,
    options: GetOptions,
    part: 'all' | 'info',
  ): Promise<{ value: IndexValue; put: StoredPut }> {
    this.assertOpen();
    const keyText = id.toString();
    try {
      const value = await this.index.lookup(id.toBytes());
      if (value === undefined) throw new BlobNotFoundError(keyText);
      if ((value.flags & FLAG_DELETED) !== 0 && options.includeDeleted !== true)
        throw new BlobDeletedError(keyText);
      if (isExpired(value, this.options.clock()) && options.includeExpired !== true)
        throw new BlobExpiredError(keyText);
      return { value, put: await readPut(this.log, value, part) };
    } catch (error) {
      // A read that outlived close finds the files closed: that is no I/O error and no corruption.
      this.assertOpen();
      throw asStoreError(error, `reading blob ${keyText}`);
    }
  }

  private toInfo(id: BlobId, value: IndexValue, put: StoredPut): BlobInfo {
    return {
      id,
      properties: decodeBlobProperties(put.propertiesBytes),
      propertiesBytes: put.propertiesBytes,
      userMetadata: decodeUserMetadata(put.userMetadataBytes),
      userMetadataBytes: put.userMetadataBytes,
      blobSize: put.blobSize,
      blobChecksum: put.blobChecksum,
      state: {
        deleted: (value.flags & FLAG_DELETED) !== 0,
        expired: isExpired(value, this.options.clock()),
        ttlUpdated: (value.flags & FLAG_TTL_UPDATED) !== 0,
        lifeVersion: value.lifeVersion,
        expiresAtMs: value.expiresAtMs,
        operationTimeMs: value.operationTimeMs,
      },
    };
  }

  private afterBatch(): void {
    this.seal.update(this.log.endPosition);
    if (this.index.shouldPersist) {
      this.index
        .persist(this.index.indexedEnd, () => this.syncOrFail())
        .catch((error: unknown) => {
          this.options.logger.error({ err: error }, 'store could not persist an index segment; will retry');
        });
    }
  }

  /** Log fsync whose failure stops the store: after a failed fsync a retry may "succeed" on lost pages. */
  private syncOrFail(): Promise<void> {
    return this.log.sync().catch((error: unknown) => {
      const failure = syncFailure(error);
      this.fail(failure);
      throw failure;
    });
  }

  private fail(error: StoreError): void {
    // Also while closing: close must not go on to persist and mark a clean shutdown after a failed fsync.
    if (this.failure !== undefined || this.lifecycle === 'closed') return;
    if (this.lifecycle === 'open') this.lifecycle = 'failed';
    this.failure = error;
    clearInterval(this.syncTimer);
    this.options.logger.error({ err: error, dir: this.options.dir }, 'store stopped serving');
    this.pipeline.abort(error);
  }

  private assertOpen(): void {
    if (this.lifecycle === 'open') return;
    if (this.lifecycle === 'failed') throw this.failure!;
    throw new StoreUnavailableError(`store ${this.options.dir} is ${this.lifecycle}`);
  }
}

function syncFailure(error: unknown): StoreError {
  return new StoreUnavailableError(`log fsync failed (${String(error)})`, { cause: error });
}
