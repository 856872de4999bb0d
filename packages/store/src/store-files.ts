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
