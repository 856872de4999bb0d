import { describe, expect, it } from 'vitest';
import { ChunkBuffers } from '../src/chunk-buffers.js';

describe('ChunkBuffers', () => {
  it('hands a given-back buffer out again to a request it fits, and allocates otherwise', () => {
    const pool = new ChunkBuffers(1024);
    const first = pool.take(300);
    expect(first.length).toBe(300);
    pool.give(first);
    expect(pool.idleBytes).toBe(300);
    expect(pool.take(500)).not.toBe(first); // too small for this one: a new buffer
    expect(pool.take(200)).toBe(first); // fits: the same memory
    expect(pool.idleBytes).toBe(0);
    expect(pool.take(200)).not.toBe(first); // taken: never handed out twice
  });

  it('keeps no more than its bound, and drops everything on request', () => {
    const pool = new ChunkBuffers(1000);
    const buffers = [pool.take(400), pool.take(400), pool.take(400)];
    for (const buffer of buffers) pool.give(buffer);
    expect(pool.idleBytes).toBe(800); // the third did not fit under the bound
    pool.drop();
    expect(pool.idleBytes).toBe(0);
    expect(buffers).not.toContain(pool.take(400));
  });
});
