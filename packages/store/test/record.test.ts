import { xxh64 } from '@ambry/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DataCorruptError, InvalidStoreArgumentError } from '../src/errors.js';
import {
  blobOffset,
  CHECKSUM_BYTES,
  decodePutRecord,
  encodePutRecord,
  encodeUpdateRecord,
  headerLength,
  MAX_KEY_BYTES,
  type PutRecordFields,
  parseRecordHeader,
  propertiesOffset,
  RECORD_FIXED_BYTES,
  RECORD_MAGIC,
  RECORD_VERSION,
  RecordType,
  recordLength,
  type UpdateRecordFields,
  userMetadataOffset,
  verifyRecord,
} from '../src/record.js';

const RUNS = { numRuns: 100 };

const u16 = fc.integer({ min: 0, max: 0xffff });
const bytes = (maxLength: number, minLength = 0) =>
  fc.uint8Array({ minLength, maxLength }).map((a) => Buffer.from(a));
const fieldsArb: fc.Arbitrary<PutRecordFields> = fc.record({
  lifeVersion: u16,
  accountId: u16,
  containerId: u16,
  operationTimeMs: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  expiresAtMs: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
  key: bytes(64, 1),
});
const updateTypeArb = fc.constantFrom(RecordType.DELETE, RecordType.TTL_UPDATE, RecordType.UNDELETE);
const putArb = fc.record({
  fields: fieldsArb,
  properties: bytes(200),
  userMetadata: bytes(200),
  blob: bytes(2000),
});

const validFields: PutRecordFields = {
  lifeVersion: 0,
  accountId: 1,
  containerId: 2,
  operationTimeMs: 1000,
  expiresAtMs: -1,
  key: Buffer.from('some-key'),
};

function putRecord(p: { fields: PutRecordFields; properties: Buffer; userMetadata: Buffer; blob: Buffer }) {
  const enc = encodePutRecord(p.fields, p.properties, p.userMetadata, p.blob);
  return { enc, record: Buffer.concat(enc.buffers) };
}

function flip(buf: Buffer, at: number, mask: number): Buffer {
  const copy = Buffer.from(buf);
  copy[at] = copy[at]! ^ mask;
  return copy;
}

function expectFields(h: PutRecordFields, got: PutRecordFields) {
  expect(got.lifeVersion).toBe(h.lifeVersion);
  expect(got.accountId).toBe(h.accountId);
  expect(got.containerId).toBe(h.containerId);
  expect(got.operationTimeMs).toBe(h.operationTimeMs);
  expect(got.expiresAtMs).toBe(h.expiresAtMs);
  expect(got.key.equals(h.key)).toBe(true);
}

