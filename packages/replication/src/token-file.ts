import { open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { xxh64 } from '@ambry/protocol';

/**
 * The replication tokens of one disk: for every (local partition, peer) pair, the peer's store token
 * this node will send next. Layout (little-endian, like every file a data node keeps for itself):
 *
 *   0   8  bytes  magic `AMBRYRTK`
 *   8   2  u16    version 2 (version 1 files, without localIncarnation, are still read)
 *   10  2  u16    reserved 0
 *   12  4  u32    count of entries
 *   16  .. entry  `count` times: partitionId u32 · peer str (u16 length + UTF-8 `host:port`)
 *                 · lagBytes u64 · token (u32 length + bytes, the peer store's find token)
 *                 · localIncarnation str (version 2: the local store's incarnation id the token's
 *                   data was written to, hex; empty = unknown)
 *   ..  8  u64    checksum: xxh64 (seed 0) of every byte before it
 *
 * See docs/formats.md section 15.
 *
 * Written to `replica-tokens.tmp`, fsynced, renamed over `replica-tokens`, and the directory fsynced.
 */

export const TOKEN_FILE_NAME = 'replica-tokens';
const MAGIC = Buffer.from('AMBRYRTK', 'latin1');
const VERSION = 2;
const OLDEST_VERSION = 1;
const HEADER_BYTES = 16;
const MAX_TOKEN_BYTES = 64 * 1024;

export interface PersistedToken {
  readonly partitionId: number;
  /** The peer as `host:port` (the cluster map's node key). */
  readonly peer: string;
  readonly token: Uint8Array;
  /** Lag the peer reported with this token; informative (lag() before the first round). */
  readonly lagBytes: number;
  /**
   * Incarnation id of the local store the token's data went to ('' = unknown, a version-1 file). A
   * token whose local store has another incarnation (the replica was wiped or its disk replaced) is
   * dropped: that replica starts again from the peer's beginning.
   */
  readonly localIncarnation: string;
}

export class TokenFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenFileError';
  }
}

export function encodeTokenFile(entries: readonly PersistedToken[]): Buffer {
  const parts: Buffer[] = [];
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt16LE(VERSION, 8);
  header.writeUInt16LE(0, 10);
  header.writeUInt32LE(entries.length, 12);
  parts.push(header);
  for (const entry of entries) {
    const peer = Buffer.from(entry.peer, 'utf8');
    if (peer.length > 0xffff) throw new TokenFileError(`peer name of ${peer.length} bytes is too long`);
    if (entry.token.length > MAX_TOKEN_BYTES)
      throw new TokenFileError(`token of ${entry.token.length} bytes is too long`);
    const fixed = Buffer.alloc(4 + 2);
    fixed.writeUInt32LE(entry.partitionId, 0);
    fixed.writeUInt16LE(peer.length, 4);
    const tail = Buffer.alloc(8 + 4);
    tail.writeBigUInt64LE(BigInt(entry.lagBytes), 0);
    tail.writeUInt32LE(entry.token.length, 8);
    const incarnation = Buffer.from(entry.localIncarnation, 'utf8');
    if (incarnation.length > 0xffff) throw new TokenFileError('local incarnation id is too long');
    const incarnationLength = Buffer.alloc(2);
    incarnationLength.writeUInt16LE(incarnation.length, 0);
    parts.push(fixed, peer, tail, Buffer.from(entry.token), incarnationLength, incarnation);
  }
  const body = Buffer.concat(parts);
  const checksum = Buffer.alloc(8);
  checksum.writeBigUInt64LE(xxh64(body), 0);
  return Buffer.concat([body, checksum]);
}

export function decodeTokenFile(bytes: Buffer): PersistedToken[] {
  if (bytes.length < HEADER_BYTES + 8)
    throw new TokenFileError(`token file of ${bytes.length} bytes is truncated`);
  if (!bytes.subarray(0, 8).equals(MAGIC)) throw new TokenFileError('token file has a bad magic');
  const body = bytes.subarray(0, bytes.length - 8);
  if (bytes.readBigUInt64LE(bytes.length - 8) !== xxh64(body))
    throw new TokenFileError('token file checksum mismatch');
  const version = bytes.readUInt16LE(8);
  if (version < OLDEST_VERSION || version > VERSION)
    throw new TokenFileError(`token file version ${version} is not supported`);
  const count = bytes.readUInt32LE(12);
  const entries: PersistedToken[] = [];
  let at = HEADER_BYTES;
  const need = (n: number) => {
    if (at + n > body.length) throw new TokenFileError('token file entry is truncated');
  };
  for (let i = 0; i < count; i++) {
    need(6);
    const partitionId = body.readUInt32LE(at);
    const peerLength = body.readUInt16LE(at + 4);
    at += 6;
    need(peerLength + 12);
    const peer = new TextDecoder('utf-8', { fatal: true }).decode(body.subarray(at, at + peerLength));
    at += peerLength;
    const lag = body.readBigUInt64LE(at);
    const tokenLength = body.readUInt32LE(at + 8);
    at += 12;
    if (lag > BigInt(Number.MAX_SAFE_INTEGER)) throw new TokenFileError('token file lag is out of range');
    if (tokenLength > MAX_TOKEN_BYTES) throw new TokenFileError(`token of ${tokenLength} bytes is too long`);
    need(tokenLength);
    const token = Buffer.from(body.subarray(at, at + tokenLength));
    at += tokenLength;
    let localIncarnation = '';
    if (version >= 2) {
      need(2);
      const length = body.readUInt16LE(at);
      at += 2;
      need(length);
      localIncarnation = new TextDecoder('utf-8', { fatal: true }).decode(body.subarray(at, at + length));
      at += length;
    }
    entries.push({ partitionId, peer, token, lagBytes: Number(lag), localIncarnation });
  }
  if (at !== body.length) throw new TokenFileError('token file has trailing bytes');
  return entries;
}

/** Reads the token file of a directory: [] when there is none. A damaged file throws TokenFileError. */
export async function readTokenFile(dir: string): Promise<PersistedToken[]> {
  let bytes: Buffer;
  try {
    bytes = await readFile(join(dir, TOKEN_FILE_NAME));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return decodeTokenFile(bytes);
}

/** Replaces the token file atomically: temp file, fsync, rename, fsync of the directory. */
export async function writeTokenFile(dir: string, entries: readonly PersistedToken[]): Promise<void> {
  const target = join(dir, TOKEN_FILE_NAME);
  const temp = `${target}.tmp`;
  const bytes = encodeTokenFile(entries);
  const file = await open(temp, 'w');
  try {
    await file.writeFile(bytes);
    await file.sync();
  } catch (error) {
    await file.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw error;
  }
  await file.close();
  await rename(temp, target);
  const directory = await open(dir, 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}
