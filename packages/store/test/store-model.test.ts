import { type BlobState, ErrorCode, encodeBlobProperties, xxh64 } from '@ambry/protocol';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { BlobStore, FaultyIo, type WriteResult } from '../src/index.js';
import {
  type Change,
  decide,
  type Entry,
  type Expected,
  fail,
  ignored,
  isExpired,
  type KeyedOp,
  lifeOf,
  type Op,
  type Outcome,
  outcome,
  type Rel,
  show,
} from './blob-model.js';
import { blobBytes, newId, propertiesFor, TempDirs } from './helpers.js';

/**
 * Model-based test: random operation sequences run against a BlobStore and against a Map that states the
 * life-cycle rules plainly; every observable answer must agree. Tiny segments and memory limits make log
 * roll-overs and index segment persistence happen all the time, so reads cross every layer.
 */

const temp = new TempDirs();
afterEach(() => temp.cleanup());

const T0 = 1_700_000_000_000;

interface Planned {
  /** The real key the operation touches (undefined: the ghost key or none), so a batch can keep them apart. */
  readonly key: string | undefined;
  readonly exec: () => Promise<void>;
}

interface HarnessConfig {
  readonly maxMemoryRecords: number;
  readonly entriesPerBlock: number;
  readonly ttlUpdateBufferMs: number;
}

class Harness {
  now = T0;
  private store!: BlobStore;
  private io!: FaultyIo;
  private seed = 0;
  private readonly model = new Map<string, Entry>();
  private readonly keys: Entry[] = [];
  /** Never put: every operation on it must answer "not found" and findMissingKeys must name it. */
  private readonly ghost = newId();
  readonly tally = new Map<string, number>();

  private constructor(
    private readonly dir: string,
    private readonly config: HarnessConfig,
  ) {}

  static async create(config: HarnessConfig): Promise<Harness> {
    const harness = new Harness(await temp.make('ambry-model-'), config);
    await harness.open();
    return harness;
  }

  private async open(): Promise<void> {
    this.io = new FaultyIo();
    this.store = await BlobStore.open({
      dir: this.dir,
      io: this.io,
      clock: () => this.now,
      capacityBytes: 8 * 1024 * 1024,
      segmentBytes: 8 * 1024,
      ...this.config,
    });
  }

  async close(): Promise<void> {
    await this.store.close();
  }

  private count(label: string): void {
    this.tally.set(label, (this.tally.get(label) ?? 0) + 1);
  }

  private countOutcome(t: string, result: Outcome<unknown>): void {
    if ('code' in result) this.count(`${t}:${ErrorCode[result.code]}`);
    else {
      const applied = (result.ok as Partial<WriteResult>).applied;
      this.count(applied === undefined ? `${t}:ok` : `${t}:${applied ? 'applied' : 'ignored'}`);
    }
  }

  /** The op's existing blob, or undefined for the ghost key (one pick in eight, or while there are no keys). */
  private pick(k: number): Entry | undefined {
    if (k % 8 === 7 || this.keys.length === 0) return undefined;
    return this.keys[Math.floor(k / 8) % this.keys.length];
  }

  async run(op: Op): Promise<void> {
    switch (op.t) {
      case 'advance':
        this.now += op.ms;
        return this.count('advance');
      case 'check':
        return this.checkAll('check');
      case 'reopen':
        await this.store.close();
        await this.open();
        expect(this.store.stats().cleanStart).toBe(true);
        return this.checkAll('reopen');
      case 'crash':
        // Abandoned without close: whatever it had in memory only (index, background persists) is lost.
        await this.io.crashNow();
        await this.open();
        expect(this.store.stats().cleanStart).toBe(false);
        return this.checkAll('crash');
      default:
        await this.plan(op).exec();
        expect(this.store.stats().blobCount).toBe(this.model.size);
    }
  }

  /** Runs operations on distinct keys concurrently; the model applies them in any order. */
  async runConcurrently(ops: readonly KeyedOp[]): Promise<void> {
    const used = new Set<string>();
    const batch: Planned[] = [];
    for (const op of ops) {
      const planned = this.plan(op);
      if (planned.key !== undefined && used.has(planned.key)) continue;
      if (planned.key !== undefined) used.add(planned.key);
      batch.push(planned);
    }
    await Promise.all(batch.map((p) => p.exec()));
    expect(this.store.stats().blobCount).toBe(this.model.size);
    this.count('batch');
  }