describe('update records', () => {
  it('round-trip for every update type', () => {
    fc.assert(
      fc.property(fieldsArb, updateTypeArb, (fields, type) => {
        const h: UpdateRecordFields = { ...fields, type };
        const record = encodeUpdateRecord(h);
        const full = { ...h, propertiesLength: 0, userMetadataLength: 0, blobLength: 0 };
        expect(record.length).toBe(recordLength(full));
        expect(record.length).toBe(52 + h.key.length);
        const parsed = parseRecordHeader(record, 0, record.length);
        expect(parsed.status).toBe('ok');
        if (parsed.status !== 'ok') return;
        expect(parsed.header).toEqual(full);
        expect(parsed.headerBytes).toBe(record.length);
        expect(verifyRecord(record)).toEqual(full);
      }),
      RUNS,
    );
  });

  it('parse at an offset inside a larger buffer, copying the key', () => {
    const record = encodeUpdateRecord({ ...validFields, type: RecordType.DELETE });
    // Large enough to be its own allocation, as a log read buffer is.
    const buf = Buffer.concat([Buffer.alloc(13, 7), record, Buffer.alloc(64 * 1024, 9)]);
    const parsed = parseRecordHeader(buf, 13, buf.length);
    expect(parsed.status).toBe('ok');
    if (parsed.status !== 'ok') return;
    expect(parsed.headerBytes).toBe(record.length);
    expect(parsed.header.key.buffer).not.toBe(buf.buffer);
    buf.fill(0);
    expect(parsed.header.key.equals(validFields.key)).toBe(true);
  });

  it('golden DELETE record matches the layout table field by field', () => {
    // The 27-byte v1 blob id of docs/formats.md section 1.
    const key = Buffer.from('010501006500050000002a000102030405060708090a0b0c0d0e0f', 'hex');
    const record = encodeUpdateRecord({
      type: RecordType.DELETE,
      lifeVersion: 3,
      accountId: 101,
      containerId: 5,
      operationTimeMs: 1_700_000_000_000,
      expiresAtMs: -1,
      key,
    });
    const expectedHex =
      '0bb1' + // magic 0xB10B, little-endian
      '01' + // record format version
      '02' + // type DELETE
      '0300' + // lifeVersion 3
      '6500' + // accountId 101
      '0500' + // containerId 5
      '1b00' + // keyLength 27
      '0068e5cf8b010000' + // operationTimeMs 1_700_000_000_000 = 0x18B_CFE5_6800
      'ffffffffffffffff' + // expiresAtMs -1
      '00000000' + // propertiesLength
      '00000000' + // userMetadataLength
      '0000000000000000' + // blobLength
      '010501006500050000002a000102030405060708090a0b0c0d0e0f' + // key
      'b46f9c9d754d1032'; // xxh64 of bytes [0, 71) = 0x32104d759d9c6fb4, little-endian
    expect(record.toString('hex')).toBe(expectedHex);
    expect(record.length).toBe(79);

    expect(record.readUInt16LE(0)).toBe(RECORD_MAGIC);
    expect(record.readUInt8(2)).toBe(RECORD_VERSION);
    expect(record.readUInt8(3)).toBe(RecordType.DELETE);
    expect(record.readUInt16LE(4)).toBe(3);
    expect(record.readUInt16LE(6)).toBe(101);
    expect(record.readUInt16LE(8)).toBe(5);
    expect(record.readUInt16LE(10)).toBe(27);
    expect(record.readBigInt64LE(12)).toBe(1_700_000_000_000n);
    expect(record.readBigInt64LE(20)).toBe(-1n);
    expect(record.readUInt32LE(28)).toBe(0);
    expect(record.readUInt32LE(32)).toBe(0);
    expect(record.readBigUInt64LE(36)).toBe(0n);
    expect(record.subarray(44, 71).equals(key)).toBe(true);
    expect(record.readBigUInt64LE(71)).toBe(xxh64(record.subarray(0, 71)));
    expect(record.readBigUInt64LE(71)).toBe(0x32104d759d9c6fb4n);
  });
});

