/**
 * The data node fuzzer's cases (test/fuzz-datanode.test.ts): random bytes, or valid request frames
 * (built with @ambry/protocol's encoders) with one field mutated, and what the node owes for each:
 * answers to the intact frames, or closing the connection on a violation it sees in the prefix.
 */
import {
  BlobId,
  type BlobProperties,
  encodeFrame,
  encodeRequest,
  type Frame,
  GetPart,
  type Request,
  xxh64,
} from '@ambry/protocol';
import fc from 'fast-check';
import type { Delivery } from './fuzz-kit.js';

/** The largest frame the node accepts (its default maxFrameBytes). */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

export function properties(size: number): BlobProperties {
  return {
    blobSize: size,
    serviceId: 'fault-suite',
    contentType: 'application/octet-stream',
    creationTimeMs: Date.now(),
    ttlSeconds: -1,
    isPrivate: false,
    accountId: 65535,
    containerId: 65535,
  };
}

export type RequestSpec =
  | { type: 'get'; victim: number; part: number; range?: { offset: number; length: number } }
  | { type: 'getRandom'; partition: number; uuid: Uint8Array }
  | { type: 'put'; partition: number; uuid: Uint8Array; size: number; metadata: Record<string, string> }
  | { type: 'delete' | 'ttlUpdate' | 'undelete'; victim: number; time: number }
  | { type: 'replicaMetadata'; tokens: Uint8Array[]; maxTotalBytes: number }
  | { type: 'admin'; kind: number; partitionIds: number[] };

export type Mutation =
  | { kind: 'none' }
  | { kind: 'length'; value: number; relative: boolean }
  | { kind: 'version'; value: number }
  | { kind: 'flags'; value: number }
  | { kind: 'correlation'; value: number }
  | { kind: 'headerLength'; value: number; relative: boolean }
  | { kind: 'truncate'; at: number }
  | { kind: 'flip'; positions: number[]; recomputeChecksum: boolean }
  | { kind: 'garbageHeader'; header: Uint8Array }
  | { kind: 'trailing'; bytes: Uint8Array }
  | { kind: 'bigPartial'; announced: number; sent: number };

export type FrameCase =
  | { kind: 'random'; bytes: Uint8Array; delivery: Delivery }
  | {
      kind: 'frames';
      requests: RequestSpec[];
      correlationIds: number[];
      /** Index of the frame the mutation applies to. */
      target: number;
      mutation: Mutation;
      delivery: Delivery;
    };

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
/** A position inside something, as a fraction of 65536. */
const fraction = fc.integer({ min: 0, max: 0xffff });

/** What cases may aim at: the partitions the node hosts and blobs it holds that cases may change. */
export interface FrameTargets {
  readonly partitions: readonly number[];
  readonly victims: readonly BlobId[];
}

