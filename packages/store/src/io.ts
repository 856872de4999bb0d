/**
 * The one seam every file operation of the store goes through. The default implementation is plain
 * `node:fs/promises`; tests and the fault suite swap in `FaultyIo` (faulty-io.ts), which can fail any
 * call, cut a write short at any byte, add latency and count calls, all deterministically.
 */

/** Names of the operations, as counted and targeted by fault injection. */
export type IoOp =
  | 'open'
  | 'read'
  | 'writev'
  | 'datasync'
  | 'truncate'
  | 'size'
  | 'close'
  | 'readFile'
  | 'rename'
  | 'unlink'
  | 'readdir'
  | 'mkdir'
  | 'syncDir';

export const IO_OPS: readonly IoOp[] = [
  'open',
  'read',
  'writev',
  'datasync',
  'truncate',
  'size',
  'close',
  'readFile',
  'rename',
  'unlink',
  'readdir',
  'mkdir',
  'syncDir',
];

/**
 * How a file is opened, with node's flag meanings: 'r' read only; 'r+' read-write, must exist;
 * 'wx+' read-write, created, fails when it exists; 'w+' read-write, created or truncated.
 */
export type OpenFlags = 'r' | 'r+' | 'wx+' | 'w+';

export interface StoreFile {
  readonly path: string;
  /** Reads up to `length` bytes at `position` into `buffer[offset..]`; resolves to the bytes read (short only at end of file). */
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<number>;
  /** Writes the buffers back to back starting at `position`. Rejects when not every byte was written. */
  writev(buffers: readonly Buffer[], position: number): Promise<void>;
  /** fdatasync: data and the metadata needed to read it back (the size) reach stable storage. */
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

export interface StoreIo {
  open(path: string, flags: OpenFlags): Promise<StoreFile>;
  /** Whole small file (descriptor, marker); rejects with code ENOENT when missing. */
  readFile(path: string): Promise<Buffer>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Names (not paths) of the entries of `dir`. */
  readdir(dir: string): Promise<string[]>;
  /** mkdir -p */
  mkdir(dir: string): Promise<void>;
  /** fsync of a directory, so created, renamed and removed names survive a power loss. */
  syncDir(dir: string): Promise<void>;
}

/** The node error code of an I/O failure (`ENOSPC`, `EIO`, `ENOENT`, ...), if it has one. */
export function ioErrorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
