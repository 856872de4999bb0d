import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { BlobIndex } from './blob-index.js';
import { DataCorruptError, InvalidStoreArgumentError } from './errors.js';
import { applyRecord } from './life-cycle.js';
import { Log } from './log.js';
import type { ResolvedOptions } from './options.js';
import { RecordType } from './record.js';
import { recoverLogTail } from './recovery.js';
import { SealTracker } from './seal.js';
import {
  createDescriptor,
  readDescriptor,
  recordSession,
  type SessionHistory,
  takeCleanShutdownMarker,
} from './store-files.js';
import { ID_BYTES } from './token.js';

/**
 * Opening a store: create it or check its descriptor, take the clean-shutdown marker, open the log and
 * the persisted index, re-index (and make durable) the log after the last index segment unless the
 * marker says nothing is there, and record this session.
 */

export interface StoreParts {
  readonly log: Log;
  readonly index: BlobIndex;
  readonly incarnation: Buffer;
  readonly seal: SealTracker;
  readonly recovery: { readonly records: number; readonly cutBytes: number; readonly clean: boolean };
  readonly session: Buffer;
  readonly sessions: SessionHistory;
}

export async function openStoreParts(options: ResolvedOptions): Promise<StoreParts> {
  const { io, dir, config, logger } = options;
  await io.mkdir(dir);
  const existing = await readDescriptor(io, dir);
  if (existing === undefined && (await io.readdir(dir)).some((name) => /\.(log|idx)$/.test(name))) {
    // A new incarnation id would silently make every peer's token restart; refuse instead.
    throw new DataCorruptError(`store ${dir} has log or index files but no descriptor`);
  }
  const descriptor = existing ?? (await createDescriptor(io, dir, config.segmentBytes));
  // mkdir may just have created the directory: its own entry must survive a power loss too.
  if (existing === undefined) await io.syncDir(path.dirname(dir));
  if (descriptor.segmentBytes !== config.segmentBytes) {
    throw new InvalidStoreArgumentError(
      `store ${dir} was created with segmentBytes ${descriptor.segmentBytes}, not ${config.segmentBytes}`,
    );
  }
  const cleanEnd = await takeCleanShutdownMarker(io, dir);
  const log = await Log.open(io, dir, config.segmentBytes, config.capacityBytes);
  let index: BlobIndex | undefined;
  try {
    index = await BlobIndex.load(io, dir, config, log.startPosition, (name, error) =>
      logger.warn({ name, err: error }, 'store dropped a damaged index segment; the log will be re-indexed'),
    );
    const clean =
      cleanEnd !== undefined && cleanEnd === log.endPosition && index.checkpoint === log.endPosition;
    let records = 0;
    let cutBytes = 0;
    if (!clean) {
      const loaded = index;
      const scanFrom = index.checkpoint;
      const result = await recoverLogTail(
        log,
        index.checkpoint,
        async (header, position, length) => {
          const current = await loaded.lookup(header.key);
          if (header.type === RecordType.PUT && current !== undefined) {
            logger.warn({ position }, 'store recovery skipped a second PUT of an existing key');
            return;
          }
          const value = applyRecord(current, header, position, length);
          if (value !== undefined)
            loaded.record(header.key, value, position, length, header.type === RecordType.PUT);
        },
        logger,
      );
      records = result.records;
      cutBytes = result.cutBytes ?? 0;
      // What recovery re-indexed may be only in the page cache (a killed process, an unacknowledged
      // batch): it is made durable before anything (an index segment, a later segment) builds on it.
      await log.syncFrom(scanFrom);
      logger.info({ dir, ...result }, 'store recovered its log tail');
    }
    const seal = new SealTracker(config, log.capacityBytes);
    seal.update(log.endPosition);
    const session = randomBytes(ID_BYTES);
    const sessions = await recordSession(io, dir, { session, logEnd: log.endPosition, clean });
    return {
      log,
      index,
      incarnation: descriptor.incarnation,
      seal,
      recovery: { records, cutBytes, clean },
      session,
      sessions,
    };
  } catch (error) {
    await index?.close();
    await log.close().catch(() => {});
    throw error;
  }
}
