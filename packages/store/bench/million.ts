/**
 * Child process of the store benchmark (forked by store.bench.ts with --expose-gc; not run by hand).
 * Each phase runs in a fresh process so memory and open times are not flattered by what an earlier
 * phase left behind:
 *
 *   load <dir> <blobs> <sampleFile>        writes the blobs, waits for index persistence, exits unclean
 *   unclean <dir>                          opens (rescanning the unpersisted tail), closes cleanly
 *   clean <dir> <sampleFile> <seconds>     opens a cleanly closed store: memory, cold reads, absent keys
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { BlobId } from '@ambry/protocol';
import { FaultyIo } from '../src/faulty-io.js';
import { BlobStore } from '../src/store.js';
import { propertiesFor } from '../test/helpers.js';
import {
  type ChildMessage,
  INDEX_DEFAULTS,
  idSource,
  type MemorySample,
  note,
  STORE_CONFIG,
  settledMemory,
  sleep,
} from './common.js';

const BLOB_BYTES = 1024;
const IN_FLIGHT = 256;
const SAMPLE_SIZE = 10_000;
const COLD_GETS = 2_000;
const newId = idSource();

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) {
      process.stderr.write(`${JSON.stringify(message)}\n`);
      resolve();
    } else process.send(message, undefined, {}, () => resolve());
  });
}

async function load(dir: string, blobs: number, sampleFile: string): Promise<Record<string, number>> {
  const store = await BlobStore.open({ dir, ...STORE_CONFIG, durability: 'interval' });
  const payloads = Array.from({ length: IN_FLIGHT }, () => randomBytes(BLOB_BYTES));
  const properties = propertiesFor(BLOB_BYTES);
  // Evenly spread over the whole log, so later phases read keys from every index segment.
  const step = Math.max(1, Math.floor(blobs / SAMPLE_SIZE));
  const sample: string[] = [];
  let next = 0;
  let lastNote = performance.now();
  const started = performance.now();
  await Promise.all(
    payloads.map(async (blob) => {
      while (next < blobs) {
        const n = next++;
        const id = newId();
        await store.put({ id, properties, blob });
        if (n % step === 0) sample.push(id.toString());
        if (performance.now() - lastNote > 5_000) {
          lastNote = performance.now();
          note(`load: ${n.toLocaleString('en-US')} of ${blobs.toLocaleString('en-US')} blobs`);
        }
      }
    }),
  );
  const loadSeconds = (performance.now() - started) / 1000;

  // A memory part that filled up while a persist was running is only persisted after the next batch,
  // so a filler PUT now and then makes sure the index settles with everything but a tail persisted.
  let fillers = 0;
  for (let round = 0; store.stats().memoryRecords >= INDEX_DEFAULTS.maxMemoryRecords; round++) {
    if (round >= 1_200) throw new Error('the index did not settle within a minute');
    await sleep(50);
    if (round % 20 === 19) {
      await store.put({ id: newId(), properties, blob: payloads[0]! });
      fillers += 1;
    }
  }
  const stats = store.stats();
  await fs.writeFile(sampleFile, `${sample.join('\n')}\n`);
  note(
    `load: ${stats.blobCount.toLocaleString('en-US')} blobs in ${loadSeconds.toFixed(1)} s; ` +
      `${stats.persistedIndexSegments} index segments, ${stats.memoryRecords} records only in memory and the log`,
  );
  return {
    load_s: loadSeconds,
    load_blob_count: stats.blobCount,
    load_filler_puts: fillers,
    load_log_bytes: stats.bytesUsed,
    load_unpersisted_records: stats.memoryRecords,
    load_index_segments: stats.persistedIndexSegments,
  };
}

/**
 * Opens and closes a tiny store elsewhere first: module code, JIT, the libuv thread pool and the
 * allocator's arenas are fixed costs, not per blob, and would otherwise land in the growth measured.
 */
async function warmUp(dir: string): Promise<void> {
  const warm = `${dir}-warm`;
  const store = await BlobStore.open({ dir: warm, ...STORE_CONFIG, maxMemoryRecords: 16 });
  for (let i = 0; i < 64; i++)
    await store.put({ id: newId(), properties: propertiesFor(16), blob: randomBytes(16) });
  const ids = Array.from({ length: 64 }, () => newId());
  await store.findMissingKeys(ids);
  await store.close();
  const again = await BlobStore.open({ dir: warm, ...STORE_CONFIG, io: new FaultyIo() });
  await again.close();
  await fs.rm(warm, { recursive: true, force: true });
}

function growth(before: MemorySample, after: MemorySample, blobs: number) {
  return {
    heap: (after.heapAndExternal - before.heapAndExternal) / blobs,
    rss: (after.rss - before.rss) / blobs,
  };
}

