import fsCallbacks, { existsSync, readdirSync, readlinkSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ioErrorCode, type StoreFile } from '../src/io.js';
import { nodeIo } from '../src/node-io.js';

let dir: string;
const open: StoreFile[] = [];

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ambry-store-node-io-'));
});

afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.allSettled(open.splice(0).map((f) => f.close()));
  await fs.rm(dir, { recursive: true, force: true });
});

async function create(name: string): Promise<StoreFile> {
  const file = await nodeIo.open(path.join(dir, name), 'wx+');
  open.push(file);
  return file;
}

/** Descriptors of this process that point at `target` (Linux only; 0 elsewhere). */
function descriptorsOf(target: string): number {
  if (!existsSync('/proc/self/fd')) return 0;
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === target;
    } catch {
      return false;
    }
  }).length;
}

describe('nodeIo files', () => {
  it('writes several buffers back to back at a position and reads them back', async () => {
    const file = await create('log');
    expect(file.path).toBe(path.join(dir, 'log'));
    await file.writev([Buffer.from('0123456789')], 0);
    await file.writev([Buffer.from('ab'), Buffer.alloc(0), Buffer.from('cde'), Buffer.from('f')], 3);
    expect(await file.size()).toBe(10);
    expect((await fs.readFile(file.path)).toString()).toBe('012abcdef9');

    const buf = Buffer.alloc(8, '.');
    expect(await file.read(buf, 2, 5, 2)).toBe(5);
    expect(buf.toString()).toBe('..2abcd.');
  });

  it('writes a large vector whole (the short-write loop)', async () => {
    const file = await create('big');
    const parts = Array.from({ length: 64 }, (_, i) => Buffer.alloc(64 * 1024 + i, i));
    await file.writev(parts, 5);
    const expected = Buffer.concat([Buffer.alloc(5), ...parts]);
    expect(await file.size()).toBe(expected.length);
    expect((await fs.readFile(file.path)).equals(expected)).toBe(true);
  });

  it('keeps going after short writes and short reads of the handle', async () => {
    const file = await create('dribble');
    const probe = await fs.open(path.join(dir, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as fs.FileHandle;
    await probe.close();
    const realWritev = proto.writev;
    // At most 3 bytes a call, so every multi-buffer write and every read comes back short.
    const writev = vi.spyOn(proto, 'writev').mockImplementation(function (this: fs.FileHandle, bufs, pos) {
      const first = bufs.find((b) => b.byteLength > 0)!;
      return realWritev.call(
        this,
        [Buffer.from(first.buffer, first.byteOffset, Math.min(3, first.byteLength))],
        pos,
      );
    } as typeof proto.writev);
    const realRead = fsCallbacks.read;
    type ReadCallback = (error: NodeJS.ErrnoException | null, bytesRead: number, buffer: Buffer) => void;
    const read = vi
      .spyOn(fsCallbacks, 'read')
      .mockImplementation(((
        fd: number,
        buf: Buffer,
        off: number,
        len: number,
        pos: number,
        callback: ReadCallback,
      ) => realRead(fd, buf, off, Math.min(3, len), pos, callback)) as unknown as typeof fsCallbacks.read);

    await file.writev([Buffer.from('abcdefg'), Buffer.from('hi'), Buffer.from('jklmnopq')], 4);
    expect(writev.mock.calls.length).toBeGreaterThan(3);
    const buf = Buffer.alloc(17);
    expect(await file.read(buf, 0, 17, 4)).toBe(17);
    expect(read.mock.calls.length).toBeGreaterThan(5);
    expect(buf.toString()).toBe('abcdefghijklmnopq');
    vi.restoreAllMocks();
    expect(await fs.readFile(file.path)).toEqual(
      Buffer.concat([Buffer.alloc(4), Buffer.from('abcdefghijklmnopq')]),
    );
  });

  it('reads short only at end of file, and 0 past it', async () => {
    const file = await create('short');
    await file.writev([Buffer.from('hello')], 0);
    const buf = Buffer.alloc(10);
    expect(await file.read(buf, 0, 10, 2)).toBe(3);
    expect(buf.subarray(0, 3).toString()).toBe('llo');
    expect(await file.read(buf, 0, 4, 5)).toBe(0);
    expect(await file.read(buf, 0, 4, 100)).toBe(0);
  });

  it('truncates shorter and longer, and reports the size', async () => {
    const file = await create('t');
    expect(await file.size()).toBe(0);
    await file.writev([Buffer.from('abcdef')], 0);
    await file.truncate(2);
    expect(await file.size()).toBe(2);
    expect((await fs.readFile(file.path)).toString()).toBe('ab');
    await file.truncate(4);
    expect(await fs.readFile(file.path)).toEqual(Buffer.from([0x61, 0x62, 0, 0]));
    await file.datasync();
  });

  it('honours the open flags', async () => {
    const p = path.join(dir, 'f');
    await expect(nodeIo.open(p, 'r')).rejects.toSatisfy((e) => ioErrorCode(e) === 'ENOENT');
    await expect(nodeIo.open(p, 'r+')).rejects.toSatisfy((e) => ioErrorCode(e) === 'ENOENT');
    const a = await create('f');
    await a.writev([Buffer.from('xyz')], 0);
    await a.close();
    open.pop();
    await expect(nodeIo.open(p, 'wx+')).rejects.toSatisfy((e) => ioErrorCode(e) === 'EEXIST');
    const b = await nodeIo.open(p, 'r+');
    expect(await b.size()).toBe(3);
    await b.close();
    const c = await nodeIo.open(p, 'w+');
    expect(await c.size()).toBe(0);
    await c.close();
    const r = await nodeIo.open(p, 'r');
    await expect(r.writev([Buffer.from('no')], 0)).rejects.toSatisfy((e) => ioErrorCode(e) === 'EBADF');
    await r.close();
  });

  it('rejects use after close', async () => {
    const file = await create('c');
    await file.close();
    open.pop();
    await expect(file.read(Buffer.alloc(1), 0, 1, 0)).rejects.toThrow();
  });
});

describe('nodeIo paths', () => {
  it('mkdir -p, readdir names, rename, unlink, readFile', async () => {
    const sub = path.join(dir, 'a', 'b', 'c');
    await nodeIo.mkdir(sub);
    await nodeIo.mkdir(sub);
    expect((await fs.stat(sub)).isDirectory()).toBe(true);

    await fs.writeFile(path.join(sub, 'one'), 'first');
    await fs.writeFile(path.join(sub, 'two'), 'second');
    expect((await nodeIo.readdir(sub)).sort()).toEqual(['one', 'two']);

    await nodeIo.rename(path.join(sub, 'two'), path.join(sub, 'one'));
    expect(await nodeIo.readdir(sub)).toEqual(['one']);
    expect((await nodeIo.readFile(path.join(sub, 'one'))).toString()).toBe('second');

    await nodeIo.unlink(path.join(sub, 'one'));
    expect(await nodeIo.readdir(sub)).toEqual([]);
    await expect(nodeIo.unlink(path.join(sub, 'one'))).rejects.toSatisfy((e) => ioErrorCode(e) === 'ENOENT');
  });

  it('readFile of a missing file rejects with ENOENT', async () => {
    const error = await nodeIo.readFile(path.join(dir, 'missing')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(ioErrorCode(error)).toBe('ENOENT');
  });

  it('syncDir syncs a directory and rejects for a missing one', async () => {
    await fs.writeFile(path.join(dir, 'x'), 'x');
    await expect(nodeIo.syncDir(dir)).resolves.toBeUndefined();
    expect(descriptorsOf(dir)).toBe(0);
    await expect(nodeIo.syncDir(path.join(dir, 'nope'))).rejects.toSatisfy(
      (e) => ioErrorCode(e) === 'ENOENT',
    );
  });
});
