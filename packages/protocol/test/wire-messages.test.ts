import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BlobId, BlobIdType } from '../src/blob-id.js';
import { type BlobProperties, encodeBlobProperties } from '../src/blob-properties.js';
import { xxh64 } from '../src/checksum.js';
import { ErrorCode } from '../src/errors.js';
import { encodeUserMetadata } from '../src/user-metadata.js';
import { decodeRequest, encodeRequest, RequestDecodeError } from '../src/wire/requests.js';
import { decodeResponse, encodeResponse } from '../src/wire/responses.js';
import { RequestHeaderType } from '../src/wire/schema.js';
import {
  AdminKind,
  GetPart,
  NEVER_EXPIRES,
  type Request,
  type RequestType,
  type Response,
  SealState,
} from '../src/wire/types.js';

const blobId = BlobId.generate({ partitionId: 42, datacenterId: 1, accountId: 101, containerId: 5 });
const chunkId = BlobId.generate({ partitionId: 7, type: BlobIdType.DATA_CHUNK });
const properties: BlobProperties = {
  blobSize: 11,
  serviceId: 'photos',
  contentType: 'image/jpeg',
  ownerId: 'alice',
  creationTimeMs: 1_795_000_000_123,
  ttlSeconds: NEVER_EXPIRES,
  isPrivate: true,
  accountId: 101,
  containerId: 5,
  isEncrypted: false,
};
const BIG_CHECKSUM = 0xfedc_ba98_7654_3210n;

const requests: Request[] = [
  {
    type: 'put',
    blobId,
    properties,
    userMetadata: { camera: 'x100', 'caption ü': 'snow' },
    blob: Buffer.from('hello world'),
  },
  {
    type: 'get',
    blobId,
    part: GetPart.BLOB,
    includeDeleted: true,
    includeExpired: false,
    range: { offset: 3, length: 4 },
  },
  { type: 'get', blobId, part: GetPart.INFO, includeDeleted: false, includeExpired: true },
  { type: 'delete', blobId, operationTimeMs: 1_795_000_000_999 },
  { type: 'ttlUpdate', blobId, expiresAtMs: NEVER_EXPIRES, operationTimeMs: 2 ** 52 },
  { type: 'ttlUpdate', blobId, expiresAtMs: 1_900_000_000_000, operationTimeMs: 1 },
  { type: 'undelete', blobId, operationTimeMs: 77 },
  {
    type: 'replicaMetadata',
    partitions: [
      { partitionId: 42, token: Buffer.from([1, 2, 3]) },
      { partitionId: 43, token: Buffer.alloc(0) },
    ],
    maxTotalBytes: 1 << 20,
    requester: '127.0.0.1:6667',
  },
  { type: 'admin', kind: AdminKind.REPLICA_STATS, partitionIds: [1, 2, 3] },
  { type: 'logChunk', partitionId: 42, token: Buffer.from([1, 1, 7]), maxBytes: 8 * 1024 * 1024 },
];

function normalise(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_key, v) => {
      if (typeof v === 'bigint') return `bigint:${v}`;
      if (v && v.type === 'Buffer') return `bytes:${Buffer.from(v.data).toString('hex')}`;
      if (v instanceof BlobId) return v.toString();
      return v;
    }),
  );
}

describe('request encoding', () => {
  it.each(requests.map((r) => [r.type, r] as const))('round-trips a %s request', (_type, request) => {
    const { header, payload } = encodeRequest(request, 'router@test');
    const decoded = decodeRequest(header, payload);
    expect(decoded.clientId).toBe('router@test');
    const expected =
      request.type === 'put'
        ? { ...request, blobChecksum: xxh64(request.blob) }
        : request.type === 'get'
          ? { part: GetPart.ALL, ...request }
          : request;
    expect(normalise(decoded.request)).toEqual(normalise(expected));
  });

  it('puts the blob bytes in the payload, not in the protobuf header', () => {
    const blob = Buffer.alloc(4096, 0xab);
    const { header, payload } = encodeRequest({ type: 'put', blobId, properties, userMetadata: {}, blob });
    expect(payload).toBe(blob);
    expect(header.byteLength).toBeLessThan(300);
  });

  it('keeps a 64-bit checksum intact (protobufjs would silently encode a bigint as 0)', () => {
    const blob = Buffer.from('abc');
    const { header, payload } = encodeRequest({
      type: 'put',
      blobId,
      properties,
      userMetadata: {},
      blob,
      blobChecksum: xxh64(blob),
    });
    const decoded = decodeRequest(header, payload).request;
    expect(decoded.type === 'put' && decoded.blobChecksum).toBe(xxh64(blob));
  });
});