/** Random bytes, or a few valid request frames with one of them mutated, delivered fast or trickled. */
export function frameCases({ partitions, victims }: FrameTargets): fc.Arbitrary<FrameCase> {
  const uuid = fc.uint8Array({ minLength: 16, maxLength: 16 });
  const partition = fc.oneof(
    fc.constantFrom(...partitions),
    fc.integer({ min: 0, max: 0xffff_ffff }), // mostly a partition this node does not have
  );
  const victim = fc.nat({ max: victims.length - 1 });
  const request: fc.Arbitrary<RequestSpec> = fc.oneof(
    fc.record(
      {
        type: fc.constant('get' as const),
        victim,
        part: fc.constantFrom(GetPart.ALL, GetPart.BLOB, GetPart.INFO),
        range: fc.record({
          offset: fc.oneof(fc.nat({ max: 2000 }), fc.constant(Number.MAX_SAFE_INTEGER - 1)),
          length: fc.oneof(fc.integer({ min: 1, max: 2000 }), fc.constant(Number.MAX_SAFE_INTEGER)),
        }),
      },
      { requiredKeys: ['type', 'victim', 'part'] },
    ),
    fc.record({ type: fc.constant('getRandom' as const), partition, uuid }),
    fc.record({
      type: fc.constant('put' as const),
      partition,
      uuid,
      size: fc.oneof(fc.nat({ max: 64 }), fc.nat({ max: 8192 })),
      metadata: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 16 }), {
        maxKeys: 3,
      }),
    }),
    fc.record({
      type: fc.constantFrom('delete' as const, 'ttlUpdate' as const, 'undelete' as const),
      victim,
      time: fc.nat({ max: 2 ** 40 }),
    }),
    fc.record({
      type: fc.constant('replicaMetadata' as const),
      tokens: fc.array(fc.uint8Array({ maxLength: 48 }), { maxLength: 3 }),
      maxTotalBytes: fc.nat({ max: 1 << 20 }),
    }),
    fc.record({
      type: fc.constant('admin' as const),
      kind: fc.constantFrom(1, 2, 3),
      partitionIds: fc.array(fc.oneof(fc.constantFrom(...partitions), fc.nat()), { maxLength: 4 }),
    }),
  );
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    { weight: 3, arbitrary: fc.constant({ kind: 'none' as const }) },
    fc.oneof(
      fc.record({
        kind: fc.constant('length' as const),
        value: fc.oneof(
          fc.constantFrom(
            0,
            1,
            17,
            18,
            19,
            0x7fff_ffff,
            0xffff_ffff,
            MAX_FRAME_BYTES - 4,
            MAX_FRAME_BYTES - 3,
          ),
          u32,
        ),
        relative: fc.constant(false),
      }),
      fc.record({
        kind: fc.constant('length' as const),
        value: fc.integer({ min: -64, max: 64 }),
        relative: fc.constant(true),
      }),
    ),
    fc.record({ kind: fc.constant('version' as const), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('flags' as const), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('correlation' as const), value: u32 }),
    fc.oneof(
      fc.record({ kind: fc.constant('headerLength' as const), value: u32, relative: fc.constant(false) }),
      fc.record({
        kind: fc.constant('headerLength' as const),
        value: fc.integer({ min: -8, max: 8 }),
        relative: fc.constant(true),
      }),
    ),
    fc.record({ kind: fc.constant('truncate' as const), at: fraction }),
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('flip' as const),
        positions: fc.array(fraction, { minLength: 1, maxLength: 4 }),
        recomputeChecksum: fc.boolean(),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('garbageHeader' as const),
        header: fc.uint8Array({ maxLength: 256 }),
      }),
    },
    fc.record({
      kind: fc.constant('trailing' as const),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }),
    }),
    fc.record({
      kind: fc.constant('bigPartial' as const),
      announced: fc.constantFrom(MAX_FRAME_BYTES - 4, 16 * 1024 * 1024, 1024 * 1024),
      sent: fc.integer({ min: 0, max: 256 * 1024 }),
    }),
  );
  const delivery: fc.Arbitrary<Delivery> = fc.oneof(
    { weight: 5, arbitrary: fc.constant({ kind: 'fast' as const }) },
    fc.record({
      kind: fc.constant('slow' as const),
      size: fc.integer({ min: 1, max: 3 }),
      delayMs: fc.integer({ min: 0, max: 2 }),
    }),
  );
  const frames = fc.array(request, { minLength: 1, maxLength: 3 }).chain((requests) =>
    fc.record({
      kind: fc.constant('frames' as const),
      requests: fc.constant(requests),
      correlationIds: fc.array(u32, { minLength: requests.length, maxLength: requests.length }),
      target: fc.nat({ max: requests.length - 1 }),
      mutation,
      delivery,
    }),
  );
  const random = fc.record({
    kind: fc.constant('random' as const),
    bytes: fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.uint8Array({ maxLength: 4096 }),
      // A plausible prefix followed by noise.
      fc
        .tuple(fc.integer({ min: 18, max: 4096 }), fc.uint8Array({ maxLength: 512 }))
        .map(([length, rest]) => {
          const out = new Uint8Array(6 + rest.byteLength);
          new DataView(out.buffer).setUint32(0, length);
          out[4] = 1;
          out.set(rest, 6);
          return out;
        }),
    ),
    delivery,
  });
  return fc.oneof(
    { weight: 1, arbitrary: random },
    { weight: 4, arbitrary: frames },
  ) as fc.Arbitrary<FrameCase>;
}

