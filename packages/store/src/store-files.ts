import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { xxh64 } from '@ambry/protocol';
import { DataCorruptError } from './errors.js';
import { ioErrorCode, type StoreIo } from './io.js';
import { ID_BYTES } from './token.js';

/**
 * The two small files beside the log: the descriptor (written once when the store is created: its
 * incarnation id and segment size) and the clean-shutdown marker (written by close, removed on open).
 * Both are written to a temp file, fsynced and renamed. Byte layouts: docs/formats.md, "Store files".
 */

export const DESCRIPTOR_FILE = 'store.descriptor';
export const CLEAN_SHUTDOWN_FILE = 'clean-shutdown';
const DESCRIPTOR_MAGIC = Buffer.from('AMBRYSTD', 'latin1');
const MARKER_MAGIC = Buffer.from('AMBRYCLN', 'latin1');
const FILE_VERSION = 1;

export interface StoreDescriptor {
  readonly incarnation: Buffer;
  readonly segmentBytes: number;
}

async function writeDurably(io: StoreIo, dir: string, name: string, bytes: Buffer): Promise<void> {
  const target = path.join(dir, name);
  const file = await io.open(`${target}.tmp`, 'w+');
  try {
    await file.writev([bytes], 0);
    await file.datasync();
  } finally {
    await file.close();
  }
  await io.rename(`${target}.tmp`, target);
  await io.syncDir(dir);
}