describe('PUT records', () => {
  it('round-trip, including empty properties, user metadata and blob', () => {
    fc.assert(
      fc.property(putArb, (p) => {
        const { enc, record } = putRecord(p);
        const lengths = {
          propertiesLength: p.properties.length,
          userMetadataLength: p.userMetadata.length,
          blobLength: p.blob.length,
        };
        const full = { ...p.fields, type: RecordType.PUT, ...lengths };
        expect(enc.length).toBe(record.length);
        expect(record.length).toBe(recordLength(full));
        expect(record.length).toBe(
          52 + p.fields.key.length + p.properties.length + p.userMetadata.length + p.blob.length + 24,
        );
        expect(enc.blobChecksum).toBe(xxh64(p.blob));
        expect(enc.propertiesChecksum).toBe(xxh64(p.properties));
        expect(enc.userMetadataChecksum).toBe(xxh64(p.userMetadata));

        const d = decodePutRecord(record);
        expect(d.header).toEqual(full);
        expectFields(p.fields, d.header);
        expect(d.properties.equals(p.properties)).toBe(true);
        expect(d.userMetadata.equals(p.userMetadata)).toBe(true);
        expect(d.blob.equals(p.blob)).toBe(true);
        expect(d.blobChecksum).toBe(enc.blobChecksum);
        expect(d.propertiesChecksum).toBe(enc.propertiesChecksum);
        expect(d.userMetadataChecksum).toBe(enc.userMetadataChecksum);
        // Views into the record, not copies.
        expect(d.blob.buffer).toBe(record.buffer);
        expect(d.blob.byteOffset - record.byteOffset).toBe(blobOffset(d.header));
        expect(d.properties.byteOffset - record.byteOffset).toBe(propertiesOffset(d.header));
        expect(d.userMetadata.byteOffset - record.byteOffset).toBe(userMetadataOffset(d.header));
        expect(verifyRecord(record)).toEqual(full);
      }),
      RUNS,
    );
  });

  it('does not copy the blob', () => {
    const blob = Buffer.from('the blob bytes');
    const enc = encodePutRecord(validFields, Buffer.from('p'), Buffer.from('u'), blob);
    expect(enc.buffers.some((b) => b === blob)).toBe(true);
    expect(enc.buffers.reduce((n, b) => n + b.length, 0)).toBe(enc.length);
  });

  it('trusts a given blob checksum', () => {
    const blob = Buffer.from('blob');
    const enc = encodePutRecord(validFields, Buffer.alloc(0), Buffer.alloc(0), blob, 42n);
    expect(enc.blobChecksum).toBe(42n);
    const record = Buffer.concat(enc.buffers);
    expect(record.readBigUInt64LE(record.length - CHECKSUM_BYTES)).toBe(42n);
    expect(() => decodePutRecord(record)).toThrow(DataCorruptError);
    expect(decodePutRecord(record, { verifyBlob: false }).blobChecksum).toBe(42n);
  });

  it('detects any flipped byte in properties, user metadata, blob and their checksums', () => {
    fc.assert(
      fc.property(putArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (p, pick, mask) => {
        const { record } = putRecord(p);
        const body = headerLength(p.fields.key.length);
        const at = body + (pick % (record.length - body));
        const bad = flip(record, at, mask);
        expect(() => decodePutRecord(bad)).toThrow(DataCorruptError);
        expect(() => verifyRecord(bad)).toThrow(DataCorruptError);
        const blobStart = body + p.properties.length + 8 + p.userMetadata.length + 8;
        const inBlob = at >= blobStart && at < blobStart + p.blob.length;
        if (inBlob) {
          // Without blob verification the flip goes through: the caller checks the blob itself.
          const d = decodePutRecord(bad, { verifyBlob: false });
          expect(d.blob.equals(p.blob)).toBe(false);
        }
      }),
      RUNS,
    );
  });

  it('names the part whose checksum failed', () => {
    const p = { fields: validFields, properties: Buffer.from('pp'), userMetadata: Buffer.from('uu') };
    const { record } = putRecord({ ...p, blob: Buffer.from('bb') });
    const body = headerLength(validFields.key.length);
    expect(() => decodePutRecord(flip(record, body, 1))).toThrow(/properties checksum/);
    expect(() => decodePutRecord(flip(record, body + 10, 1))).toThrow(/user metadata checksum/);
    expect(() => decodePutRecord(flip(record, body + 20, 1))).toThrow(/blob checksum/);
  });

  it('rejects a buffer whose length is not the record length', () => {
    const { record } = putRecord({
      fields: validFields,
      properties: Buffer.from('p'),
      userMetadata: Buffer.from('u'),
      blob: Buffer.from('b'),
    });
    expect(() => decodePutRecord(record.subarray(0, record.length - 1))).toThrow(DataCorruptError);
    expect(() => decodePutRecord(Buffer.concat([record, Buffer.alloc(1)]))).toThrow(DataCorruptError);
    expect(() => decodePutRecord(record.subarray(0, 30))).toThrow(DataCorruptError);
    const update = encodeUpdateRecord({ ...validFields, type: RecordType.TTL_UPDATE });
    expect(() => decodePutRecord(update)).toThrow(DataCorruptError);
    expect(() => verifyRecord(Buffer.concat([update, Buffer.alloc(1)]))).toThrow(DataCorruptError);
  });
});

const anyRecordArb = fc.oneof(
  fc.tuple(fieldsArb, updateTypeArb).map(([f, type]) => encodeUpdateRecord({ ...f, type })),
  putArb.map((p) => putRecord(p).record),
);

