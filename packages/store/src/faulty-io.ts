import { IO_OPS, type IoOp, type OpenFlags, type StoreFile, type StoreIo } from './io.js';
import { nodeIo } from './node-io.js';

/** Every call after a simulated crash (power loss, kill -9) rejects with this. */
export class SimulatedCrashError extends Error {
  readonly code = 'ECRASH';
  constructor(
    readonly op: IoOp,
    readonly path?: string,
  ) {
    super(`ECRASH: simulated crash, ${op}${path === undefined ? '' : ` '${path}'`}`);
    this.name = 'SimulatedCrashError';
  }
}

export interface FaultRule {
  op: IoOp | readonly IoOp[];
  code: 'EIO' | 'ENOSPC' | (string & {});
  /** Only calls whose path (either path, for rename) contains this. */
  pathIncludes?: string;
  /** Matching calls to let through before the first failure. Default 0. */
  skip?: number;
  /** How many matching calls fail. Default 1; `Infinity` for all of them. */
  times?: number;
  /** writev only: write this many leading bytes before rejecting (a short write, then ENOSPC). */
  partialBytes?: number;
}

export interface FaultHandle {
  remove(): void;
}

interface ActiveRule {
  ops: ReadonlySet<IoOp>;
  code: string;
  pathIncludes: string | undefined;
  skip: number;
  times: number;
  partialBytes: number;
}

const ERRNO: Record<string, number> = { EIO: -5, ENOSPC: -28 };

function faultError(code: string, op: IoOp, path: string): Error {
  return Object.assign(new Error(`${code}: simulated fault, ${op} '${path}'`), {
    code,
    errno: ERRNO[code] ?? -1,
    syscall: op,
    path,
  });
}

function byteLength(buffers: readonly Buffer[]): number {
  let n = 0;
  for (const b of buffers) n += b.length;
  return n;
}

