import xxhash from 'xxhash-wasm';

/**
 * xxh64 (seed 0 unless given) is the one checksum of the system: log records, wire frames and blob
 * contents. The wasm module is instantiated once, at import (top-level await), so every call below is
 * synchronous and allocation-free for one-shot hashing.
 */
const api = await xxhash();

/** One-shot xxh64 of `bytes`, as an unsigned 64-bit bigint. */
export function xxh64(bytes: Uint8Array, seed: bigint = 0n): bigint {
  return api.h64Raw(bytes, seed);
}

/** Incremental xxh64 for data that arrives in pieces (streams); same result as one-shot over the concatenation. */
export class Xxh64 {
  private readonly state;
  private finished = false;

  constructor(seed: bigint = 0n) {
    this.state = api.create64(seed);
  }

  update(bytes: Uint8Array): this {
    if (this.finished) throw new Error('Xxh64.update after digest');
    this.state.update(bytes);
    return this;
  }

  digest(): bigint {
    this.finished = true;
    return this.state.digest();
  }
}