describe('parseRecordHeader', () => {
  it('says incomplete, never corrupt, for every truncation of a valid record', () => {
    fc.assert(
      fc.property(anyRecordArb, (record) => {
        const need = headerLength(record.readUInt16LE(10));
        for (let n = 0; n < need; n++) {
          const parsed = parseRecordHeader(record, 0, n);
          expect(parsed.status).toBe('incomplete');
          if (parsed.status !== 'incomplete') return;
          expect(parsed.needBytes).toBe(n < 12 ? RECORD_FIXED_BYTES : need);
          expect(parsed.needBytes).toBeGreaterThan(n);
        }
        expect(parseRecordHeader(record, 0, need).status).toBe('ok');
      }),
      { numRuns: 30 },
    );
  });

  it('says corrupt for any flipped byte inside the header', () => {
    fc.assert(
      fc.property(anyRecordArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (record, pick, mask) => {
        const need = headerLength(record.readUInt16LE(10));
        // Trailing bytes as in a log read buffer, so a flipped key length cannot look merely incomplete.
        const buf = Buffer.concat([record, Buffer.alloc(2 * MAX_KEY_BYTES)]);
        const bad = flip(buf, pick % need, mask);
        const parsed = parseRecordHeader(bad, 0, bad.length);
        expect(parsed.status).toBe('corrupt');
        expect(() => verifyRecord(bad.subarray(0, record.length))).toThrow(DataCorruptError);
      }),
      { numRuns: 300 },
    );
  });

  it('says corrupt for every single-byte flip of a fixed header, exhaustively', () => {
    const record = encodeUpdateRecord({ ...validFields, type: RecordType.UNDELETE });
    const buf = Buffer.concat([record, Buffer.alloc(2 * MAX_KEY_BYTES)]);
    for (let at = 0; at < record.length; at++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const parsed = parseRecordHeader(flip(buf, at, mask), 0, buf.length);
        expect(parsed.status, `byte ${at} mask ${mask}`).toBe('corrupt');
      }
    }
  });

  /** Builds a header with a valid checksum but rule-breaking fields, as a buggy writer would. */
  function rewrite(record: Buffer, edit: (b: Buffer) => void): Buffer {
    const b = Buffer.from(record);
    edit(b);
    const end = RECORD_FIXED_BYTES + b.readUInt16LE(10);
    b.writeBigUInt64LE(xxh64(b.subarray(0, end)), end);
    return b;
  }

  it('rejects rule-breaking fields even under a valid checksum', () => {
    const del = encodeUpdateRecord({ ...validFields, type: RecordType.DELETE });
    const put = putRecord({
      fields: validFields,
      properties: Buffer.alloc(0),
      userMetadata: Buffer.alloc(0),
      blob: Buffer.alloc(0),
    }).record;
    const cases: [string, Buffer][] = [
      ['bad magic', rewrite(del, (b) => b.writeUInt16LE(0xb10c, 0))],
      ['bad version', rewrite(del, (b) => b.writeUInt8(2, 2))],
      ['type 0', rewrite(del, (b) => b.writeUInt8(0, 3))],
      ['type 5', rewrite(del, (b) => b.writeUInt8(5, 3))],
      ['DELETE with properties', rewrite(del, (b) => b.writeUInt32LE(1, 28))],
      ['DELETE with user metadata', rewrite(del, (b) => b.writeUInt32LE(1, 32))],
      ['DELETE with blob', rewrite(del, (b) => b.writeBigUInt64LE(1n, 36))],
      ['negative operation time', rewrite(del, (b) => b.writeBigInt64LE(-1n, 12))],
      ['unsafe operation time', rewrite(del, (b) => b.writeBigInt64LE(2n ** 53n, 12))],
      ['expiresAtMs -2', rewrite(del, (b) => b.writeBigInt64LE(-2n, 20))],
      ['unsafe expiresAtMs', rewrite(del, (b) => b.writeBigInt64LE(2n ** 62n, 20))],
      ['unsafe blob length', rewrite(put, (b) => b.writeBigUInt64LE(2n ** 53n, 36))],
      ['huge record length', rewrite(put, (b) => b.writeBigUInt64LE(2n ** 53n - 10n, 36))],
    ];
    for (const [name, buf] of cases) {
      expect(parseRecordHeader(buf, 0, buf.length).status, name).toBe('corrupt');
    }
    const zeroKey = Buffer.from(del);
    zeroKey.writeUInt16LE(0, 10);
    expect(parseRecordHeader(zeroKey, 0, zeroKey.length)).toMatchObject({ status: 'corrupt' });
    const longKey = Buffer.from(del);
    longKey.writeUInt16LE(MAX_KEY_BYTES + 1, 10);
    expect(parseRecordHeader(longKey, 0, longKey.length)).toMatchObject({ status: 'corrupt' });
  });

  it('reports garbage early, before a whole header is there', () => {
    expect(parseRecordHeader(Buffer.from([0, 0]), 0, 2).status).toBe('corrupt');
    expect(parseRecordHeader(Buffer.from([0x0b]), 0, 1).status).toBe('incomplete');
    expect(parseRecordHeader(Buffer.from([0x0b, 0xb1, 9]), 0, 3).status).toBe('corrupt');
  });

  it('throws only for a bad range, which is a caller bug', () => {
    const buf = Buffer.alloc(10);
    expect(() => parseRecordHeader(buf, 5, 4)).toThrow(InvalidStoreArgumentError);
    expect(() => parseRecordHeader(buf, 0, 11)).toThrow(InvalidStoreArgumentError);
    expect(() => parseRecordHeader(buf, -1, 5)).toThrow(InvalidStoreArgumentError);
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(bytes(300), (buf) => {
        const parsed = parseRecordHeader(buf, 0, buf.length);
        expect(['incomplete', 'corrupt']).toContain(parsed.status);
      }),
      RUNS,
    );
  });
});

