import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BadBlobIdError,
  BLOB_ID_VERSION,
  BlobId,
  BlobIdType,
  UNKNOWN_ACCOUNT_ID,
  UNKNOWN_CONTAINER_ID,
  UNKNOWN_DATACENTER_ID,
} from '../src/blob-id.js';
import { AmbryError, InvalidArgumentError } from '../src/errors.js';

const UUID = Uint8Array.from({ length: 16 }, (_, i) => i);

/** version 1, DATA_CHUNK + encrypted, dc 1, account 101, container 5, partition 42, uuid 00..0f */
const KNOWN_BYTES = Buffer.from([1, 0x05, 1, 0x00, 0x65, 0x00, 0x05, 0, 0, 0, 42, ...UUID]);
/** The same bytes through Python's base64.urlsafe_b64encode (27 bytes: no padding to strip). */
const KNOWN_STRING = 'AQUBAGUABQAAACoAAQIDBAUGBwgJCgsMDQ4P';

function fixedRandom(bytes: Uint8Array): (target: Uint8Array) => void {
  return (target) => target.set(bytes);
}

const typeArb = fc.constantFrom(BlobIdType.SIMPLE, BlobIdType.DATA_CHUNK, BlobIdType.METADATA);
const fieldsArb = fc.record({
  partitionId: fc.integer({ min: 0, max: 0xffff_ffff }),
  datacenterId: fc.integer({ min: 0, max: 255 }),
  accountId: fc.integer({ min: 0, max: 65535 }),
  containerId: fc.integer({ min: 0, max: 65535 }),
  type: typeArb,
  encrypted: fc.boolean(),
  uuid: fc.uint8Array({ minLength: 16, maxLength: 16 }),
});

type Fields = typeof fieldsArb extends fc.Arbitrary<infer T> ? T : never;

function generate(f: Fields): BlobId {
  const { uuid, ...rest } = f;
  return BlobId.generate({ ...rest, random: fixedRandom(uuid) });
}

/** Run `fn`; fail the test if it throws anything but a BadBlobIdError. */
function expectOnlyBadBlobId(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof BadBlobIdError)) throw new Error(`escaped a non-BadBlobIdError: ${String(error)}`);
  }
}

