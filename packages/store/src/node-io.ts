import fsCallbacks from 'node:fs';
import * as fs from 'node:fs/promises';
import type { OpenFlags, StoreFile, StoreIo } from './io.js';

class NodeFile implements StoreFile {
  constructor(
    readonly path: string,
    private readonly fh: fs.FileHandle,
  ) {}

  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    // A single read may return fewer bytes than asked without being at end of file. The callback API:
    // FileHandle.read costs about 1.5x more main-thread time per call, which bounds small-GET rates.
    let total = 0;
    while (total < length) {
      const bytesRead = await new Promise<number>((resolve, reject) =>
        fsCallbacks.read(this.fh.fd, buffer, offset + total, length - total, position + total, (error, n) =>
          error ? reject(error) : resolve(n),
        ),
      );
      if (bytesRead === 0) break;
      total += bytesRead;
    }
    return total;
  }

  async writev(buffers: readonly Buffer[], position: number): Promise<void> {
    let remaining = buffers.filter((b) => b.length > 0);
    let pos = position;
    while (remaining.length > 0) {
      const { bytesWritten } = await this.fh.writev(remaining, pos);
      if (bytesWritten <= 0) {
        throw Object.assign(new Error(`EIO: writev wrote no bytes, '${this.path}'`), {
          code: 'EIO',
          syscall: 'writev',
          path: this.path,
        });
      }
      pos += bytesWritten;
      remaining = dropLeading(remaining, bytesWritten);
    }
  }

  datasync(): Promise<void> {
    return this.fh.datasync();
  }

  truncate(length: number): Promise<void> {
    return this.fh.truncate(length);
  }

  async size(): Promise<number> {
    return (await this.fh.stat()).size;
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

/** The buffers left after the first `n` bytes of their concatenation; slices share memory. */
function dropLeading(buffers: readonly Buffer[], n: number): Buffer[] {
  let skip = n;
  let i = 0;
  while (i < buffers.length && skip >= buffers[i]!.length) {
    skip -= buffers[i]!.length;
    i++;
  }
  const rest = buffers.slice(i);
  if (rest.length > 0 && skip > 0) rest[0] = rest[0]!.subarray(skip);
  return rest;
}

export const nodeIo: StoreIo = {
  async open(path: string, flags: OpenFlags): Promise<StoreFile> {
    return new NodeFile(path, await fs.open(path, flags));
  },
  readFile: (path) => fs.readFile(path),
  rename: (from, to) => fs.rename(from, to),
  unlink: (path) => fs.unlink(path),
  readdir: (dir) => fs.readdir(dir),
  async mkdir(dir: string): Promise<void> {
    await fs.mkdir(dir, { recursive: true });
  },
  async syncDir(dir: string): Promise<void> {
    const fh = await fs.open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
};
