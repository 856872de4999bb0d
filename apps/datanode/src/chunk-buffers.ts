/**
 * Buffers LOG_CHUNK answers are read into, reused once each answer is written to its connection: a
 * peer rebuilding a replica asks for tens of megabytes a second, and a fresh buffer per answer costs
 * page faults and garbage collection on this node. Never blocks: with none free, a new buffer is
 * allocated (and kept only while fewer than `maxPooledBytes` are pooled). An idle pool is dropped.
 */

const IDLE_DROP_MS = 30_000;

export class ChunkBuffers {
  private readonly free: Buffer[] = [];
  private pooledBytes = 0;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(readonly maxPooledBytes: number) {}

  /** A buffer of at least `bytes`; hand it back with `give` once nothing points into it. */
  take(bytes: number): Buffer {
    const at = this.free.findIndex((buffer) => buffer.length >= bytes);
    if (at < 0) return Buffer.allocUnsafe(bytes);
    const [buffer] = this.free.splice(at, 1) as [Buffer];
    this.pooledBytes -= buffer.length;
    return buffer;
  }

  give(buffer: Buffer): void {
    if (this.pooledBytes + buffer.length > this.maxPooledBytes) return;
    this.free.push(buffer);
    this.pooledBytes += buffer.length;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.drop(), IDLE_DROP_MS);
    this.idleTimer.unref();
  }

  /** Bytes held by free buffers. */
  get idleBytes(): number {
    return this.pooledBytes;
  }

  drop(): void {
    clearTimeout(this.idleTimer);
    this.free.length = 0;
    this.pooledBytes = 0;
  }
}
