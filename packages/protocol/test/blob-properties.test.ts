import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BLOB_PROPERTIES_LIMITS,
  type BlobProperties,
  decodeBlobProperties,
  encodeBlobProperties,
  expiresAtMs,
} from '../src/blob-properties.js';
import {
  DecodeError,
  InvalidArgumentError,
  LimitExceededError,
  UnsupportedVersionError,
} from '../src/errors.js';
import { assertDecoderIsTotalAndCanonical } from './codec-fuzz.js';

const BASE: BlobProperties = {
  blobSize: 1234,
  serviceId: 'svc',
  contentType: 'image/png',
  creationTimeMs: 1_700_000_000_000,
  ttlSeconds: -1,
  isPrivate: false,
  accountId: 101,
  containerId: 5,
};

/** What decode returns for `p`: isEncrypted always present, empty optional strings absent. */
function canonical(p: BlobProperties): BlobProperties {
  const out: BlobProperties = { ...p, isEncrypted: p.isEncrypted ?? false };
  for (const key of ['ownerId', 'contentEncoding', 'filename'] as const) {
    if (!out[key]) delete out[key];
  }
  return out;
}

function utf8String(maxBytes: number, minLength = 0): fc.Arbitrary<string> {
  return fc
    .string({
      unit: fc.constantFrom('a', 'Z', '/', ' ', 'é', '中', '😀', '\u0000', '\ufeff', '\ufffd'),
      minLength,
      maxLength: 40,
    })
    .filter((s) => Buffer.byteLength(s) <= maxBytes);
}

const propsArb: fc.Arbitrary<BlobProperties> = fc.record(
  {
    blobSize: fc.maxSafeNat(),
    serviceId: utf8String(BLOB_PROPERTIES_LIMITS.serviceId, 1),
    contentType: utf8String(BLOB_PROPERTIES_LIMITS.contentType, 1),
    ownerId: utf8String(BLOB_PROPERTIES_LIMITS.ownerId),
    creationTimeMs: fc.maxSafeNat(),
    ttlSeconds: fc.oneof(fc.constant(-1), fc.maxSafeNat(), fc.nat(1_000_000)),
    isPrivate: fc.boolean(),
    accountId: fc.integer({ min: 0, max: 65535 }),
    containerId: fc.integer({ min: 0, max: 65535 }),
    isEncrypted: fc.boolean(),
    contentEncoding: utf8String(BLOB_PROPERTIES_LIMITS.contentEncoding),
    filename: utf8String(BLOB_PROPERTIES_LIMITS.filename),
  },
  {
    requiredKeys: [
      'blobSize',
      'serviceId',
      'contentType',
      'creationTimeMs',
      'ttlSeconds',
      'isPrivate',
      'accountId',
      'containerId',
    ],
  },
);

/** Hand-built encoding of BASE with ownerId 'me' (independent of the encoder). */
function handBuilt(extensions: Buffer = Buffer.from([0, 0])): Buffer {
  const str = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(2);
    len.writeUInt16BE(b.byteLength);
    return Buffer.concat([len, b]);
  };
  const fixed = Buffer.alloc(31);
  fixed.writeUInt16BE(1, 0); // version
  fixed.writeUInt8(0x02, 2); // flags: encrypted
  fixed.writeBigUInt64BE(1234n, 3); // blobSize
  fixed.writeBigUInt64BE(1_700_000_000_000n, 11); // creationTimeMs
  fixed.writeBigInt64BE(-1n, 19); // ttlSeconds
  fixed.writeUInt16BE(101, 27);
  fixed.writeUInt16BE(5, 29);
  return Buffer.concat([fixed, str('svc'), str('image/png'), str('me'), str(''), str(''), extensions]);
}

