import type { IncomingHttpHeaders } from 'node:http';
import type { ByteRange } from '@ambry/protocol';
import { type GetBlobResult, type GetOptions, RouterError, RouterErrorCode } from '@ambry/router';
import type { FastifyPluginCallback, FastifyReply } from 'fastify';
import type { FrontendRouter, RouteContext } from '../app.js';
import { blobHeaders, blobInfoHeaders, ifNoneMatchMatches } from '../blob-headers.js';
import { invalidHeader } from '../errors.js';
import { H, header, userMetadataHeaders } from '../headers.js';
import {
  contentRange,
  parseRange,
  type RangeSpec,
  rangeNotSatisfiable,
  resolveRange,
  routerRange,
} from '../range.js';
import { clientGone } from './request-signal.js';

type Lookup = Pick<GetOptions, 'includeDeleted' | 'includeExpired'> & { signal: AbortSignal };

/** `x-ambry-get-option`: None | Include_Deleted_Blobs | Include_Expired_Blobs | Include_All. */
export function getOption(
  headers: IncomingHttpHeaders,
): Pick<GetOptions, 'includeDeleted' | 'includeExpired'> {
  const raw = header(headers, H.getOption);
  if (raw === undefined) return {};
  switch (raw.trim().toLowerCase()) {
    case 'none':
      return {};
    case 'include_deleted_blobs':
      return { includeDeleted: true };
    case 'include_expired_blobs':
      return { includeExpired: true };
    case 'include_all':
      return { includeDeleted: true, includeExpired: true };
    default:
      throw invalidHeader(
        H.getOption,
        `expected None, Include_Deleted_Blobs, Include_Expired_Blobs or Include_All, got ${JSON.stringify(raw.slice(0, 40))}`,
      );
  }
}

async function info(router: FrontendRouter, id: string, lookup: Lookup): Promise<GetBlobResult> {
  const result = await router.get(id, { ...lookup, part: 'info' });
  result.blob.resume();
  return result;
}

/**
 * The byte range to read, resolved against the blob's size where the router cannot do it: a suffix
 * range (`-n`) costs an info lookup first; `a-b` and `a-` go to the router as they are.
 */
async function rangeToRead(
  router: FrontendRouter,
  id: string,
  lookup: Lookup,
  raw: string,
  spec: RangeSpec,
): Promise<ByteRange> {
  if (spec.kind !== 'suffix') return routerRange(spec)!;
  const { blobSize } = await info(router, id, lookup);
  const range = resolveRange(spec, blobSize);
  if (range === undefined) throw rangeNotSatisfiable(raw, blobSize);
  return range;
}

/** The slice actually served, clamped to the blob's end. */
function served(range: ByteRange, size: number): ByteRange {
  return { offset: range.offset, length: Math.min(range.length, size - range.offset) };
}

/** A 416 names the blob's size, which the router's error does not carry: one info lookup finds it. */
async function withRangeSize<T>(
  router: FrontendRouter,
  id: string,
  lookup: Lookup,
  raw: string | undefined,
  read: () => Promise<T>,
): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (
      raw !== undefined &&
      error instanceof RouterError &&
      error.code === RouterErrorCode.RANGE_NOT_SATISFIABLE
    ) {
      const { blobSize } = await info(router, id, lookup);
      throw rangeNotSatisfiable(raw, blobSize);
    }
    throw error;
  }
}

function notModified(reply: FastifyReply, id: string, result: GetBlobResult) {
  const headers = blobHeaders(id, result);
  return reply
    .code(304)
    .headers({
      etag: headers.etag,
      'cache-control': headers['cache-control'],
      'last-modified': headers['last-modified'],
    })
    .send();
}

/**
 * `GET /<id>` (the bytes, 200 or 206, 304 on a matching If-None-Match), `HEAD /<id>` (the same headers,
 * no body), `GET /<id>/BlobInfo` (properties and user metadata as headers) and `GET /<id>/UserMetadata`.
 * A deleted or expired blob is 410 unless `x-ambry-get-option` includes it; an unknown one 404.
 */
export const blobReadRoutes: FastifyPluginCallback<RouteContext> = (app, { router }, done) => {
  app.get<{ Params: { id: string } }>('/:id', async (request, reply) => {
    const { id } = request.params;
    const lookup: Lookup = { ...getOption(request.headers), signal: clientGone(reply) };
    const raw = header(request.headers, 'range');
    const spec = parseRange(raw);
    if (ifNoneMatchMatches(header(request.headers, 'if-none-match'), id)) {
      // Still looked up: a deleted blob must not be confirmed to a cache as current.
      return notModified(reply, id, await info(router, id, lookup));
    }
    if (spec === undefined || raw === undefined) {
      const result = await router.get(id, lookup);
      return reply
        .code(200)
        .headers(blobHeaders(id, result))
        .header('content-length', String(result.blobSize))
        .send(result.blob);
    }
    const range = await rangeToRead(router, id, lookup, raw, spec);
    const result = await withRangeSize(router, id, lookup, raw, () => router.get(id, { ...lookup, range }));
    const slice = served(result.range ?? range, result.blobSize);
    return reply
      .code(206)
      .headers(blobHeaders(id, result))
      .header('content-range', contentRange(slice, result.blobSize))
      .header('content-length', String(slice.length))
      .send(result.blob);
  });

  app.head<{ Params: { id: string } }>('/:id', async (request, reply) => {
    const { id } = request.params;
    const lookup: Lookup = { ...getOption(request.headers), signal: clientGone(reply) };
    const raw = header(request.headers, 'range');
    const spec = parseRange(raw);
    const result = await info(router, id, lookup);
    if (ifNoneMatchMatches(header(request.headers, 'if-none-match'), id))
      return notModified(reply, id, result);
    reply.headers(blobHeaders(id, result));
    if (spec === undefined || raw === undefined) {
      return reply.code(200).header('content-length', String(result.blobSize)).send();
    }
    const range = resolveRange(spec, result.blobSize);
    if (range === undefined) throw rangeNotSatisfiable(raw, result.blobSize);
    return reply
      .code(206)
      .header('content-range', contentRange(range, result.blobSize))
      .header('content-length', String(range.length))
      .send();
  });

  app.get<{ Params: { id: string } }>('/:id/BlobInfo', async (request, reply) => {
    const { id } = request.params;
    const result = await info(router, id, { ...getOption(request.headers), signal: clientGone(reply) });
    return reply.code(200).headers(blobInfoHeaders(result)).header('content-length', '0').send();
  });

  app.get<{ Params: { id: string } }>('/:id/UserMetadata', async (request, reply) => {
    const { id } = request.params;
    const result = await info(router, id, { ...getOption(request.headers), signal: clientGone(reply) });
    return reply
      .code(200)
      .headers(userMetadataHeaders(result.userMetadata))
      .header('content-length', '0')
      .send();
  });
  done();
};
