// @ambry/store: one partition replica on local disk.

export type { KeyHashes } from './bloom.js';
export { BloomFilter, keyHashes } from './bloom.js';
export * from './errors.js';
export { type FaultHandle, type FaultRule, FaultyIo, SimulatedCrashError } from './faulty-io.js';
export { IO_OPS, type IoOp, ioErrorCode, type OpenFlags, type StoreFile, type StoreIo } from './io.js';
export type { LogChunk } from './log-chunk.js';
export { nodeIo } from './node-io.js';
export type { StoreConfig, StoreConfigInput, StoreOptions } from './options.js';
export {
  type BlobInfo,
  BlobStore,
  type FindEntriesResult,
  type GetOptions,
  type PutInput,
  type StoredBlob,
  type StoreStats,
  type UpdateOptions,
} from './store.js';
export type { WriteResult } from './write-pipeline.js';
