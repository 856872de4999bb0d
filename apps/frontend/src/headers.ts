import type { IncomingHttpHeaders } from 'node:http';
import { USER_METADATA_LIMITS, type UserMetadata } from '@ambry/protocol';
import { FrontendErrorCode, HttpError, invalidHeader, missingHeader } from './errors.js';

/** Ambry's header names (RestUtils.Headers), lower-cased as node gives them. */
export const H = {
  serviceId: 'x-ambry-service-id',
  contentType: 'x-ambry-content-type',
  ttl: 'x-ambry-ttl',
  private: 'x-ambry-private',
  ownerId: 'x-ambry-owner-id',
  blobSize: 'x-ambry-blob-size',
  contentEncoding: 'x-ambry-content-encoding',
  filename: 'x-ambry-filename',
  creationTime: 'x-ambry-creation-time',
  lifeVersion: 'x-ambry-life-version',
  blobId: 'x-ambry-blob-id',
  getOption: 'x-ambry-get-option',
  requestId: 'x-ambry-request-id',
  userMetadataPrefix: 'x-ambry-um-',
  /** A user-metadata value percent-encoded (UTF-8), for values a plain header cannot carry. */
  encodedUserMetadataPrefix: 'x-ambry-enc-um-',
} as const;

/** One header's value, or undefined; a repeated header (node joins most with ", ") stays as joined. */
export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(', ') : value;
}

export function requiredHeader(headers: IncomingHttpHeaders, name: string): string {
  const value = header(headers, name)?.trim();
  if (value === undefined || value === '') throw missingHeader(name);
  return value;
}

/** A decimal integer, digits only (with an optional leading '-' when `allowNegative`). */
export function integerHeader(
  headers: IncomingHttpHeaders,
  name: string,
  options: { min: number; what: string },
): number | undefined {
  const raw = header(headers, name);
  if (raw === undefined) return undefined;
  const text = raw.trim();
  const value = /^-?\d{1,16}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < options.min) {
    throw invalidHeader(name, `expected ${options.what}, got ${JSON.stringify(raw.slice(0, 40))}`);
  }
  return value;
}

export function booleanHeader(headers: IncomingHttpHeaders, name: string): boolean | undefined {
  const raw = header(headers, name);
  if (raw === undefined) return undefined;
  const text = raw.trim().toLowerCase();
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw invalidHeader(name, `expected true or false, got ${JSON.stringify(raw.slice(0, 40))}`);
}

/** A string property limited to `maxBytes` of UTF-8 (the protocol's BLOB_PROPERTIES_LIMITS). */
export function checkLength(name: string, value: string, maxBytes: number): string {
  if (Buffer.byteLength(value, 'utf8') > maxBytes) {
    throw invalidHeader(name, `longer than ${maxBytes} bytes`);
  }
  return value;
}

/**
 * `x-ambry-um-<key>: value` (and `x-ambry-enc-um-<key>: percent-encoded value`) → user metadata, keys
 * lower-cased as HTTP gives them. The names (without prefix) and values together may hold at most
 * `maxBytes` bytes: beyond, 400 USER_METADATA_TOO_LARGE. The protocol's own limits (entry count, key and
 * value sizes) are checked here too so the message names the header.
 */
export function parseUserMetadata(headers: IncomingHttpHeaders, maxBytes: number): UserMetadata {
  const metadata: Record<string, string> = {};
  let total = 0;
  let entries = 0;
  for (const [name, raw] of Object.entries(headers)) {
    let key: string;
    let value: string;
    if (name.startsWith(H.userMetadataPrefix)) {
      key = name.slice(H.userMetadataPrefix.length);
      value = Array.isArray(raw) ? raw.join(', ') : (raw ?? '');
    } else if (name.startsWith(H.encodedUserMetadataPrefix)) {
      key = name.slice(H.encodedUserMetadataPrefix.length);
      const encoded = Array.isArray(raw) ? raw.join(', ') : (raw ?? '');
      try {
        value = decodeURIComponent(encoded);
      } catch {
        throw invalidHeader(name, 'not a valid percent-encoded UTF-8 value');
      }
    } else {
      continue;
    }
    if (key === '') throw invalidHeader(name, 'user metadata needs a key after the prefix');
    if (Object.hasOwn(metadata, key)) throw invalidHeader(name, `user metadata key "${key}" given twice`);
    const keyBytes = Buffer.byteLength(key, 'utf8');
    const valueBytes = Buffer.byteLength(value, 'utf8');
    if (keyBytes > USER_METADATA_LIMITS.maxKeyBytes) {
      throw invalidHeader(name, `user metadata keys are at most ${USER_METADATA_LIMITS.maxKeyBytes} bytes`);
    }
    if (valueBytes > USER_METADATA_LIMITS.maxValueBytes) {
      throw new HttpError(
        400,
        FrontendErrorCode.USER_METADATA_TOO_LARGE,
        `${name}: a user metadata value is at most ${USER_METADATA_LIMITS.maxValueBytes} bytes, got ${valueBytes}`,
      );
    }
    total += keyBytes + valueBytes;
    entries += 1;
    if (entries > USER_METADATA_LIMITS.maxEntries) {
      throw new HttpError(
        400,
        FrontendErrorCode.USER_METADATA_TOO_LARGE,
        `at most ${USER_METADATA_LIMITS.maxEntries} x-ambry-um-* headers`,
      );
    }
    metadata[key] = value;
  }
  if (total > maxBytes) {
    throw new HttpError(
      400,
      FrontendErrorCode.USER_METADATA_TOO_LARGE,
      `user metadata (x-ambry-um-* names and values) is ${total} bytes; at most ${maxBytes} are accepted`,
    );
  }
  return metadata;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Node refuses control characters in header values; latin1 bytes above 0x7f pass unchanged.
const PLAIN_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * User metadata as response headers: `x-ambry-um-<key>` when the value can travel as a header as it is,
 * else `x-ambry-enc-um-<key>` percent-encoded. Keys that are not HTTP tokens cannot be sent at all and
 * are left out.
 */
export function userMetadataHeaders(metadata: UserMetadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata)) {
    if (!TOKEN.test(key)) continue;
    const trimmed = value.trim() === value;
    if (PLAIN_VALUE.test(value) && trimmed) out[H.userMetadataPrefix + key] = value;
    else out[H.encodedUserMetadataPrefix + key] = encodeURIComponent(value);
  }
  return out;
}
