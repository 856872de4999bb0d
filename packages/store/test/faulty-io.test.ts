import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FaultyIo, SimulatedCrashError } from '../src/faulty-io.js';
import { IO_OPS, type IoOp, ioErrorCode, type StoreFile, type StoreIo } from '../src/io.js';
import { nodeIo } from '../src/node-io.js';

let dir: string;
const cleanup: StoreFile[] = [];

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ambry-store-faulty-io-'));
});

afterEach(async () => {
  vi.useRealTimers();
  await Promise.allSettled(cleanup.splice(0).map((f) => f.close()));
  await fs.rm(dir, { recursive: true, force: true });
});

const p = (name: string) => path.join(dir, name);
const bytes = (s: string) => Buffer.from(s);

async function create(io: StoreIo, name: string): Promise<StoreFile> {
  const file = await io.open(p(name), 'wx+');
  cleanup.push(file);
  return file;
}

const isCrash = (e: unknown) => e instanceof SimulatedCrashError && ioErrorCode(e) === 'ECRASH';

/** Descriptors of this process that point at `file` (Linux only; undefined elsewhere). */
function openDescriptors(file: string): number | undefined {
  if (!existsSync('/proc/self/fd')) return undefined;
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === file) n++;
    } catch {
      // The descriptor readdir itself used is gone by now.
    }
  }
  return n;
}

describe('FaultyIo without faults', () => {
  it('forwards everything and counts each call per op', async () => {
    const io = new FaultyIo();
    await io.mkdir(p('d'));
    const file = await io.open(p('d/f'), 'wx+');
    await file.writev([bytes('abc'), bytes('def')], 0);
    await file.writev([bytes('g')], 6);
    await file.datasync();
    expect(await file.size()).toBe(7);
    const buf = Buffer.alloc(7);
    expect(await file.read(buf, 0, 7, 0)).toBe(7);
    expect(buf.toString()).toBe('abcdefg');
    await file.truncate(3);
    await file.close();
    await io.syncDir(p('d'));
    await io.rename(p('d/f'), p('d/g'));
    expect(await io.readdir(p('d'))).toEqual(['g']);
    expect((await io.readFile(p('d/g'))).toString()).toBe('abc');
    await io.unlink(p('d/g'));

    const expected: Record<IoOp, number> = {
      open: 1,
      read: 1,
      writev: 2,
      datasync: 1,
      truncate: 1,
      size: 1,
      close: 1,
      readFile: 1,
      rename: 1,
      unlink: 1,
      readdir: 1,
      mkdir: 1,
      syncDir: 1,
    };
    expect(io.calls).toEqual(expected);
    expect(io.bytesWritten).toBe(7);
    expect(io.crashed).toBe(false);

    await expect(io.readFile(p('d/g'))).rejects.toSatisfy((e) => ioErrorCode(e) === 'ENOENT');
    expect(io.calls.readFile).toBe(2);
    io.resetCounts();
    expect(Object.values(io.calls)).toEqual(IO_OPS.map(() => 0));
  });
});