/** The first `n` bytes of the buffers' concatenation, as views of the same memory. */
function leading(buffers: readonly Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  let left = n;
  for (const b of buffers) {
    if (left <= 0) break;
    out.push(b.length <= left ? b : b.subarray(0, left));
    left -= b.length;
  }
  return out;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** What a FaultyFile needs of its FaultyIo, handed over as closures so none of it is public API. */
interface FileHooks {
  run<T>(op: IoOp, path: string, body: () => Promise<T>): Promise<T>;
  writev(file: FaultyFile, buffers: readonly Buffer[], position: number): Promise<void>;
  close(file: FaultyFile): Promise<void>;
}

class FaultyFile implements StoreFile {
  constructor(
    private readonly io: FileHooks,
    readonly inner: StoreFile,
  ) {}

  get path(): string {
    return this.inner.path;
  }

  read(buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    return this.io.run('read', this.path, () => this.inner.read(buffer, offset, length, position));
  }

  writev(buffers: readonly Buffer[], position: number): Promise<void> {
    return this.io.writev(this, buffers, position);
  }

  datasync(): Promise<void> {
    return this.io.run('datasync', this.path, () => this.inner.datasync());
  }

  truncate(length: number): Promise<void> {
    return this.io.run('truncate', this.path, () => this.inner.truncate(length));
  }

  size(): Promise<number> {
    return this.io.run('size', this.path, () => this.inner.size());
  }

  close(): Promise<void> {
    return this.io.close(this);
  }
}

/**
 * A StoreIo that forwards to another and, on request, fails chosen calls, cuts the byte stream of
 * writev short and then refuses everything (a crash), or delays calls. Deterministic: what happens
 * depends only on the order of calls, so a failing test replays exactly.
 */
export class FaultyIo implements StoreIo {
  readonly calls = Object.fromEntries(IO_OPS.map((op) => [op, 0])) as Record<IoOp, number>;
  /** Bytes that reached the inner files through writev, including the prefixes of short writes. */
  bytesWritten = 0;

  #rules: ActiveRule[] = [];
  #latency = new Map<IoOp | 'all', number>();
  /** Bytes writev may still write before the crash; undefined while no crash is armed. */
  #budget: number | undefined;
  #crashed = false;
  #closing: Promise<void> = Promise.resolve();
  /** Inner handles opened through this io and not yet closed, so a crash can release them. */
  readonly #open = new Set<StoreFile>();

  readonly #hooks: FileHooks = {
    run: (op, path, body) => this.#run(op, path, body),
    writev: (file, buffers, position) => this.#writev(file, buffers, position),
    close: (file) => this.#closeFile(file),
  };

  constructor(private readonly inner: StoreIo = nodeIo) {}

  get crashed(): boolean {
    return this.#crashed;
  }

  resetCounts(): void {
    for (const op of IO_OPS) this.calls[op] = 0;
  }

  fail(rule: FaultRule): FaultHandle {
    const active: ActiveRule = {
      ops: new Set(typeof rule.op === 'string' ? [rule.op as IoOp] : rule.op),
      code: rule.code,
      pathIncludes: rule.pathIncludes,
      skip: rule.skip ?? 0,
      times: rule.times ?? 1,
      partialBytes: rule.partialBytes ?? 0,
    };
    this.#rules.push(active);
    return { remove: () => this.#remove(active) };
  }

  clearFaults(): void {
    this.#rules = [];
  }

  crashAfterBytes(n: number): void {
    if (!(n >= 0)) throw new RangeError(`crashAfterBytes: ${n} is not a byte count`);
    this.#budget = n;
  }

  /** Crashes now; resolves once the inner handles are closed. */
  crashNow(): Promise<void> {
    return this.#crash();
  }

  setLatency(op: IoOp | 'all', ms: number): void {
    if (ms > 0) this.#latency.set(op, ms);
    else this.#latency.delete(op);
  }

  open(path: string, flags: OpenFlags): Promise<StoreFile> {
    return this.#run('open', path, async () => {
      const file = await this.inner.open(path, flags);
      if (this.#crashed) {
        // The crash came while the open was in flight: its handle would otherwise leak.
        await file.close().catch(() => {});
        throw new SimulatedCrashError('open', path);
      }
      this.#open.add(file);
      return new FaultyFile(this.#hooks, file);
    });
  }

  readFile(path: string): Promise<Buffer> {
    return this.#run('readFile', path, () => this.inner.readFile(path));
  }

  rename(from: string, to: string): Promise<void> {
    return this.#run('rename', from, () => this.inner.rename(from, to), to);
  }

  unlink(path: string): Promise<void> {
    return this.#run('unlink', path, () => this.inner.unlink(path));
  }

  readdir(dir: string): Promise<string[]> {
    return this.#run('readdir', dir, () => this.inner.readdir(dir));
  }

  mkdir(dir: string): Promise<void> {
    return this.#run('mkdir', dir, () => this.inner.mkdir(dir));
  }

  syncDir(dir: string): Promise<void> {
    return this.#run('syncDir', dir, () => this.inner.syncDir(dir));
  }

  #writev(file: FaultyFile, buffers: readonly Buffer[], position: number): Promise<void> {
    const total = byteLength(buffers);
    return this.#run(
      'writev',
      file.path,
      () => this.#write(file, buffers, position, total, total),
      undefined,
      (partialBytes) => this.#write(file, buffers, position, Math.min(partialBytes, total), total),
    );
  }

  #closeFile(file: FaultyFile): Promise<void> {
    return this.#run('close', file.path, async () => {
      // Untracked even when the inner close fails: node leaves the descriptor closed then too.
      this.#open.delete(file.inner);
      await file.inner.close();
    });
  }

  /**
   * One call of `op`: counted, delayed, refused after a crash, failed by the first rule whose turn it
   * is, else forwarded. `onFault` runs before a fault rejects (the short-write prefix).
   */
  async #run<T>(
    op: IoOp,
    path: string,
    body: () => Promise<T>,
    otherPath?: string,
    onFault?: (partialBytes: number) => Promise<void>,
  ): Promise<T> {
    this.calls[op]++;
    if (this.#crashed) throw new SimulatedCrashError(op, path);
    const ms = this.#latency.get(op) ?? this.#latency.get('all') ?? 0;
    if (ms > 0) {
      await sleep(ms);
      if (this.#crashed) throw new SimulatedCrashError(op, path);
    }
    try {
      const rule = this.#take(op, path, otherPath);
      if (rule) {
        await onFault?.(rule.partialBytes);
        throw faultError(rule.code, op, path);
      }
      const result = await body();
      if (this.#crashed) throw new SimulatedCrashError(op, path);
      return result;
    } catch (error) {
      // Whatever an inner call did while the crash closed its handle, the caller sees only the crash.
      if (this.#crashed && !(error instanceof SimulatedCrashError)) throw new SimulatedCrashError(op, path);
      throw error;
    }
  }

  /** Writes the first `count` of `total` bytes, or fewer and crashes when the budget runs out. */
  async #write(
    file: FaultyFile,
    buffers: readonly Buffer[],
    position: number,
    count: number,
    total: number,
  ): Promise<void> {
    let n = count;
    let crash = false;
    if (this.#budget !== undefined) {
      if (n > this.#budget) {
        n = this.#budget;
        crash = true;
      }
      // Reserved before the await so concurrent writes cannot both spend the same bytes.
      this.#budget -= n;
    }
    try {
      if (n > 0) {
        await file.inner.writev(n === total ? buffers : leading(buffers, n), position);
        this.bytesWritten += n;
      }
    } finally {
      if (crash) await this.#crash();
    }
    if (crash) throw new SimulatedCrashError('writev', file.path);
  }

  #take(op: IoOp, path: string, otherPath: string | undefined): ActiveRule | undefined {
    let fired: ActiveRule | undefined;
    for (const rule of this.#rules) {
      if (!rule.ops.has(op) || rule.times <= 0) continue;
      const needle = rule.pathIncludes;
      if (needle !== undefined && !path.includes(needle) && !otherPath?.includes(needle)) continue;
      // Every active rule counts the calls it matches, so each rule's skip means what it says.
      if (rule.skip > 0) rule.skip--;
      else if (fired === undefined) fired = rule;
    }
    if (fired) {
      fired.times--;
      if (fired.times <= 0) this.#remove(fired);
    }
    return fired;
  }

  #remove(rule: ActiveRule): void {
    this.#rules = this.#rules.filter((r) => r !== rule);
  }

  #crash(): Promise<void> {
    if (!this.#crashed) {
      this.#crashed = true;
      const files = [...this.#open];
      this.#open.clear();
      this.#closing = Promise.allSettled(files.map((f) => f.close())).then(() => {});
    }
    return this.#closing;
  }
}
