import { type BlobProperties, type BlobState, NEVER_EXPIRES, TTL_NEVER_EXPIRES } from '@ambry/protocol';
import type { GetBlobResult } from '@ambry/router';
import { H, userMetadataHeaders } from './headers.js';

/** Public blobs never change under their id: caches may keep them for a year without asking again. */
export const PUBLIC_CACHE_CONTROL = 'public, max-age=31536000, immutable';
export const PRIVATE_CACHE_CONTROL = 'private, no-cache';

export function etagOf(id: string): string {
  return `"${id}"`;
}

/** True when an `If-None-Match` value names this blob (`*`, or a list holding its ETag, weak or not). */
export function ifNoneMatchMatches(value: string | undefined, id: string): boolean {
  if (value === undefined) return false;
  const etag = etagOf(id);
  return value.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}

/**
 * The blob's properties as Ambry's `x-ambry-*` response headers: blob-size, service-id, creation-time,
 * ttl (only while the blob can still expire), content-type, owner-id, private, life-version, plus the
 * content-encoding and filename when set.
 */
export function propertyHeaders(
  properties: BlobProperties,
  blobSize: number,
  state: BlobState | undefined,
): Record<string, string> {
  const headers: Record<string, string> = {
    [H.blobSize]: String(blobSize),
    [H.serviceId]: properties.serviceId,
    [H.creationTime]: new Date(properties.creationTimeMs).toUTCString(),
    [H.contentType]: properties.contentType,
    [H.private]: String(properties.isPrivate),
  };
  const expires = state === undefined ? properties.ttlSeconds !== TTL_NEVER_EXPIRES : stillExpires(state);
  if (expires && properties.ttlSeconds !== TTL_NEVER_EXPIRES) headers[H.ttl] = String(properties.ttlSeconds);
  if (properties.ownerId !== undefined) headers[H.ownerId] = properties.ownerId;
  if (properties.contentEncoding !== undefined) headers[H.contentEncoding] = properties.contentEncoding;
  if (properties.filename !== undefined) headers[H.filename] = properties.filename;
  if (state !== undefined) headers[H.lifeVersion] = String(state.lifeVersion);
  return headers;
}

/** A TTL update makes a blob permanent: its stored ttlSeconds no longer applies. */
function stillExpires(state: BlobState): boolean {
  return !state.ttlUpdated && state.expiresAtMs !== NEVER_EXPIRES;
}

/** Everything a GET or HEAD of the blob answers with, besides Content-Length / Content-Range. */
export function blobHeaders(id: string, result: GetBlobResult): Record<string, string> {
  const { properties, userMetadata, blobSize, state } = result;
  return {
    'content-type': properties.contentType,
    'accept-ranges': 'bytes',
    etag: etagOf(id),
    'last-modified': new Date(properties.creationTimeMs).toUTCString(),
    'cache-control': properties.isPrivate ? PRIVATE_CACHE_CONTROL : PUBLIC_CACHE_CONTROL,
    ...propertyHeaders(properties, blobSize, state),
    ...userMetadataHeaders(userMetadata),
  };
}

/** `GET /<id>/BlobInfo`: the properties and the user metadata, as headers. */
export function blobInfoHeaders(result: GetBlobResult): Record<string, string> {
  return {
    ...propertyHeaders(result.properties, result.blobSize, result.state),
    ...userMetadataHeaders(result.userMetadata),
  };
}