describe('FaultyIo.fail', () => {
  it('fails the 3rd writev with EIO, writing nothing, then works again', async () => {
    const io = new FaultyIo();
    const file = await create(io, 'log');
    io.fail({ op: 'writev', code: 'EIO', skip: 2 });
    await file.writev([bytes('aa')], 0);
    await file.writev([bytes('bb')], 2);
    const error = await file.writev([bytes('cc'), bytes('dd')], 4).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ code: 'EIO', errno: -5, syscall: 'writev', path: p('log') });
    expect((error as Error).message).toBe(`EIO: simulated fault, writev '${p('log')}'`);
    expect((await fs.readFile(p('log'))).toString()).toBe('aabb');
    expect(io.bytesWritten).toBe(4);

    await file.writev([bytes('ee')], 4);
    await file.writev([bytes('ff')], 6);
    expect((await fs.readFile(p('log'))).toString()).toBe('aabbeeff');
    expect(io.calls.writev).toBe(5);
  });

  it('fails every matching call with times: Infinity until removed', async () => {
    const io = new FaultyIo();
    const file = await create(io, 'f');
    const rule = io.fail({ op: ['datasync', 'size'], code: 'ENOSPC', times: Infinity });
    for (let i = 0; i < 5; i++) {
      await expect(file.datasync()).rejects.toMatchObject({
        code: 'ENOSPC',
        errno: -28,
        syscall: 'datasync',
      });
      await expect(file.size()).rejects.toMatchObject({ code: 'ENOSPC', syscall: 'size' });
    }
    await file.truncate(0);
    rule.remove();
    await file.datasync();
    expect(await file.size()).toBe(0);

    io.fail({ op: 'readdir', code: 'EACCES', times: Infinity });
    io.fail({ op: 'mkdir', code: 'EROFS', times: 2 });
    await expect(io.readdir(dir)).rejects.toMatchObject({ code: 'EACCES', errno: -1 });
    await expect(io.mkdir(p('m'))).rejects.toMatchObject({ code: 'EROFS' });
    await expect(io.mkdir(p('m'))).rejects.toMatchObject({ code: 'EROFS' });
    await io.mkdir(p('m'));
    io.clearFaults();
    expect(await io.readdir(dir)).toEqual(expect.arrayContaining(['f', 'm']));
  });

  it('only fails calls whose path includes pathIncludes', async () => {
    const io = new FaultyIo();
    await fs.writeFile(p('seg-1.idx'), 'one');
    await fs.writeFile(p('log-1'), 'two');
    io.fail({ op: ['readFile', 'open', 'rename'], code: 'EIO', pathIncludes: '.idx', times: Infinity });
    expect((await io.readFile(p('log-1'))).toString()).toBe('two');
    await expect(io.readFile(p('seg-1.idx'))).rejects.toMatchObject({ code: 'EIO', path: p('seg-1.idx') });
    await expect(io.open(p('seg-1.idx'), 'r')).rejects.toMatchObject({ code: 'EIO', syscall: 'open' });
    const log = await io.open(p('log-1'), 'r');
    cleanup.push(log);
    // A rename matches by either name.
    await expect(io.rename(p('log-1'), p('log-1.idx'))).rejects.toMatchObject({ code: 'EIO' });
    await io.rename(p('log-1'), p('log-2'));
    expect((await fs.readdir(dir)).sort()).toEqual(['log-2', 'seg-1.idx']);
  });

  it('skips count only the calls that match the rule', async () => {
    const io = new FaultyIo();
    await fs.writeFile(p('a'), 'a');
    await fs.writeFile(p('b'), 'b');
    io.fail({ op: 'readFile', code: 'EIO', pathIncludes: `${path.sep}b`, skip: 1 });
    await io.readFile(p('a'));
    await io.readFile(p('b'));
    await io.readFile(p('a'));
    await expect(io.readFile(p('b'))).rejects.toMatchObject({ code: 'EIO' });
    await io.readFile(p('b'));
  });

  it('with partialBytes writes exactly that prefix of the buffers, then rejects', async () => {
    const io = new FaultyIo();
    const file = await create(io, 'log');
    await file.writev([bytes('HEAD')], 0);
    io.fail({ op: 'writev', code: 'ENOSPC', partialBytes: 5 });
    await expect(file.writev([bytes('abc'), bytes('defg'), bytes('hij')], 4)).rejects.toMatchObject({
      code: 'ENOSPC',
      errno: -28,
    });
    expect((await fs.readFile(p('log'))).toString()).toBe('HEADabcde');
    expect(io.bytesWritten).toBe(9);
    await file.writev([bytes('xyz')], 9);
    expect((await fs.readFile(p('log'))).toString()).toBe('HEADabcdexyz');
  });
});