  /** Computes the expectation now (against the model before this op) and returns the call that checks it. */
  private plan(op: KeyedOp): Planned {
    const now = this.now;
    if (op.t === 'put') {
      const existing = op.fresh ? undefined : this.keys[Math.floor(op.k / 8) % this.keys.length];
      const entry = existing ?? this.newEntry(op, now);
      const input = this.putInput(entry, existing === undefined ? 'none' : op.change);
      const lv = op.lv === null ? undefined : Math.max(0, (existing?.lifeVersion ?? 0) + op.lv);
      let expected: Expected;
      if (existing === undefined) {
        expected = { ok: { lifeVersion: lv ?? 0, applied: true } };
      } else {
        const same =
          input.blob.equals(existing.bytes) &&
          encodeBlobProperties(input.properties).equals(encodeBlobProperties(existing.properties)) &&
          JSON.stringify(input.userMetadata) === JSON.stringify(existing.meta);
        expected = same ? ignored(existing) : fail(ErrorCode.BLOB_ALREADY_EXISTS);
      }
      return {
        key: entry.id.toString(),
        exec: async () => {
          const result = await outcome(this.store.put({ ...input, lifeVersion: lv, id: entry.id }));
          this.countOutcome(existing === undefined ? 'put-new' : `put-${op.change}`, result);
          expect(result, `put ${entry.id} ${op.change}`).toEqual(expected);
          if (existing === undefined) {
            entry.lifeVersion = lv ?? 0;
            this.model.set(entry.id.toString(), entry);
            this.keys.push(entry);
          }
          await this.verify(entry);
        },
      };
    }
    const entry = this.pick(op.k);
    const id = entry?.id ?? this.ghost;
    const key = entry?.id.toString();
    if (op.t === 'get' || op.t === 'info') {
      return {
        key,
        exec: async () => {
          const range = op.t === 'get' && op.range !== null ? this.rangeFor(entry, op.range) : undefined;
          const flags = { includeDeleted: op.del, includeExpired: op.exp };
          const result = await outcome(
            op.t === 'get' ? this.store.get(id, { ...flags, range }) : this.store.getInfo(id, flags),
          );
          this.countOutcome(range === undefined ? op.t : 'get-range', result);
          this.compareRead(entry, flags, range, result, op.t === 'get');
        },
      };
    }
    const lv = op.lv === null ? undefined : Math.max(0, (entry?.lifeVersion ?? 0) + op.lv);
    const decision =
      entry === undefined
        ? { expected: fail(ErrorCode.BLOB_NOT_FOUND), next: undefined }
        : decide(entry, op, lv, now, this.config.ttlUpdateBufferMs);
    return {
      key,
      exec: async () => {
        const options = { lifeVersion: lv };
        const call =
          op.t === 'delete'
            ? this.store.delete(id, options)
            : op.t === 'undelete'
              ? this.store.undelete(id, options)
              : this.store.updateTtl(id, op.inS === -1 ? -1 : now + op.inS * 1000, options);
        const result = await outcome(call);
        this.countOutcome(`${op.t}${lv === undefined ? '' : '-replicated'}`, result);
        expect(result, `${op.t} lv=${lv} of ${show(entry)} at ${now}`).toEqual(decision.expected);
        if (entry !== undefined && decision.next !== undefined) Object.assign(entry, decision.next);
        if (entry !== undefined) await this.verify(entry);
      },
    };
  }

  private newEntry(op: Extract<Op, { t: 'put' }>, now: number): Entry {
    const n = ++this.seed;
    const properties = propertiesFor(op.size, { creationTimeMs: now - op.ageS * 1000, ttlSeconds: op.ttl });
    return {
      id: newId(),
      bytes: blobBytes(n, op.size),
      properties,
      meta: n % 2 === 0 ? {} : { n: String(n) },
      deleted: false,
      ttlUpdated: false,
      undeleted: false,
      lifeVersion: 0,
      expiresAtMs: op.ttl === -1 ? -1 : properties.creationTimeMs + op.ttl * 1000,
      operationTimeMs: now,
    };
  }