async function readOptional(io: StoreIo, file: string): Promise<Buffer | undefined> {
  try {
    return await io.readFile(file);
  } catch (error) {
    if (ioErrorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

function sealed(body: Buffer): Buffer {
  const out = Buffer.alloc(body.length + 8);
  body.copy(out);
  out.writeBigUInt64LE(xxh64(body), body.length);
  return out;
}

function unseal(bytes: Buffer, magic: Buffer, length: number, what: string): Buffer {
  const body = bytes.subarray(0, length - 8);
  if (
    bytes.length !== length ||
    !body.subarray(0, 8).equals(magic) ||
    body.readUInt16LE(8) !== FILE_VERSION ||
    bytes.readBigUInt64LE(length - 8) !== xxh64(body)
  ) {
    throw new DataCorruptError(`${what} is damaged`);
  }
  return body;
}

const DESCRIPTOR_BYTES = 12 + ID_BYTES + 8 + 8;

export async function readDescriptor(io: StoreIo, dir: string): Promise<StoreDescriptor | undefined> {
  const bytes = await readOptional(io, path.join(dir, DESCRIPTOR_FILE));
  if (bytes === undefined) return undefined;
  const body = unseal(bytes, DESCRIPTOR_MAGIC, DESCRIPTOR_BYTES, `store descriptor in ${dir}`);
  return {
    incarnation: Buffer.from(body.subarray(12, 12 + ID_BYTES)),
    segmentBytes: Number(body.readBigUInt64LE(12 + ID_BYTES)),
  };
}

export async function createDescriptor(
  io: StoreIo,
  dir: string,
  segmentBytes: number,
): Promise<StoreDescriptor> {
  const incarnation = randomBytes(ID_BYTES);
  const body = Buffer.alloc(DESCRIPTOR_BYTES - 8);
  DESCRIPTOR_MAGIC.copy(body, 0);
  body.writeUInt16LE(FILE_VERSION, 8);
  incarnation.copy(body, 12);
  body.writeBigUInt64LE(BigInt(segmentBytes), 12 + ID_BYTES);
  await writeDurably(io, dir, DESCRIPTOR_FILE, sealed(body));
  return { incarnation, segmentBytes };
}

const MARKER_BYTES = 12 + 8 + 8;

/** Log end recorded by the last clean close, or undefined when the last shutdown was not clean. */
export async function takeCleanShutdownMarker(io: StoreIo, dir: string): Promise<number | undefined> {
  const file = path.join(dir, CLEAN_SHUTDOWN_FILE);
  const bytes = await readOptional(io, file);
  if (bytes === undefined) return undefined;
  let logEnd: number | undefined;
  try {
    logEnd = Number(unseal(bytes, MARKER_MAGIC, MARKER_BYTES, 'clean-shutdown marker').readBigUInt64LE(12));
  } catch {
    logEnd = undefined; // a damaged marker only costs a full tail scan
  }
  // Removed before the store takes writes, so a crash from here on is seen as unclean.
  await io.unlink(file);
  await io.syncDir(dir);
  return logEnd;
}

export async function writeCleanShutdownMarker(io: StoreIo, dir: string, logEnd: number): Promise<void> {
  const body = Buffer.alloc(MARKER_BYTES - 8);
  MARKER_MAGIC.copy(body, 0);
  body.writeUInt16LE(FILE_VERSION, 8);
  body.writeBigUInt64LE(BigInt(logEnd), 12);
  await writeDurably(io, dir, CLEAN_SHUTDOWN_FILE, sealed(body));
}

/**
 * The last opens of this store: session id, log end right after recovery, and whether the shutdown
 * before was clean. A journal token from session S cannot trust positions past the log end of any
 * unclean open after S (the records it saw there may have been lost with an unsynced tail and the
 * positions reused), however many restarts ago that was.
 */
export const SESSIONS_FILE = 'sessions';
const SESSIONS_MAGIC = Buffer.from('AMBRYSES', 'latin1');
const SESSION_ENTRY_BYTES = 32;
export const MAX_SESSIONS = 64;

export interface SessionEntry {
  readonly session: Buffer;
  readonly logEnd: number;
  readonly clean: boolean;
}

export class SessionHistory {
  constructor(readonly entries: readonly SessionEntry[]) {}

  /** Where a journal token issued by `session` at `position` may resume. */
  resumePosition(session: Buffer, position: number): number {
    const at = this.entries.findIndex((e) => e.session.equals(session));
    // An unknown session is older than the history: every open since may have been unclean.
    const later = at >= 0 ? this.entries.slice(at + 1).filter((e) => !e.clean) : this.entries;
    return later.reduce((p, e) => Math.min(p, e.logEnd), position);
  }
}

/** Reads the history, appends this open and writes it back durably. A damaged file starts a new history. */
export async function recordSession(io: StoreIo, dir: string, entry: SessionEntry): Promise<SessionHistory> {
  const bytes = await readOptional(io, path.join(dir, SESSIONS_FILE));
  let previous: SessionEntry[] = [];
  if (bytes !== undefined && bytes.length >= 20) {
    const count = bytes.readUInt16LE(10);
    try {
      const body = unseal(bytes, SESSIONS_MAGIC, 12 + count * SESSION_ENTRY_BYTES + 8, 'session history');
      for (let i = 0; i < count; i++) {
        const at = 12 + i * SESSION_ENTRY_BYTES;
        previous.push({
          session: Buffer.from(body.subarray(at, at + ID_BYTES)),
          logEnd: Number(body.readBigUInt64LE(at + ID_BYTES)),
          clean: (body.readUInt8(at + ID_BYTES + 8) & 1) === 1,
        });
      }
    } catch {
      // Without it, every older token is treated as from an unknown session: pulled back, never skipped.
      previous = [];
    }
  }
  const entries = [...previous, entry].slice(-MAX_SESSIONS);
  const body = Buffer.alloc(12 + entries.length * SESSION_ENTRY_BYTES);
  SESSIONS_MAGIC.copy(body, 0);
  body.writeUInt16LE(FILE_VERSION, 8);
  body.writeUInt16LE(entries.length, 10);
  entries.forEach((e, i) => {
    const at = 12 + i * SESSION_ENTRY_BYTES;
    e.session.copy(body, at);
    body.writeBigUInt64LE(BigInt(e.logEnd), at + ID_BYTES);
    body.writeUInt8(e.clean ? 1 : 0, at + ID_BYTES + 8);
  });
  await writeDurably(io, dir, SESSIONS_FILE, sealed(body));
  return new SessionHistory(entries);
}
