import type { IncomingHttpHeaders } from 'node:http';
import { RouterError, RouterErrorCode } from '@ambry/router';
import { describe, expect, it } from 'vitest';
import { HttpError, toHttpError } from '../src/errors.js';
import { userMetadataHeaders } from '../src/headers.js';
import { parsePutHeaders } from '../src/put-request.js';

const LIMITS = { maxUserMetadataBytes: 100, maxBlobBytes: 1000 };
const REQUIRED = { 'x-ambry-service-id': 'svc', 'x-ambry-content-type': 'image/png' };
const NOW = 1_700_000_000_000;

function parse(headers: IncomingHttpHeaders) {
  return parsePutHeaders(headers, LIMITS, NOW);
}

function failure(headers: IncomingHttpHeaders): HttpError {
  try {
    parse(headers);
  } catch (error) {
    if (error instanceof HttpError) return error;
    throw error;
  }
  throw new Error('expected an HttpError');
}

describe('POST headers → put input', () => {
  it('maps every header to the blob properties and user metadata', () => {
    const parsed = parse({
      ...REQUIRED,
      'x-ambry-ttl': '3600',
      'x-ambry-private': 'TRUE',
      'x-ambry-owner-id': 'alice',
      'x-ambry-filename': 'cat.png',
      'x-ambry-blob-size': '12',
      'content-length': '12',
      'x-ambry-um-color': 'blue',
      'x-ambry-enc-um-title': 'caf%C3%A9',
    });
    expect(parsed.properties).toMatchObject({
      serviceId: 'svc',
      contentType: 'image/png',
      ttlSeconds: 3600,
      isPrivate: true,
      ownerId: 'alice',
      filename: 'cat.png',
      blobSize: 12,
      creationTimeMs: NOW,
    });
    expect(parsed.userMetadata).toEqual({ color: 'blue', title: 'café' });
    expect(parsed.declaredSize).toBe(12);
  });

  it('defaults: forever, public, size unknown for a chunked body', () => {
    const parsed = parse({ ...REQUIRED, 'transfer-encoding': 'chunked' });
    expect(parsed.properties.ttlSeconds).toBe(-1);
    expect(parsed.properties.isPrivate).toBe(false);
    expect(parsed.properties.blobSize).toBeUndefined();
    expect(parsed.declaredSize).toBeUndefined();
  });

  it.each([
    ['x-ambry-service-id', { 'x-ambry-content-type': 'a/b' }],
    ['x-ambry-content-type', { 'x-ambry-service-id': 's' }],
  ])('a missing %s is 400 MISSING_HEADER naming it', (name, headers) => {
    const error = failure(headers);
    expect([error.status, error.code]).toEqual([400, 'MISSING_HEADER']);
    expect(error.message).toContain(name);
  });

  it.each(['abc', '1.5', '-2', '', '1e3', ' 12x'])(
    'x-ambry-ttl %j is 400 INVALID_HEADER naming it',
    (ttl) => {
      const error = failure({ ...REQUIRED, 'x-ambry-ttl': ttl });
      expect([error.status, error.code]).toEqual([400, 'INVALID_HEADER']);
      expect(error.message).toMatch(/^x-ambry-ttl: /);
    },
  );

  it('x-ambry-ttl -1 and 0 are valid', () => {
    expect(parse({ ...REQUIRED, 'x-ambry-ttl': '-1' }).properties.ttlSeconds).toBe(-1);
    expect(parse({ ...REQUIRED, 'x-ambry-ttl': '0' }).properties.ttlSeconds).toBe(0);
  });

  it('x-ambry-private must be true or false', () => {
    expect(failure({ ...REQUIRED, 'x-ambry-private': 'yes' }).message).toMatch(/^x-ambry-private: /);
  });

  it('x-ambry-blob-size must be a count and agree with Content-Length', () => {
    expect(failure({ ...REQUIRED, 'x-ambry-blob-size': '-1' }).message).toMatch(/^x-ambry-blob-size: /);
    const mismatch = failure({ ...REQUIRED, 'x-ambry-blob-size': '10', 'content-length': '11' });
    expect([mismatch.status, mismatch.code]).toEqual([400, 'SIZE_MISMATCH']);
  });

  it('a declared size over maxBlobBytes is 413', () => {
    expect(failure({ ...REQUIRED, 'content-length': '1001' }).status).toBe(413);
    expect(failure({ ...REQUIRED, 'x-ambry-blob-size': '5000', 'transfer-encoding': 'chunked' }).status).toBe(
      413,
    );
  });

  it('oversized user metadata is 400 USER_METADATA_TOO_LARGE with the sizes', () => {
    const error = failure({ ...REQUIRED, 'x-ambry-um-big': 'x'.repeat(98) });
    expect([error.status, error.code]).toEqual([400, 'USER_METADATA_TOO_LARGE']);
    expect(error.message).toContain('101 bytes; at most 100');
    expect(parse({ ...REQUIRED, 'x-ambry-um-big': 'x'.repeat(97) }).userMetadata.big).toHaveLength(97);
  });

  it('refuses a user metadata header without a key and a bad percent-encoding', () => {
    expect(failure({ ...REQUIRED, 'x-ambry-um-': 'v' }).code).toBe('INVALID_HEADER');
    expect(failure({ ...REQUIRED, 'x-ambry-enc-um-k': '%E0%A4%A' }).code).toBe('INVALID_HEADER');
  });

  it('refuses properties longer than the protocol allows', () => {
    expect(failure({ ...REQUIRED, 'x-ambry-service-id': 's'.repeat(129) }).message).toMatch(
      /^x-ambry-service-id: longer than 128 bytes/,
    );
  });

  it('user metadata goes back as headers, percent-encoded when a header cannot carry it', () => {
    expect(userMetadataHeaders({ color: 'blue', title: 'café ☕', 'bad key': 'x' })).toEqual({
      'x-ambry-um-color': 'blue',
      'x-ambry-enc-um-title': 'caf%C3%A9%20%E2%98%95',
    });
  });
});

describe('errors → HTTP', () => {
  it('router errors keep their code and status; 503 asks to retry', () => {
    const gone = toHttpError(new RouterError(RouterErrorCode.BLOB_DELETED, 'deleted'));
    expect([gone.status, gone.code]).toEqual([410, 'BLOB_DELETED']);
    const down = toHttpError(new RouterError(RouterErrorCode.UNAVAILABLE, 'no quorum'));
    expect([down.status, down.headers['retry-after']]).toEqual([503, '1']);
    expect(toHttpError(new RouterError(RouterErrorCode.INVALID_BLOB_ID, 'bad')).status).toBe(400);
  });

  it('anything unexpected is a 500 that says nothing of the inside', () => {
    const error = toHttpError(new TypeError('secret detail at /src/x.ts:12'));
    expect([error.status, error.code, error.message]).toEqual([500, 'INTERNAL', 'internal error']);
  });
});