describe('BlobId known encoding', () => {
  it('decodes a hand-built 27-byte id and its 36-character string', () => {
    for (const id of [BlobId.fromBytes(KNOWN_BYTES), BlobId.parse(KNOWN_STRING)]) {
      expect(id.version).toBe(1);
      expect(id.type).toBe(BlobIdType.DATA_CHUNK);
      expect(id.encrypted).toBe(true);
      expect(id.datacenterId).toBe(1);
      expect(id.accountId).toBe(101);
      expect(id.containerId).toBe(5);
      expect(id.partitionId).toBe(42);
      expect([...id.uuid]).toEqual([...UUID]);
      expect(id.toString()).toBe(KNOWN_STRING);
      expect(id.toBytes().equals(KNOWN_BYTES)).toBe(true);
      expect(id.byteLength).toBe(27);
    }
  });

  it('decodes a second hand-built id with high bytes (unsigned reads)', () => {
    const bytes = Buffer.from([
      1,
      0x06,
      7,
      0x12,
      0x34,
      0xab,
      0xcd,
      0xde,
      0xad,
      0xbe,
      0xef,
      ...new Array(16).fill(0xff),
    ]);
    const id = BlobId.parse('AQYHEjSrzd6tvu______________________');
    expect(id.type).toBe(BlobIdType.METADATA);
    expect(id.encrypted).toBe(true);
    expect(id.datacenterId).toBe(7);
    expect(id.accountId).toBe(0x1234);
    expect(id.containerId).toBe(0xabcd);
    expect(id.partitionId).toBe(0xdeadbeef);
    expect(id.toBytes().equals(bytes)).toBe(true);
  });

  it('writes every field at its documented offset', () => {
    const uuid = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
    const id = BlobId.generate({
      partitionId: 0x01020304,
      datacenterId: 9,
      accountId: 0x0a0b,
      containerId: 0x0c0d,
      type: BlobIdType.DATA_CHUNK,
      random: fixedRandom(uuid),
    });
    const b = id.toBytes();
    expect(b.byteLength).toBe(27);
    expect(b[0]).toBe(1);
    expect(b[1]).toBe(0x01);
    expect(b[2]).toBe(9);
    expect(b.readUInt16BE(3)).toBe(0x0a0b);
    expect(b.readUInt16BE(5)).toBe(0x0c0d);
    expect(b.readUInt32BE(7)).toBe(0x01020304);
    // RFC 4122 version 4 and variant bits forced, the rest from the random source.
    const expected = Buffer.from(uuid);
    expected[6] = 0x40 | (uuid[6]! & 0x0f);
    expected[8] = 0x80 | (uuid[8]! & 0x3f);
    expect(b.subarray(11).equals(expected)).toBe(true);
    expect(id.toString()).toHaveLength(36);
    expect(BlobId.byteLengthOf(1)).toBe(27);
  });

  it('defaults to a SIMPLE, unencrypted id with unknown datacenter, account and container', () => {
    const id = BlobId.generate({ partitionId: 3 });
    expect(id.version).toBe(BLOB_ID_VERSION);
    expect(id.type).toBe(BlobIdType.SIMPLE);
    expect(id.encrypted).toBe(false);
    expect(id.datacenterId).toBe(UNKNOWN_DATACENTER_ID);
    expect(id.accountId).toBe(UNKNOWN_ACCOUNT_ID);
    expect(id.containerId).toBe(UNKNOWN_CONTAINER_ID);
    expect(id.toBytes()[1]).toBe(0);
  });

  it('generates distinct random v4 uuids', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const id = BlobId.generate({ partitionId: 1 });
      const uuid = id.uuid;
      expect(uuid[6]! >> 4).toBe(4);
      expect(uuid[8]! >> 6).toBe(0b10);
      seen.add(id.toString());
    }
    expect(seen.size).toBe(1000);
  });

  it('formats the long form', () => {
    const id = BlobId.parse(KNOWN_STRING);
    expect(id.toLongForm()).toBe(
      '[v1:DATA_CHUNK:dc=1:account=101:container=5:partition=42:uuid=00010203-0405-0607-0809-0a0b0c0d0e0f:encrypted]',
    );
    const plain = BlobId.generate({
      partitionId: 42,
      datacenterId: 1,
      accountId: 101,
      containerId: 5,
      random: fixedRandom(new Uint8Array(16)),
    });
    expect(plain.toLongForm()).toBe(
      '[v1:SIMPLE:dc=1:account=101:container=5:partition=42:uuid=00000000-0000-4000-8000-000000000000]',
    );
  });

  it('serializes to JSON as its string', () => {
    const id = BlobId.parse(KNOWN_STRING);
    expect(JSON.stringify({ id })).toBe(`{"id":"${KNOWN_STRING}"}`);
  });
});