describe('FaultyIo crashes', () => {
  it('crashAfterBytes(n) leaves exactly n bytes of the stream across writes, then refuses everything', async () => {
    const io = new FaultyIo();
    const a = await create(io, 'a');
    const b = await create(io, 'b');
    await a.writev([bytes('before')], 0);
    io.crashAfterBytes(10);
    await a.writev([bytes('0123'), bytes('45')], 6);
    expect(io.crashed).toBe(false);
    await expect(b.writev([bytes('67'), bytes('89ABC')], 0)).rejects.toSatisfy(isCrash);
    expect(io.crashed).toBe(true);
    expect(io.bytesWritten).toBe(6 + 10);

    const fresh = nodeIo;
    expect((await fresh.readFile(p('a'))).toString()).toBe('before012345');
    expect((await fresh.readFile(p('b'))).toString()).toBe('6789');

    await expect(a.read(Buffer.alloc(1), 0, 1, 0)).rejects.toSatisfy(isCrash);
    await expect(a.datasync()).rejects.toSatisfy(isCrash);
    await expect(b.size()).rejects.toSatisfy(isCrash);
    await expect(b.writev([], 0)).rejects.toSatisfy(isCrash);
    await expect(a.close()).rejects.toSatisfy(isCrash);
    await expect(io.open(p('a'), 'r')).rejects.toSatisfy(isCrash);
    await expect(io.readFile(p('a'))).rejects.toSatisfy(isCrash);
    await expect(io.readdir(dir)).rejects.toSatisfy(isCrash);
    await expect(io.mkdir(p('x'))).rejects.toSatisfy(isCrash);
    expect(existsSync(p('x'))).toBe(false);
    expect(io.calls.open).toBe(3);
    expect((await fs.readFile(p('a'))).toString()).toBe('before012345');
  });

  it('a write that uses the budget exactly does not crash; the next byte does', async () => {
    const io = new FaultyIo();
    const file = await create(io, 'f');
    io.crashAfterBytes(4);
    await file.writev([bytes('ab'), bytes('cd')], 0);
    await file.writev([], 4);
    expect(io.crashed).toBe(false);
    await expect(file.writev([bytes('e')], 4)).rejects.toBeInstanceOf(SimulatedCrashError);
    expect((await fs.readFile(p('f'))).toString()).toBe('abcd');
  });

  it('crashNow closes the inner handles, and a fresh nodeIo can read the files', async () => {
    const closed: string[] = [];
    const recording: StoreIo = {
      ...nodeIo,
      async open(file, flags) {
        const inner = await nodeIo.open(file, flags);
        return Object.assign(Object.create(inner) as StoreFile, {
          close: () => {
            closed.push(path.basename(file));
            return inner.close();
          },
        });
      },
    };
    const io = new FaultyIo(recording);
    const a = await io.open(p('a'), 'wx+');
    const b = await io.open(p('b'), 'wx+');
    const c = await io.open(p('c'), 'wx+');
    await a.writev([bytes('alpha')], 0);
    await b.writev([bytes('beta')], 0);
    await c.close();
    expect(openDescriptors(p('a')) ?? 1).toBe(1);

    await io.crashNow();
    expect(io.crashed).toBe(true);
    expect(closed.sort()).toEqual(['a', 'b', 'c']);
    expect(openDescriptors(p('a')) ?? 0).toBe(0);
    expect(openDescriptors(p('b')) ?? 0).toBe(0);
    await expect(a.read(Buffer.alloc(5), 0, 5, 0)).rejects.toSatisfy(isCrash);
    await expect(b.datasync()).rejects.toSatisfy(isCrash);

    const again = await nodeIo.open(p('a'), 'r');
    const buf = Buffer.alloc(5);
    expect(await again.read(buf, 0, 5, 0)).toBe(5);
    await again.close();
    expect(buf.toString()).toBe('alpha');
    expect((await nodeIo.readFile(p('b'))).toString()).toBe('beta');
  });
});

describe('FaultyIo.setLatency', () => {
  it('a delayed call finishes after an undelayed one started later', async () => {
    vi.useFakeTimers();
    const io = new FaultyIo();
    await fs.writeFile(p('f'), 'data');
    const file = await io.open(p('f'), 'r');
    cleanup.push(file);
    io.setLatency('read', 40);
    const order: string[] = [];
    const slow = file.read(Buffer.alloc(4), 0, 4, 0).then(() => order.push('read'));
    await io.readFile(p('f')).then(() => order.push('readFile'));
    expect(order).toEqual(['readFile']);
    await vi.advanceTimersByTimeAsync(40);
    await slow;
    expect(order).toEqual(['readFile', 'read']);
  });

  it('waits on a timer per matching call, and 0 removes the delay', async () => {
    vi.useFakeTimers();
    const io = new FaultyIo();
    await fs.writeFile(p('f'), 'data');
    io.setLatency('all', 1000);
    let done = false;
    const pending = io.readFile(p('f')).then(() => {
      done = true;
    });
    await nodeIo.readFile(p('f'));
    await nodeIo.readdir(dir);
    expect(done).toBe(false);
    expect(io.calls.readFile).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    await pending;
    expect(done).toBe(true);

    io.setLatency('all', 0);
    expect((await io.readFile(p('f'))).toString()).toBe('data');
  });
});