function idFrom(partition: number, uuid: Uint8Array): BlobId {
  return BlobId.generate({ partitionId: partition, random: (target) => target.set(uuid) });
}

function toRequest(spec: RequestSpec, { partitions, victims }: FrameTargets): Request {
  switch (spec.type) {
    case 'get':
      return {
        type: 'get',
        blobId: victims[spec.victim]!,
        part: spec.part,
        ...(spec.range ? { range: spec.range } : {}),
      };
    case 'getRandom':
      return { type: 'get', blobId: idFrom(spec.partition, spec.uuid) };
    case 'put': {
      const blob = new Uint8Array(spec.size).map((_, i) => spec.uuid[i % 16]! ^ i);
      return {
        type: 'put',
        blobId: idFrom(spec.partition, spec.uuid),
        properties: properties(spec.size),
        userMetadata: spec.metadata,
        blob,
      };
    }
    case 'delete':
    case 'undelete':
      return { type: spec.type, blobId: victims[spec.victim]!, operationTimeMs: spec.time };
    case 'ttlUpdate':
      return {
        type: 'ttlUpdate',
        blobId: victims[spec.victim]!,
        expiresAtMs: -1,
        operationTimeMs: spec.time,
      };
    case 'replicaMetadata':
      return {
        type: 'replicaMetadata',
        partitions: spec.tokens.map((token, i) => ({
          partitionId: partitions[i % partitions.length]!,
          token,
        })),
        maxTotalBytes: spec.maxTotalBytes,
        requester: 'fault-suite',
      };
    case 'admin':
      return { type: 'admin', kind: spec.kind, partitionIds: spec.partitionIds };
  }
}

function frameBytes(frame: Frame): Buffer {
  return Buffer.concat(encodeFrame(frame, MAX_FRAME_BYTES));
}

/** Rewrites the chained checksum after the header or payload bytes were changed. */
function fixChecksum(bytes: Buffer): void {
  if (bytes.byteLength < 22) return;
  const headerLength = bytes.readUInt32BE(10);
  const end = Math.min(bytes.byteLength, 4 + bytes.readUInt32BE(0));
  const header = bytes.subarray(22, Math.min(22 + headerLength, end));
  const payload = bytes.subarray(Math.min(22 + headerLength, end), end);
  bytes.writeBigUInt64BE(xxh64(payload, xxh64(header)), 14);
}

function at(fractionOf: number, length: number): number {
  return Math.min(length - 1, Math.floor((fractionOf / 0x10000) * length));
}