function expectDecodeError(bytes: Uint8Array, message?: RegExp): void {
  let caught: unknown;
  try {
    decodeBlobProperties(bytes);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(DecodeError);
  if (message) expect((caught as Error).message).toMatch(message);
}

describe('blob properties encoding', () => {
  it('matches the documented layout byte for byte', () => {
    const p: BlobProperties = { ...BASE, ownerId: 'me', isEncrypted: true };
    const bytes = encodeBlobProperties(p);
    expect(bytes.equals(handBuilt())).toBe(true);
    expect(decodeBlobProperties(bytes)).toEqual(p);
  });

  it('writes flags, ttl and ids at their offsets', () => {
    const bytes = encodeBlobProperties({
      ...BASE,
      isPrivate: true,
      ttlSeconds: 86400,
      accountId: 65535,
      containerId: 0,
    });
    expect(bytes.readUInt16BE(0)).toBe(1);
    expect(bytes[2]).toBe(0x01);
    expect(bytes.readBigUInt64BE(3)).toBe(1234n);
    expect(bytes.readBigInt64BE(19)).toBe(86400n);
    expect(bytes.readUInt16BE(27)).toBe(65535);
    expect(bytes.readUInt16BE(29)).toBe(0);
    expect(bytes.readUInt16BE(bytes.byteLength - 2)).toBe(0); // extension count
  });

  it('round trips arbitrary properties, canonically', () => {
    fc.assert(
      fc.property(propsArb, (p) => {
        const bytes = encodeBlobProperties(p);
        const decoded = decodeBlobProperties(bytes);
        expect(decoded).toEqual(canonical(p));
        expect(encodeBlobProperties(decoded).equals(bytes)).toBe(true);
        expect(encodeBlobProperties({ ...p }).equals(bytes)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('treats an empty optional string as absent and keeps a leading BOM', () => {
    const withEmpty = encodeBlobProperties({ ...BASE, ownerId: '', filename: '' });
    expect(withEmpty.equals(encodeBlobProperties(BASE))).toBe(true);
    expect(decodeBlobProperties(withEmpty)).not.toHaveProperty('ownerId');
    expect(decodeBlobProperties(encodeBlobProperties({ ...BASE, filename: '\ufeffx' })).filename).toBe(
      '\ufeffx',
    );
  });

  it('accepts the largest values and strings at their limits', () => {
    const p: BlobProperties = {
      ...BASE,
      blobSize: Number.MAX_SAFE_INTEGER,
      creationTimeMs: Number.MAX_SAFE_INTEGER,
      ttlSeconds: Number.MAX_SAFE_INTEGER,
      serviceId: 's'.repeat(BLOB_PROPERTIES_LIMITS.serviceId),
      contentType: 'c'.repeat(BLOB_PROPERTIES_LIMITS.contentType),
      ownerId: 'o'.repeat(BLOB_PROPERTIES_LIMITS.ownerId),
      contentEncoding: 'e'.repeat(BLOB_PROPERTIES_LIMITS.contentEncoding),
      filename:
        '中'.repeat(BLOB_PROPERTIES_LIMITS.filename / 4) + 'a'.repeat(BLOB_PROPERTIES_LIMITS.filename / 4),
    };
    expect(decodeBlobProperties(encodeBlobProperties(p))).toEqual(canonical(p));
  });
});

describe('blob properties validation on encode', () => {
  it.each<[string, Partial<Record<keyof BlobProperties, unknown>>]>([
    ['negative size', { blobSize: -1 }],
    ['fractional size', { blobSize: 1.5 }],
    ['unsafe size', { blobSize: 2 ** 53 }],
    ['NaN size', { blobSize: Number.NaN }],
    ['empty serviceId', { serviceId: '' }],
    ['missing serviceId', { serviceId: undefined }],
    ['empty contentType', { contentType: '' }],
    ['numeric ownerId', { ownerId: 5 }],
    ['negative creation time', { creationTimeMs: -5 }],
    ['ttl below -1', { ttlSeconds: -2 }],
    ['fractional ttl', { ttlSeconds: 0.5 }],
    ['missing isPrivate', { isPrivate: undefined }],
    ['string isEncrypted', { isEncrypted: 'yes' }],
    ['account over u16', { accountId: 65536 }],
    ['negative container', { containerId: -1 }],
    ['lone surrogate', { serviceId: 'a\ud800b' }],
  ])('rejects %s with InvalidArgumentError', (_name, change) => {
    expect(() => encodeBlobProperties({ ...BASE, ...change } as BlobProperties)).toThrow(
      InvalidArgumentError,
    );
  });

  it('rejects strings over their UTF-8 byte limits with LimitExceededError', () => {
    for (const [field, limit] of Object.entries(BLOB_PROPERTIES_LIMITS)) {
      expect(() => encodeBlobProperties({ ...BASE, [field]: 'x'.repeat(limit + 1) })).toThrow(
        LimitExceededError,
      );
      // The limit is in bytes, not characters: limit/2 + 1 two-byte characters is over.
      expect(() => encodeBlobProperties({ ...BASE, [field]: 'é'.repeat(limit / 2 + 1) })).toThrow(
        LimitExceededError,
      );
      expect(() => encodeBlobProperties({ ...BASE, [field]: 'é'.repeat(limit / 2) })).not.toThrow();
    }
  });
});

describe('blob properties decoding of untrusted bytes', () => {
  it('skips extensions with unknown tags', () => {
    const ext = Buffer.concat([
      Buffer.from([0, 2]), // two extensions
      Buffer.from([0, 7, 0, 0, 0, 3, 0xaa, 0xbb, 0xcc]), // tag 7, 3 bytes
      Buffer.from([0x12, 0x34, 0, 0, 0, 0]), // tag 0x1234, empty
    ]);
    expect(decodeBlobProperties(handBuilt(ext))).toEqual({ ...BASE, ownerId: 'me', isEncrypted: true });
  });

  it('rejects extensions out of order, duplicated or truncated', () => {
    const dup = Buffer.from([0, 2, 0, 7, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0]);
    expectDecodeError(handBuilt(dup), /extension tag/);
    const down = Buffer.from([0, 2, 0, 8, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0]);
    expectDecodeError(handBuilt(down), /extension tag/);
    const long = Buffer.from([0, 1, 0, 7, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
    expectDecodeError(handBuilt(long), /truncated/);
    const missing = Buffer.from([0, 1]);
    expectDecodeError(handBuilt(missing), /truncated/);
  });

  it('rejects every truncation and trailing bytes', () => {
    const bytes = encodeBlobProperties({
      ...BASE,
      ownerId: 'owner',
      filename: 'f.png',
      contentEncoding: 'gzip',
    });
    for (let n = 0; n < bytes.byteLength; n++) expectDecodeError(bytes.subarray(0, n), /truncated/);
    expectDecodeError(Buffer.concat([bytes, Buffer.from([0])]), /trailing/);
  });

  it('rejects another version with UnsupportedVersionError', () => {
    const bytes = handBuilt();
    for (const version of [0, 2, 0xffff]) {
      bytes.writeUInt16BE(version, 0);
      expect(() => decodeBlobProperties(bytes)).toThrow(UnsupportedVersionError);
    }
  });

  it('rejects reserved flags, bad ttl, unsafe sizes, empty required strings', () => {
    const reserved = handBuilt();
    reserved[2] = 0x04;
    expectDecodeError(reserved, /reserved/);
    const ttl = handBuilt();
    ttl.writeBigInt64BE(-2n, 19);
    expectDecodeError(ttl, /ttl/);
    const size = handBuilt();
    size.writeBigUInt64BE(2n ** 53n, 3);
    expectDecodeError(size, /blobSize/);
    const time = handBuilt();
    time.writeBigUInt64BE(2n ** 64n - 1n, 11);
    expectDecodeError(time, /creationTimeMs/);
    const noService = Buffer.concat([
      handBuilt().subarray(0, 31),
      Buffer.from([0, 0]),
      handBuilt().subarray(36),
    ]);
    expectDecodeError(noService, /serviceId is empty/);
  });

  it('rejects invalid UTF-8 and strings over their limit', () => {
    const bad = handBuilt();
    bad[33] = 0xff; // first byte of serviceId
    expectDecodeError(bad, /UTF-8/);
    const overlong = handBuilt();
    overlong.set([0xc0, 0xaf], 34); // overlong '/' inside serviceId
    expectDecodeError(overlong, /UTF-8/);
    const tooLong = Buffer.alloc(31 + 2 + 129);
    handBuilt().copy(tooLong, 0, 0, 31);
    tooLong.writeUInt16BE(129, 31);
    expectDecodeError(tooLong, /over the limit/);
  });

  it('never throws anything but DecodeError on random or mutated bytes', () => {
    const valid = encodeBlobProperties({ ...BASE, ownerId: 'o', filename: 'file' });
    assertDecoderIsTotalAndCanonical(valid, decodeBlobProperties, encodeBlobProperties, 200);
    expect(() => decodeBlobProperties('x' as unknown as Uint8Array)).toThrow(DecodeError);
  });
});

describe('expiresAtMs', () => {
  it('is undefined for -1 and creation + ttl otherwise', () => {
    expect(expiresAtMs({ creationTimeMs: 1000, ttlSeconds: -1 })).toBeUndefined();
    expect(expiresAtMs({ creationTimeMs: 1000, ttlSeconds: 0 })).toBe(1000);
    expect(expiresAtMs({ creationTimeMs: 1000, ttlSeconds: 60 })).toBe(61_000);
    expect(expiresAtMs({ creationTimeMs: 1, ttlSeconds: Number.MAX_SAFE_INTEGER })).toBe(
      Number.MAX_SAFE_INTEGER,
    );
  });
});