describe('request decoding of untrusted bytes', () => {
  function codeOf(header: Uint8Array, payload: Uint8Array = new Uint8Array(0)): ErrorCode | 'ok' {
    try {
      decodeRequest(header, payload);
      return 'ok';
    } catch (error) {
      expect(error).toBeInstanceOf(RequestDecodeError);
      return (error as RequestDecodeError).code;
    }
  }

  it('answers BAD_REQUEST to a header that is not protobuf', () => {
    expect(codeOf(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]))).toBe(ErrorCode.BAD_REQUEST);
  });

  it('answers UNSUPPORTED_VERSION to a newer version and BAD_REQUEST to a missing one', () => {
    const newer = RequestHeaderType.encode({ version: 2, delete: { blobId: blobId.toBytes() } }).finish();
    expect(codeOf(newer)).toBe(ErrorCode.UNSUPPORTED_VERSION);
    const missing = RequestHeaderType.encode({ delete: { blobId: blobId.toBytes() } }).finish();
    expect(codeOf(missing)).toBe(ErrorCode.BAD_REQUEST);
  });

  it('answers UNKNOWN_REQUEST_TYPE to a request with no known body (e.g. a newer type)', () => {
    const header = Buffer.concat([
      RequestHeaderType.encode({ version: 1 }).finish(),
      Buffer.from([0xfa, 0x01, 0x00]), // field 31, length-delimited, empty: a type this build does not know
    ]);
    expect(codeOf(header)).toBe(ErrorCode.UNKNOWN_REQUEST_TYPE);
  });

  it('answers BAD_REQUEST to a malformed blob id, a size mismatch, a bad enum, and a stray payload', () => {
    const badId = RequestHeaderType.encode({ version: 1, get: { blobId: Buffer.from([1, 2, 3]) } }).finish();
    expect(codeOf(badId)).toBe(ErrorCode.BAD_REQUEST);
    const { header } = encodeRequest({
      type: 'put',
      blobId,
      properties,
      userMetadata: {},
      blob: Buffer.from('abc'),
    });
    expect(codeOf(header, Buffer.from('ab'))).toBe(ErrorCode.BAD_REQUEST);
    const badPart = RequestHeaderType.encode({
      version: 1,
      get: { blobId: blobId.toBytes(), part: 9 },
    }).finish();
    expect(codeOf(badPart)).toBe(ErrorCode.BAD_REQUEST);
    const del = encodeRequest({ type: 'delete', blobId, operationTimeMs: 1 });
    expect(codeOf(del.header, Buffer.from('x'))).toBe(ErrorCode.BAD_REQUEST);
  });

  it('answers DATA_CORRUPT when the blob bytes do not match their checksum', () => {
    const blob = Buffer.from('abcdef');
    const { header } = encodeRequest({ type: 'put', blobId, properties, userMetadata: {}, blob });
    expect(codeOf(header, Buffer.from('abcdeX'))).toBe(ErrorCode.DATA_CORRUPT);
  });

  it('answers BAD_REQUEST to a LOG_CHUNK asking for nothing or for more than 32 MiB', () => {
    for (const maxBytes of [0, 32 * 1024 * 1024 + 1]) {
      const header = RequestHeaderType.encode({
        version: 1,
        logChunk: { partitionId: 1, token: Buffer.alloc(0), maxBytes },
      }).finish();
      expect(codeOf(header)).toBe(ErrorCode.BAD_REQUEST);
      expect(() =>
        encodeRequest({ type: 'logChunk', partitionId: 1, token: Buffer.alloc(0), maxBytes }),
      ).toThrow(/maxBytes|log chunk/);
    }
    const longToken = RequestHeaderType.encode({
      version: 1,
      logChunk: { partitionId: 1, token: Buffer.alloc(64 * 1024 + 1), maxBytes: 1 },
    }).finish();
    expect(codeOf(longToken)).toBe(ErrorCode.BAD_REQUEST);
  });

  it('rejects 64-bit values beyond 2^53 instead of rounding them', () => {
    const header = RequestHeaderType.encode({
      version: 1,
      delete: { blobId: blobId.toBytes(), operationTimeMs: { low: 0, high: 0x0100_0000, unsigned: true } },
    }).finish();
    expect(codeOf(header)).toBe(ErrorCode.BAD_REQUEST);
  });

  it('never throws anything but RequestDecodeError on random or mutated headers', () => {
    const valid = requests.map((r) => encodeRequest(r));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 400 }).map((header) => ({ header, payload: new Uint8Array(0) })),
          fc
            .tuple(fc.nat(valid.length - 1), fc.nat(), fc.integer({ min: 1, max: 255 }))
            .map(([i, at, xor]) => {
              const { header, payload } = valid[i]!;
              const mutated = Buffer.from(header);
              if (mutated.length > 0) mutated[at % mutated.length]! ^= xor;
              return { header: mutated, payload };
            }),
          fc.tuple(fc.nat(valid.length - 1), fc.nat()).map(([i, cut]) => {
            const { header, payload } = valid[i]!;
            return { header: header.subarray(0, cut % (header.length + 1)), payload };
          }),
        ),
        ({ header, payload }) => {
          try {
            decodeRequest(header, payload);
          } catch (error) {
            expect(error).toBeInstanceOf(RequestDecodeError);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('response encoding', () => {
  const responses: Response[] = [
    { type: 'put', error: ErrorCode.OK, result: undefined },
    {
      type: 'get',
      error: ErrorCode.OK,
      result: {
        properties,
        userMetadata: { a: 'b' },
        blobSize: 11,
        blobChecksum: BIG_CHECKSUM,
        range: { offset: 2, length: 3 },
        state: {
          deleted: true,
          expired: false,
          ttlUpdated: true,
          lifeVersion: 3,
          expiresAtMs: NEVER_EXPIRES,
          operationTimeMs: 1_795_000_000_000,
        },
        blob: Buffer.from('llo'),
      },
    },
    { type: 'undelete', error: ErrorCode.OK, result: { lifeVersion: 4 } },
    {
      type: 'replicaMetadata',
      error: ErrorCode.OK,
      result: {
        partitions: [
          {
            partitionId: 42,
            error: ErrorCode.OK,
            token: Buffer.from([9, 9]),
            lagBytes: 2 ** 40,
            entries: [
              {
                blobId,
                size: 4 * 1024 * 1024,
                expiresAtMs: NEVER_EXPIRES,
                deleted: false,
                ttlUpdated: true,
                undeleted: false,
                lifeVersion: 1,
                operationTimeMs: 5,
                accountId: 101,
                containerId: 5,
                checksum: BIG_CHECKSUM,
              },
              {
                blobId: chunkId,
                size: 1,
                expiresAtMs: 123,
                deleted: true,
                ttlUpdated: false,
                undeleted: false,
                lifeVersion: 0,
                operationTimeMs: 6,
                accountId: 65535,
                containerId: 65535,
              },
            ],
          },
          {
            partitionId: 43,
            error: ErrorCode.PARTITION_UNKNOWN,
            token: Buffer.alloc(0),
            lagBytes: 0,
            entries: [],
          },
        ],
      },
    },
    {
      type: 'admin',
      error: ErrorCode.OK,
      result: {
        healthy: true,
        status: 'ok',
        replicas: [
          {
            partitionId: 1,
            sealState: SealState.READ_ONLY,
            available: true,
            bytesUsed: 2 ** 35,
            capacityBytes: 2 ** 36,
            blobCount: 12,
          },
        ],
      },
    },
    {
      type: 'logChunk',
      error: ErrorCode.OK,
      result: {
        incarnation: Buffer.alloc(16, 3),
        segmentBytes: 2 ** 30,
        position: 2 ** 40 + 32,
        token: Buffer.from([1, 1, 2, 3]),
        lagBytes: 2 ** 33,
        records: Buffer.from('whole records, as they lie in the log'),
      },
    },
    { type: 'get', error: ErrorCode.BLOB_DELETED, errorMessage: 'deleted at 5' },
  ];

  it.each(responses.map((r) => [`${r.type}/${ErrorCode[r.error]}`, r] as const))(
    'round-trips %s',
    (_name, response) => {
      const { header, payload } = encodeResponse(response);
      const decoded = decodeResponse(header, payload, response.type as RequestType);
      // A decoded GET also carries the raw encodings it received (checked below).
      const {
        propertiesBytes: _p,
        userMetadataBytes: _u,
        ...rest
      } = (decoded as { result?: Record<string, unknown> }).result ?? {
        propertiesBytes: undefined,
        userMetadataBytes: undefined,
      };
      const comparable =
        'result' in decoded && decoded.result !== undefined ? { ...decoded, result: rest } : decoded;
      expect(normalise(comparable)).toEqual(normalise(response));
    },
  );

  it('a decoded GET carries the exact encodings of properties and user metadata', () => {
    const ok = responses[1] as Extract<Response<'get'>, { error: ErrorCode.OK }>;
    const { header, payload } = encodeResponse(ok);
    const decoded = decodeResponse(header, payload, 'get') as typeof ok;
    expect(Buffer.from(decoded.result.propertiesBytes!)).toEqual(encodeBlobProperties(properties));
    expect(Buffer.from(decoded.result.userMetadataBytes!)).toEqual(encodeUserMetadata({ a: 'b' }));
  });

  it('a GET with raw encodings sends those bytes, unknown property extensions included', () => {
    const plain = encodeBlobProperties(properties);
    // Same properties plus one extension of an unknown tag: a version-1 reader skips it.
    const extended = Buffer.concat([
      plain.subarray(0, plain.byteLength - 2),
      Buffer.from([0, 1, 0x12, 0x34, 0, 0, 0, 3, 7, 8, 9]),
    ]);
    const metadata = encodeUserMetadata({ k: 'v' });
    const ok = responses[1] as Extract<Response<'get'>, { error: ErrorCode.OK }>;
    const { header, payload } = encodeResponse({
      ...ok,
      result: { ...ok.result, propertiesBytes: extended, userMetadataBytes: metadata },
    });
    const decoded = decodeResponse(header, payload, 'get') as typeof ok;
    expect(Buffer.from(decoded.result.propertiesBytes!)).toEqual(extended);
    expect(Buffer.from(decoded.result.userMetadataBytes!)).toEqual(metadata);
    expect(decoded.result.properties).toEqual(properties);
    expect(decoded.result.userMetadata).toEqual({ k: 'v' });
  });

  it('round-trips a REPLICATION_LAG answer (lag unknown before a peer first answered)', () => {
    const response: Response<'admin'> = {
      type: 'admin',
      error: ErrorCode.OK,
      result: {
        healthy: true,
        status: 'ok',
        replicas: [],
        replicationLag: [
          { partitionId: 3, peer: '127.0.0.1:6668', lagBytes: 2 ** 40, caughtUp: false },
          { partitionId: 3, peer: 'host-b:6667', lagBytes: 0, caughtUp: true },
          { partitionId: 9, peer: 'host-c:6667', caughtUp: false },
        ],
      },
    };
    const { header, payload } = encodeResponse(response);
    expect(normalise(decodeResponse(header, payload, 'admin'))).toEqual(normalise(response));
    // An answer without lag entries (an older node, or HEALTH) decodes without the field.
    const plain = encodeResponse({ ...response, result: { ...response.result, replicationLag: [] } });
    const decoded = decodeResponse(plain.header, plain.payload, 'admin') as typeof response;
    expect(decoded.result.replicationLag).toBeUndefined();
  });

  it('round-trips a REPLICATION_LAG request', () => {
    const request: Request = { type: 'admin', kind: AdminKind.REPLICATION_LAG, partitionIds: [4] };
    const { header, payload } = encodeRequest(request);
    expect(decodeRequest(header, payload).request).toEqual(request);
  });

  it('a decoded LOG_CHUNK keeps its token when the frame buffer is reused (receiveInto)', () => {
    const { header, payload } = encodeResponse(responses.at(-2)!);
    const frame = Buffer.from(header);
    const decoded = decodeResponse(frame, payload, 'logChunk') as Extract<
      Response<'logChunk'>,
      { error: ErrorCode.OK }
    >;
    frame.fill(0);
    expect(Buffer.from(decoded.result.token)).toEqual(Buffer.from([1, 1, 2, 3]));
    expect(Buffer.from(decoded.result.incarnation)).toEqual(Buffer.alloc(16, 3));
  });

  it('rejects a response of another type than the request', () => {
    const { header, payload } = encodeResponse({ type: 'put', error: ErrorCode.OK, result: undefined });
    expect(() => decodeResponse(header, payload, 'get')).toThrow(/expected a get response/);
  });

  it('rejects a range whose length disagrees with the payload', () => {
    const ok = responses[1] as Extract<Response<'get'>, { error: ErrorCode.OK }>;
    const { header } = encodeResponse(ok);
    expect(() => decodeResponse(header, Buffer.from('too long'), 'get')).toThrow(/range/);
  });
});