describe('encoder argument validation', () => {
  const bad: [string, Partial<PutRecordFields>][] = [
    ['empty key', { key: Buffer.alloc(0) }],
    ['key over 1024 bytes', { key: Buffer.alloc(MAX_KEY_BYTES + 1) }],
    ['lifeVersion > 65535', { lifeVersion: 65536 }],
    ['negative lifeVersion', { lifeVersion: -1 }],
    ['fractional accountId', { accountId: 1.5 }],
    ['containerId > 65535', { containerId: 70000 }],
    ['negative operation time', { operationTimeMs: -1 }],
    ['unsafe operation time', { operationTimeMs: 2 ** 53 }],
    ['expiresAtMs < -1', { expiresAtMs: -2 }],
    ['fractional expiresAtMs', { expiresAtMs: 0.5 }],
  ];

  it.each(bad)('rejects %s', (_name, change) => {
    const fields = { ...validFields, ...change };
    expect(() => encodeUpdateRecord({ ...fields, type: RecordType.DELETE })).toThrow(
      InvalidStoreArgumentError,
    );
    expect(() => encodePutRecord(fields, Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0))).toThrow(
      InvalidStoreArgumentError,
    );
  });

  it('accepts the limits', () => {
    const edge = {
      ...validFields,
      key: Buffer.alloc(MAX_KEY_BYTES, 1),
      lifeVersion: 65535,
      operationTimeMs: Number.MAX_SAFE_INTEGER,
      expiresAtMs: Number.MAX_SAFE_INTEGER,
    };
    const record = encodeUpdateRecord({ ...edge, type: RecordType.TTL_UPDATE });
    expect(verifyRecord(record)).toMatchObject({ ...edge, type: RecordType.TTL_UPDATE });
  });

  it('rejects PUT as an update type, an unknown type, and a bad blob checksum', () => {
    expect(() => encodeUpdateRecord({ ...validFields, type: RecordType.PUT })).toThrow(
      InvalidStoreArgumentError,
    );
    expect(() => encodeUpdateRecord({ ...validFields, type: 9 as RecordType })).toThrow(
      InvalidStoreArgumentError,
    );
    const empty = Buffer.alloc(0);
    expect(() => encodePutRecord(validFields, empty, empty, empty, -1n)).toThrow(InvalidStoreArgumentError);
    expect(() => encodePutRecord(validFields, empty, empty, empty, 2n ** 64n)).toThrow(
      InvalidStoreArgumentError,
    );
  });
});
