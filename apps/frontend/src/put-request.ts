import type { IncomingHttpHeaders } from 'node:http';
import {
  BLOB_PROPERTIES_LIMITS,
  TTL_NEVER_EXPIRES,
  UNKNOWN_ACCOUNT_ID,
  UNKNOWN_CONTAINER_ID,
  type UserMetadata,
} from '@ambry/protocol';
import type { PutProperties } from '@ambry/router';
import { blobTooLarge, FrontendErrorCode, HttpError } from './errors.js';
import {
  booleanHeader,
  checkLength,
  H,
  header,
  integerHeader,
  parseUserMetadata,
  requiredHeader,
} from './headers.js';

export interface PutRequestLimits {
  readonly maxUserMetadataBytes: number;
  readonly maxBlobBytes: number;
}

export interface ParsedPut {
  /** blobSize is set when the size is known before the body arrives (Content-Length or x-ambry-blob-size). */
  readonly properties: PutProperties;
  readonly userMetadata: UserMetadata;
  /** The byte count the body must have, when known; undefined for a chunked body without x-ambry-blob-size. */
  readonly declaredSize: number | undefined;
}

/**
 * The headers of `POST /` as the router's put input (Ambry's PostBlobHandler): x-ambry-service-id and
 * x-ambry-content-type required; x-ambry-ttl seconds ≥ -1 (default -1, forever); x-ambry-private,
 * x-ambry-owner-id, x-ambry-content-encoding, x-ambry-filename; x-ambry-blob-size, which must agree with
 * Content-Length when both are given; x-ambry-um-* user metadata. Throws HttpError (400, or 413 for a
 * declared size over `maxBlobBytes`).
 */
export function parsePutHeaders(
  headers: IncomingHttpHeaders,
  limits: PutRequestLimits,
  nowMs: number,
): ParsedPut {
  const serviceId = checkLength(
    H.serviceId,
    requiredHeader(headers, H.serviceId),
    BLOB_PROPERTIES_LIMITS.serviceId,
  );
  const contentType = checkLength(
    H.contentType,
    requiredHeader(headers, H.contentType),
    BLOB_PROPERTIES_LIMITS.contentType,
  );
  const ttlSeconds =
    integerHeader(headers, H.ttl, { min: TTL_NEVER_EXPIRES, what: 'whole seconds, or -1 for never' }) ??
    TTL_NEVER_EXPIRES;
  const isPrivate = booleanHeader(headers, H.private) ?? false;
  const ownerId = optionalString(headers, H.ownerId, BLOB_PROPERTIES_LIMITS.ownerId);
  const contentEncoding = optionalString(headers, H.contentEncoding, BLOB_PROPERTIES_LIMITS.contentEncoding);
  const filename = optionalString(headers, H.filename, BLOB_PROPERTIES_LIMITS.filename);
  const declaredSize = declaredBodySize(headers);
  if (declaredSize !== undefined && declaredSize > limits.maxBlobBytes) {
    throw blobTooLarge(declaredSize, limits.maxBlobBytes);
  }
  const userMetadata = parseUserMetadata(headers, limits.maxUserMetadataBytes);
  const properties: PutProperties = {
    serviceId,
    contentType,
    creationTimeMs: nowMs,
    ttlSeconds,
    isPrivate,
    accountId: UNKNOWN_ACCOUNT_ID,
    containerId: UNKNOWN_CONTAINER_ID,
    ...(ownerId === undefined ? {} : { ownerId }),
    ...(contentEncoding === undefined ? {} : { contentEncoding }),
    ...(filename === undefined ? {} : { filename }),
    ...(declaredSize === undefined ? {} : { blobSize: declaredSize }),
  };
  return { properties, userMetadata, declaredSize };
}

function optionalString(headers: IncomingHttpHeaders, name: string, maxBytes: number): string | undefined {
  const value = header(headers, name)?.trim();
  return value === undefined || value === '' ? undefined : checkLength(name, value, maxBytes);
}

/**
 * The body's size as the request declares it. node has already refused a malformed Content-Length and
 * one sent together with Transfer-Encoding, so a Content-Length here is the exact count of body bytes.
 */
function declaredBodySize(headers: IncomingHttpHeaders): number | undefined {
  const blobSize = integerHeader(headers, H.blobSize, { min: 0, what: 'a byte count (integer ≥ 0)' });
  const rawLength = header(headers, 'content-length');
  const contentLength =
    rawLength === undefined || headers['transfer-encoding'] ? undefined : Number(rawLength);
  if (blobSize !== undefined && contentLength !== undefined && blobSize !== contentLength) {
    throw new HttpError(
      400,
      FrontendErrorCode.SIZE_MISMATCH,
      `${H.blobSize} is ${blobSize} but the body is ${contentLength} bytes (Content-Length)`,
    );
  }
  return blobSize ?? contentLength;
}