describe('BlobId round trips and immutability', () => {
  it('string and bytes round trip every field', () => {
    fc.assert(
      fc.property(fieldsArb, (f) => {
        const id = generate(f);
        const s = id.toString();
        expect(s).toHaveLength(36);
        expect(s).toMatch(/^[A-Za-z0-9_-]{36}$/);
        for (const back of [BlobId.parse(s), BlobId.fromBytes(id.toBytes())]) {
          expect(back.equals(id)).toBe(true);
          expect(back.toString()).toBe(s);
          expect(back.type).toBe(f.type);
          expect(back.encrypted).toBe(f.encrypted);
          expect(back.partitionId).toBe(f.partitionId);
          expect(back.datacenterId).toBe(f.datacenterId);
          expect(back.accountId).toBe(f.accountId);
          expect(back.containerId).toBe(f.containerId);
          expect(Buffer.from(back.uuid).equals(Buffer.from(id.uuid))).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('decodeFrom finds an id embedded in a larger record', () => {
    fc.assert(
      fc.property(
        fieldsArb,
        fc.uint8Array({ maxLength: 20 }),
        fc.uint8Array({ maxLength: 20 }),
        (f, pre, post) => {
          const id = generate(f);
          const record = Buffer.concat([pre, id.toBytes(), post]);
          const { blobId, byteLength } = BlobId.decodeFrom(record, pre.byteLength);
          expect(byteLength).toBe(27);
          expect(blobId.equals(id)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('decodeFrom reports truncation at every length', () => {
    const record = Buffer.concat([Buffer.from([9, 9]), KNOWN_BYTES]);
    for (let end = 2; end < record.byteLength; end++) {
      expect(() => BlobId.decodeFrom(record.subarray(0, end), 2)).toThrow(BadBlobIdError);
    }
    expect(() => BlobId.decodeFrom(record, -1)).toThrow(BadBlobIdError);
    expect(() => BlobId.decodeFrom(record, 1.5)).toThrow(BadBlobIdError);
  });

  it('does not share memory with its input or its outputs', () => {
    const input = Buffer.from(KNOWN_BYTES);
    const id = BlobId.fromBytes(input);
    input.fill(0);
    id.toBytes().fill(0);
    id.uuid.fill(0);
    expect(id.toString()).toBe(KNOWN_STRING);
    expect(id.toBytes().equals(KNOWN_BYTES)).toBe(true);
    expect([...id.uuid]).toEqual([...UUID]);
    const embedded = Buffer.concat([Buffer.from([0]), KNOWN_BYTES]);
    const { blobId } = BlobId.decodeFrom(embedded, 1);
    embedded.fill(0);
    expect(blobId.toString()).toBe(KNOWN_STRING);
  });

  it('writeTo copies the bytes into a target', () => {
    const id = BlobId.parse(KNOWN_STRING);
    const target = Buffer.alloc(30);
    expect(id.writeTo(target, 3)).toBe(27);
    expect(target.subarray(3).equals(KNOWN_BYTES)).toBe(true);
    expect(() => id.writeTo(target, 4)).toThrow(InvalidArgumentError);
  });

  it('compare is bytewise order and consistent with equals', () => {
    fc.assert(
      fc.property(fieldsArb, fieldsArb, (f1, f2) => {
        const a = generate(f1);
        const b = generate(f2);
        const expected = Buffer.compare(a.toBytes(), b.toBytes());
        expect(Math.sign(BlobId.compare(a, b))).toBe(expected);
        expect(Math.sign(BlobId.compare(b, a))).toBe(-expected);
        expect(a.equals(b)).toBe(expected === 0);
        expect(BlobId.compare(a, a)).toBe(0);
      }),
      { numRuns: 200 },
    );
    // Partition is compared before the uuid (offset 7 < 11).
    const low = BlobId.generate({ partitionId: 1, random: fixedRandom(new Uint8Array(16).fill(0xff)) });
    const high = BlobId.generate({ partitionId: 2, random: fixedRandom(new Uint8Array(16)) });
    expect(BlobId.compare(low, high)).toBeLessThan(0);
    const sorted = [high, low].sort(BlobId.compare);
    expect(sorted[0]).toBe(low);
  });
});

describe('BlobId.generate validation', () => {
  it.each([
    [{ partitionId: -1 }],
    [{ partitionId: 2 ** 32 }],
    [{ partitionId: 1.5 }],
    [{ partitionId: Number.NaN }],
    [{ partitionId: '1' as unknown as number }],
    [{ partitionId: 1, datacenterId: 256 }],
    [{ partitionId: 1, datacenterId: -1 }],
    [{ partitionId: 1, accountId: 65536 }],
    [{ partitionId: 1, containerId: 70000 }],
    [{ partitionId: 1, type: 3 as BlobIdType }],
    [{ partitionId: 1, encrypted: 1 as unknown as boolean }],
    [{ partitionId: 1, random: 'x' as unknown as () => void }],
  ])('rejects %o with InvalidArgumentError', (fields) => {
    expect(() => BlobId.generate(fields)).toThrow(InvalidArgumentError);
  });

  it('accepts the extreme values', () => {
    const id = BlobId.generate({
      partitionId: 0xffff_ffff,
      datacenterId: 0,
      accountId: 0,
      containerId: 65535,
    });
    expect(BlobId.parse(id.toString()).partitionId).toBe(0xffff_ffff);
  });
});

describe('BlobId.parse on malformed input', () => {
  function rejects(input: unknown, message?: RegExp): BadBlobIdError {
    let caught: unknown;
    try {
      BlobId.parse(input);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(BadBlobIdError);
    expect(caught).toBeInstanceOf(AmbryError);
    if (message) expect((caught as Error).message).toMatch(message);
    expect(BlobId.tryParse(input)).toBeUndefined();
    return caught as BadBlobIdError;
  }

  it('rejects non-strings', () => {
    for (const input of [undefined, null, 42, {}, [], KNOWN_BYTES, Symbol('x'), 10n, () => KNOWN_STRING]) {
      rejects(input, /must be a string/);
    }
  });

  it('rejects empty, too short, too long and huge strings', () => {
    rejects('', /empty/);
    rejects('A', /short/);
    rejects(KNOWN_STRING.slice(0, -1), /36 characters/);
    rejects(`${KNOWN_STRING}A`, /36 characters/);
    rejects(`${KNOWN_STRING}AAAA`, /36 characters/);
    const huge = rejects('A'.repeat(10_000_000), /longer than any valid id/);
    expect(huge.input!.length).toBeLessThanOrEqual(81);
  });

  it('rejects every truncation of a valid string', () => {
    for (let n = 0; n < KNOWN_STRING.length; n++) rejects(KNOWN_STRING.slice(0, n));
  });

  it('rejects padding, standard base64 characters and other garbage', () => {
    rejects(`${KNOWN_STRING}=`, /padding/);
    rejects(`${KNOWN_STRING.slice(0, -2)}==`, /padding/);
    // The same bytes in the standard alphabet ('+' and '/').
    rejects(Buffer.from([1, 0, 0xfb, 0xff, 0xbf, ...new Array(22).fill(0)]).toString('base64'), /URL-safe/);
    for (const bad of [' ', '.', '\n', '\u00e9', '\u0000', '%', '😀']) {
      rejects(`${KNOWN_STRING.slice(0, 20)}${bad}${KNOWN_STRING.slice(21)}`, /URL-safe/);
    }
    rejects(` ${KNOWN_STRING}`);
    rejects(`${KNOWN_STRING}\n`);
  });

  it('keeps the input on the error', () => {
    const error = rejects('AAAA');
    expect(error.input).toBe('AAAA');
    expect(rejects(42).input).toBeUndefined();
  });

  function withByte(index: number, value: number): string {
    const bytes = Buffer.from(KNOWN_BYTES);
    bytes[index] = value;
    return bytes.toString('base64url');
  }

  it('rejects unknown versions', () => {
    for (const version of [0, 2, 7, 255]) {
      rejects(withByte(0, version), /version/);
      expect(() => BlobId.fromBytes(Buffer.from([version, ...KNOWN_BYTES.subarray(1)]))).toThrow(
        BadBlobIdError,
      );
    }
    expect(() => BlobId.byteLengthOf(2)).toThrow(BadBlobIdError);
  });

  it('rejects reserved flag bits and type 3', () => {
    for (let bit = 3; bit < 8; bit++) {
      rejects(withByte(1, 1 << bit), /reserved/);
      expect(() => BlobId.fromBytes(Buffer.from(Buffer.from(withByte(1, 1 << bit), 'base64url')))).toThrow(
        /reserved/,
      );
    }
    rejects(withByte(1, 0x03), /type 3/);
    rejects(withByte(1, 0x07), /type 3/);
    // The valid flag combinations all parse.
    for (const flags of [0, 1, 2, 4, 5, 6]) expect(BlobId.parse(withByte(1, flags)).toBytes()[1]).toBe(flags);
  });

  it('fromBytes wants exactly one id', () => {
    expect(() => BlobId.fromBytes(new Uint8Array(0))).toThrow(BadBlobIdError);
    for (let n = 1; n < 27; n++)
      expect(() => BlobId.fromBytes(KNOWN_BYTES.subarray(0, n))).toThrow(BadBlobIdError);
    expect(() => BlobId.fromBytes(Buffer.concat([KNOWN_BYTES, Buffer.from([0])]))).toThrow(BadBlobIdError);
    expect(() => BlobId.fromBytes('abc' as unknown as Uint8Array)).toThrow(BadBlobIdError);
  });

  it('random strings never throw anything but BadBlobIdError', () => {
    const alphabet = fc.constantFrom(
      ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ .'.split(''),
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.string({ unit: alphabet, minLength: 30, maxLength: 40 }),
          fc.string({ unit: 'grapheme', maxLength: 50 }),
          fc.anything(),
        ),
        (input) => {
          expectOnlyBadBlobId(() => BlobId.parse(input));
          const parsed = BlobId.tryParse(input);
          // Anything that parses is canonical: it prints back to the same string.
          if (parsed) expect(parsed.toString()).toBe(input);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('random 36-character base64url strings parse exactly when their bytes are valid', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 27, maxLength: 27 }), fc.boolean(), (bytes, forceVersion) => {
        if (forceVersion) bytes[0] = 1;
        const s = Buffer.from(bytes).toString('base64url');
        const valid = bytes[0] === 1 && (bytes[1]! & 0xf8) === 0 && (bytes[1]! & 3) !== 3;
        expect(BlobId.tryParse(s) !== undefined).toBe(valid);
        expectOnlyBadBlobId(() => BlobId.parse(s));
        expectOnlyBadBlobId(() => BlobId.fromBytes(bytes));
      }),
      { numRuns: 500 },
    );
  });

  it('random bytes never throw anything but BadBlobIdError from fromBytes or decodeFrom', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 60 }), fc.integer({ min: -2, max: 62 }), (bytes, offset) => {
        expectOnlyBadBlobId(() => BlobId.fromBytes(bytes));
        expectOnlyBadBlobId(() => BlobId.decodeFrom(bytes, offset));
      }),
      { numRuns: 500 },
    );
  });
});