/** The bytes of one mutated frame; `intact` is false when the mutation breaks the frame. */
function mutate(frame: Buffer, mutation: Mutation): { bytes: Buffer; intact: boolean } {
  const bytes = Buffer.from(frame);
  switch (mutation.kind) {
    case 'none':
    case 'correlation':
      if (mutation.kind === 'correlation') bytes.writeUInt32BE(mutation.value, 6);
      return { bytes, intact: true };
    case 'length': {
      const right = bytes.readUInt32BE(0);
      const value = mutation.relative ? right + mutation.value : mutation.value;
      const clamped = Math.max(0, Math.min(0xffff_ffff, value));
      bytes.writeUInt32BE(clamped, 0);
      return { bytes, intact: clamped === right };
    }
    case 'version':
      bytes.writeUInt8(mutation.value, 4);
      return { bytes, intact: mutation.value === 1 };
    case 'flags':
      bytes.writeUInt8(mutation.value, 5);
      return { bytes, intact: mutation.value === 0 };
    case 'headerLength': {
      const right = bytes.readUInt32BE(10);
      const value = mutation.relative ? Math.max(0, right + mutation.value) : mutation.value;
      bytes.writeUInt32BE(value, 10);
      return { bytes, intact: value === right };
    }
    case 'truncate':
      return { bytes: bytes.subarray(0, at(mutation.at, bytes.byteLength)), intact: false };
    case 'flip': {
      for (const position of mutation.positions) {
        const index = at(position, bytes.byteLength);
        bytes[index] = bytes[index]! ^ (1 + (position % 255));
      }
      if (mutation.recomputeChecksum) fixChecksum(bytes);
      return { bytes, intact: false };
    }
    case 'garbageHeader': {
      const payloadStart = 22 + frame.readUInt32BE(10);
      const payload = frame.subarray(payloadStart);
      const rebuilt = frameBytes({
        kind: 'request',
        correlationId: frame.readUInt32BE(6),
        header: mutation.header,
        payload,
      });
      return { bytes: rebuilt, intact: true };
    }
    case 'trailing':
      return { bytes: Buffer.concat([bytes, mutation.bytes]), intact: false };
    case 'bigPartial': {
      const prefix = Buffer.from(bytes.subarray(0, 22));
      prefix.writeUInt32BE(mutation.announced, 0);
      return { bytes: Buffer.concat([prefix, Buffer.alloc(mutation.sent, 0xab)]), intact: false };
    }
  }
}

export interface BuiltFrames {
  readonly bytes: Buffer;
  /**
   * The mutation is a violation the node sees in the prefix alone (length out of bounds, header length
   * past the frame, unknown version, reserved or response flag): it must close the connection itself.
   */
  readonly mustClose: boolean;
  /** Correlation ids of the frames that must be answered (none when a frame is broken). */
  readonly mustAnswer: number[];
  readonly frames: number;
}

function violatesPrefix(frame: Buffer, mutated: Buffer, mutation: Mutation): boolean {
  switch (mutation.kind) {
    case 'version':
    case 'flags':
      return mutated.readUInt8(mutation.kind === 'version' ? 4 : 5) !== (mutation.kind === 'version' ? 1 : 0);
    case 'length': {
      const length = mutated.readUInt32BE(0);
      return length < 18 || length + 4 > MAX_FRAME_BYTES;
    }
    case 'headerLength':
      return mutated.readUInt32BE(10) > frame.readUInt32BE(0) - 18;
    default:
      return false;
  }
}

/** The bytes of a case and what the node owes for them. */
export function buildFrames(c: FrameCase, targets: FrameTargets): BuiltFrames {
  if (c.kind === 'random')
    return { bytes: Buffer.from(c.bytes), mustAnswer: [], mustClose: false, frames: 0 };
  let mustClose = false;
  const parts: Buffer[] = [];
  const mustAnswer: number[] = [];
  let broken = false;
  c.requests.forEach((spec, i) => {
    const message = encodeRequest(toRequest(spec, targets), 'fault-suite');
    const frame = frameBytes({
      kind: 'request',
      correlationId: c.correlationIds[i]!,
      header: message.header,
      payload: message.payload,
    });
    if (i !== c.target) {
      mustAnswer.push(c.correlationIds[i]!);
      parts.push(frame);
      return;
    }
    const { bytes, intact } = mutate(frame, c.mutation);
    mustClose = violatesPrefix(frame, bytes, c.mutation);
    if (intact) mustAnswer.push(bytes.readUInt32BE(6));
    if (!intact) broken = true;
    parts.push(bytes);
  });
  // A violation closes the connection at once (docs/formats.md, "Frame"): requests before it on the
  // same connection may be lost with it, so only a case without one expects every answer.
  return {
    bytes: Buffer.concat(parts),
    mustAnswer: broken ? [] : mustAnswer,
    mustClose,
    frames: c.requests.length,
  };
}

/** JSON.stringify replacer for cases that hold bigints. */
export function bigintSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  return value;
}