  private putInput(e: Entry, change: Change) {
    return {
      properties: change === 'props' ? { ...e.properties, contentType: 'text/plain' } : e.properties,
      userMetadata: change === 'meta' ? { ...e.meta, changed: 'yes' } : e.meta,
      // Same length, other bytes (for an empty blob this is the same content: the model must notice).
      blob: change === 'bytes' ? blobBytes(this.seed + 100_000, e.bytes.length) : e.bytes,
    };
  }

  private rangeFor(entry: Entry | undefined, raw: { o: number; l: number }) {
    const span = (entry?.bytes.length ?? 0) + 2;
    return { offset: raw.o % span, length: raw.l % span };
  }

  private expectedState(e: Entry): BlobState {
    const { undeleted: _, ...state } = lifeOf(e);
    return { ...state, expired: isExpired(e, this.now) };
  }

  private compareRead(
    e: Entry | undefined,
    flags: { includeDeleted: boolean; includeExpired: boolean },
    range: { offset: number; length: number } | undefined,
    result: Outcome<{ blob?: Buffer; range?: unknown; state: BlobState; blobSize: number }>,
    withBlob: boolean,
  ): void {
    const context = `read ${show(e)} ${JSON.stringify({ flags, range, now: this.now })}`;
    let code: ErrorCode | undefined;
    if (e === undefined) code = ErrorCode.BLOB_NOT_FOUND;
    else if (e.deleted && !flags.includeDeleted) code = ErrorCode.BLOB_DELETED;
    else if (isExpired(e, this.now) && !flags.includeExpired) code = ErrorCode.BLOB_EXPIRED;
    else if (range !== undefined && (range.length < 1 || range.offset >= e.bytes.length))
      code = ErrorCode.RANGE_NOT_SATISFIABLE;
    if (code !== undefined || e === undefined) return void expect(result, context).toEqual({ code });
    expect('ok' in result ? 'ok' : ErrorCode[result.code], context).toBe('ok');
    if (!('ok' in result)) return;
    const got = result.ok as Awaited<ReturnType<BlobStore['get']>>;
    expect(got.state, context).toEqual(this.expectedState(e));
    expect(got.blobSize).toBe(e.bytes.length);
    expect(got.blobChecksum).toBe(xxh64(e.bytes));
    expect(got.propertiesBytes.equals(encodeBlobProperties(e.properties))).toBe(true);
    expect(got.userMetadata).toEqual(e.meta);
    if (!withBlob) return void expect(got.blob).toBeUndefined();
    if (range === undefined) return void expect(got.blob.equals(e.bytes), context).toBe(true);
    const length = Math.min(range.length, e.bytes.length - range.offset);
    expect(got.range).toEqual({ offset: range.offset, length });
    expect(got.blob.equals(e.bytes.subarray(range.offset, range.offset + length)), context).toBe(true);
  }

  /** The key's full state and bytes, read past deletion and expiry. */
  private async verify(e: Entry): Promise<void> {
    const flags = { includeDeleted: true, includeExpired: true };
    this.compareRead(e, flags, undefined, await outcome(this.store.get(e.id, flags)), true);
  }

  /** Everything observable about every key: reads, counts, missing keys and the replication view. */
  async checkAll(label: string): Promise<void> {
    this.count(label);
    for (const e of this.keys) await this.verify(e);
    expect(this.store.stats().blobCount).toBe(this.model.size);
    const ids = [...this.keys.map((e) => e.id), this.ghost];
    expect((await this.store.findMissingKeys(ids)).map(String)).toEqual([this.ghost.toString()]);
    const seen = new Map<string, unknown>();
    let token: Uint8Array = Buffer.alloc(0);
    for (let i = 0; i < 10; i++) {
      const found = await this.store.findEntriesSince(token, 1 << 30);
      for (const m of found.entries) seen.set(m.blobId.toString(), lifeOf(m));
      token = found.token;
      if (found.entries.length === 0) break;
    }
    const want = new Map(this.keys.map((e) => [e.id.toString(), lifeOf(e)]));
    expect(seen).toEqual(want);
    if (this.store.stats().persistedIndexSegments > 0) this.count('persisted-segments');
  }
}