async function unclean(dir: string): Promise<Record<string, number | boolean>> {
  await warmUp(dir);
  const before = settledMemory();
  const started = performance.now();
  const store = await BlobStore.open({ dir, ...STORE_CONFIG });
  const openSeconds = (performance.now() - started) / 1000;
  const after = settledMemory();
  const stats = store.stats();
  const perBlob = growth(before, after, stats.blobCount);
  await store.close();
  return {
    recovery_1m_unclean_s: openSeconds,
    unclean_clean_start: stats.cleanStart,
    unclean_recovered_records: stats.recoveredRecords,
    unclean_recovery_cut_bytes: stats.recoveryCutBytes,
    ram_after_unclean_heap_bytes_per_blob: perBlob.heap,
    ram_after_unclean_rss_bytes_per_blob: perBlob.rss,
  };
}

async function clean(dir: string, sampleFile: string, seconds: number) {
  await warmUp(dir);
  const sample = (await fs.readFile(sampleFile, 'utf8'))
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => BlobId.parse(line));
  const absent = Array.from({ length: 65_536 }, () => newId());
  const faulty = new FaultyIo();

  const before = settledMemory();
  const started = performance.now();
  const store = await BlobStore.open({ dir, ...STORE_CONFIG, io: faulty });
  const openSeconds = (performance.now() - started) / 1000;
  const after = settledMemory();
  const stats = store.stats();
  if (!stats.cleanStart || stats.memoryRecords !== 0) throw new Error('the store did not open clean');
  const perBlob = growth(before, after, stats.blobCount);

  try {
    // Cold gets: nothing of these keys is in memory, so every index read shows up in the counts.
    faulty.resetCounts();
    for (let i = 0; i < COLD_GETS; i++) {
      const id = sample[Math.floor(Math.random() * sample.length)]!;
      const got = await store.get(id);
      if (got.blob.length !== BLOB_BYTES) throw new Error('a cold get returned the wrong blob');
    }
    const readsPerColdGet = faulty.calls.read / COLD_GETS;

    faulty.resetCounts();
    let lookups = 0;
    const batch = 256;
    let lookupStarted = performance.now();
    let deadline = lookupStarted + seconds * 1000;
    for (let at = 0; performance.now() < deadline; at = (at + batch) % absent.length) {
      const ids = absent.slice(at, at + batch);
      const missing = await store.findMissingKeys(ids);
      if (missing.length !== ids.length) throw new Error('findMissingKeys found a key never written');
      lookups += ids.length;
    }
    const lookupSeconds = (performance.now() - lookupStarted) / 1000;
    const readsPerAbsent = faulty.calls.read / lookups;

    let absentGets = 0;
    lookupStarted = performance.now();
    deadline = lookupStarted + seconds * 1000;
    while (performance.now() < deadline) {
      const id = absent[absentGets % absent.length]!;
      const found = await store.get(id).then(
        () => true,
        () => false,
      );
      if (found) throw new Error('get found a key never written');
      absentGets += 1;
    }
    const absentGetSeconds = (performance.now() - lookupStarted) / 1000;

    return {
      recovery_1m_clean_s: openSeconds,
      clean_blob_count: stats.blobCount,
      clean_index_segments: stats.persistedIndexSegments,
      ram_heap_bytes_per_blob: perBlob.heap,
      ram_rss_bytes_per_blob: perBlob.rss,
      ram_heap_used_growth: after.heapUsed - before.heapUsed,
      ram_external_growth: after.external - before.external,
      ram_array_buffers_growth: after.arrayBuffers - before.arrayBuffers,
      ram_rss_growth: after.rss - before.rss,
      reads_per_cold_get: readsPerColdGet,
      absent_lookup_ops: lookups / lookupSeconds,
      reads_per_absent_lookup: readsPerAbsent,
      absent_get_ops: absentGets / absentGetSeconds,
    };
  } finally {
    await store.close();
  }
}

async function main(): Promise<void> {
  // Orphaned (the parent died): stop rather than keep writing into a directory nobody will remove.
  process.on('disconnect', () => process.exit(1));
  const [mode, dir, ...rest] = process.argv.slice(2);
  if (dir === undefined) throw new Error('usage: million.ts <load|unclean|clean> <dir> ...');
  try {
    let result: Record<string, number | boolean>;
    if (mode === 'load') result = await load(dir, Number(rest[0]), rest[1]!);
    else if (mode === 'unclean') result = await unclean(dir);
    else if (mode === 'clean') result = await clean(dir, rest[0]!, Number(rest[1]));
    else throw new Error(`unknown mode ${mode}`);
    await send({ ok: true, result });
  } catch (error) {
    await send({ ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    process.exit(1);
  }
  // Without close: the load phase must leave its last memory part only in the log (an unclean stop).
  process.exit(0);
}

await main();