const rel: fc.Arbitrary<Rel> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(null) },
  { weight: 2, arbitrary: fc.integer({ min: -1, max: 2 }) },
);
const putArb = fc.record({
  t: fc.constant('put' as const),
  k: fc.nat(),
  fresh: fc.boolean(),
  size: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 200 }), fc.integer({ min: 200, max: 3000 })),
  // Short TTLs against clock advances of up to 15 s, so blobs expire mid-sequence; some are born expired.
  ttl: fc.constantFrom(-1, -1, 1, 3, 10, 25, 40),
  ageS: fc.constantFrom(0, 0, 0, 0, 5, 30),
  change: fc.constantFrom<Change>('none', 'none', 'bytes', 'props', 'meta'),
  lv: rel,
});
const readFlags = { k: fc.nat(), del: fc.boolean(), exp: fc.boolean() };
const keyedOpArb: fc.Arbitrary<KeyedOp> = fc.oneof(
  { weight: 5, arbitrary: putArb },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('get' as const),
      ...readFlags,
      range: fc.option(fc.record({ o: fc.nat(5000), l: fc.nat(5000) })),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('info' as const), ...readFlags }) },
  {
    weight: 6,
    arbitrary: fc.oneof(
      fc.record({ t: fc.constant('delete' as const), k: fc.nat(), lv: rel }),
      fc.record({ t: fc.constant('undelete' as const), k: fc.nat(), lv: rel }),
    ),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('ttl' as const),
      k: fc.nat(),
      inS: fc.oneof(fc.constant(-1), fc.integer({ min: 1, max: 60 })),
      lv: rel,
    }),
  },
);
const advanceArb = fc.record({ t: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 15_000 }) });
const lifeArb = fc.constantFrom<Op>({ t: 'reopen' }, { t: 'crash' });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 20, arbitrary: keyedOpArb },
  { weight: 3, arbitrary: advanceArb },
  { weight: 1, arbitrary: fc.constant<Op>({ t: 'check' }) },
  { weight: 2, arbitrary: lifeArb },
);
const configArb = fc.record({
  maxMemoryRecords: fc.integer({ min: 3, max: 20 }),
  entriesPerBlock: fc.integer({ min: 2, max: 8 }),
  ttlUpdateBufferMs: fc.constantFrom(0, 5000),
});

/** Runs steps (an array is one concurrent batch) on a fresh store, then checks everything. */
async function runScript(config: HarnessConfig, steps: readonly (Op | KeyedOp[])[]) {
  const harness = await Harness.create(config);
  try {
    for (const step of steps) await (Array.isArray(step) ? harness.runConcurrently(step) : harness.run(step));
    await harness.checkAll('end');
    return harness.tally;
  } finally {
    await harness.close().catch(() => {});
    await temp.cleanup();
  }
}

describe('BlobStore against a model', () => {
  it('agrees with the model over random operation sequences, across reopens and crashes', async () => {
    await fc.assert(
      fc.asyncProperty(configArb, fc.array(opArb, { maxLength: 60, size: 'max' }), async (config, ops) => {
        await runScript(config, ops);
      }),
      { numRuns: 60 },
    );
  }, 120_000);

  it('agrees with the model when operations on different keys run concurrently', async () => {
    const stepArb = fc.oneof(
      { weight: 4, arbitrary: fc.array(keyedOpArb, { minLength: 2, maxLength: 6 }) },
      { weight: 1, arbitrary: advanceArb },
      { weight: 1, arbitrary: lifeArb },
    );
    await fc.assert(
      fc.asyncProperty(
        configArb,
        fc.array(stepArb, { maxLength: 12, size: 'max' }),
        async (config, steps) => {
          await runScript(config, steps);
        },
      ),
      { numRuns: 30 },
    );
  }, 120_000);

  it('covers every operation and outcome in a fixed script', async () => {
    // Key i is picked by k = 8 * i; k = 7 is the ghost key that was never put.
    const put = (over: Partial<Extract<Op, { t: 'put' }>>): Op => ({
      ...{ t: 'put', k: 0, fresh: true, size: 100, ttl: -1, ageS: 0, change: 'none', lv: null },
      ...over,
    });
    const again = (k: number, change: Change = 'none') => put({ fresh: false, k, change });
    const get = (k: number, over: Partial<Extract<Op, { t: 'get' }>> = {}): Op => ({
      ...{ t: 'get', k, del: false, exp: false, range: null },
      ...over,
    });
    const del = (k: number, lv: Rel = null): Op => ({ t: 'delete', k, lv });
    const undel = (k: number, lv: Rel = null): Op => ({ t: 'undelete', k, lv });
    const ttl = (k: number, inS: number, lv: Rel = null): Op => ({ t: 'ttl', k, inS, lv });
    const [A, B, C, D, GHOST] = [0, 8, 16, 24, 7];
    // C is empty, so "other bytes" of the same length are the same content.
    const script: Op[] = [
      [put({}), put({ size: 2000, ttl: 30 }), put({ size: 0, ttl: 10, lv: 3 }), again(A), again(A, 'bytes')],
      [again(A, 'props'), again(A, 'meta'), again(C, 'bytes'), get(A), get(A, { range: { o: 10, l: 50 } })],
      [get(A, { range: { o: 10, l: 0 } }), { t: 'info', k: GHOST, del: true, exp: true } as const],
      [del(A), get(A), get(A, { del: true }), del(A), del(A, 0), undel(A), undel(A), undel(B), undel(A, 0)],
      [del(A, -1), ttl(B, -1), ttl(B, -1), put({ size: 50, ttl: 30 }), { t: 'reopen' } as const],
      // C expired 17 s ago; D expires in 3 s, inside the 5 s TTL update buffer.
      [{ t: 'advance', ms: 27_000 } as const, ttl(D, 60), ttl(C, 60), get(C)],
      [{ t: 'info', k: C, del: false, exp: true } as const, del(C), undel(C), undel(C, 1), ttl(C, -1, 0)],
      [{ t: 'crash' } as const, del(B, 2), ttl(B, -1, 0), { t: 'check' } as const],
    ].flat();
    const batch = [put({ size: 10 }), get(A), del(D), ttl(C, -1)] as KeyedOp[];
    const config = { maxMemoryRecords: 3, entriesPerBlock: 2, ttlUpdateBufferMs: 5000 };
    const tally = await runScript(config, [...script, batch, { t: 'crash' }]);
    // Every full check ran with persisted index segments, so lookups went through blocks and blooms.
    const expected = `put-new:applied=5 put-none:ignored=1 put-bytes:BLOB_ALREADY_EXISTS=1
      put-props:BLOB_ALREADY_EXISTS=1 put-meta:BLOB_ALREADY_EXISTS=1 put-bytes:ignored=1 get:ok=3
      get-range:ok=1 get-range:RANGE_NOT_SATISFIABLE=1 info:BLOB_NOT_FOUND=1 delete:applied=3
      get:BLOB_DELETED=1 delete:BLOB_DELETED=1 delete-replicated:ignored=2 undelete:applied=1
      undelete:BLOB_ALREADY_UNDELETED=1 undelete:BLOB_NOT_DELETED=1 undelete-replicated:ignored=1
      ttl:applied=1 ttl:BLOB_ALREADY_UPDATED=2 batch=1 reopen=1 advance=1 ttl:BLOB_UPDATE_NOT_ALLOWED=1
      ttl:BLOB_EXPIRED=1 get:BLOB_EXPIRED=1 info:ok=1 undelete:BLOB_EXPIRED=1 undelete-replicated:applied=1
      ttl-replicated:applied=1 crash=2 delete-replicated:applied=1 ttl-replicated:ignored=1 check=1 end=1
      persisted-segments=5`;
    const want = expected.split(/\s+/).map((pair) => pair.split('='));
    expect(Object.fromEntries(tally)).toEqual(Object.fromEntries(want.map(([k, v]) => [k, Number(v)])));
  });
});
