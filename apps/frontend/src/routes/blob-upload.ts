import type { FastifyPluginCallback } from 'fastify';
import type { RouteContext } from '../app.js';
import { BodyMeter } from '../body.js';
import { H } from '../headers.js';
import { parsePutHeaders } from '../put-request.js';
import { clientGone } from './request-signal.js';

/**
 * `POST /`: the body streams into the router as it arrives (never buffered whole) → 201, `Location:
 * /<id>`, `x-ambry-creation-time`, empty body. A body cut short, too large or stalled fails the put;
 * the router then removes whatever chunks it had stored, so nothing is readable.
 */
export const blobUploadRoutes: FastifyPluginCallback<RouteContext> = (app, { router, config }, done) => {
  app.post('/', async (request, reply) => {
    const parsed = parsePutHeaders(request.headers, config, Date.now());
    const body = new BodyMeter(request.raw, {
      declaredSize: parsed.declaredSize,
      maxBlobBytes: config.maxBlobBytes,
      idleTimeoutMs: config.bodyIdleTimeoutMs,
      onBytes: (bytes) => {
        request.bytesIn = bytes;
      },
    });
    let id: string;
    try {
      const blobId = await router.put({
        properties: parsed.properties,
        userMetadata: parsed.userMetadata,
        blob: body,
        signal: clientGone(reply),
      });
      id = blobId.toString();
    } catch (error) {
      // What went wrong with the body itself beats what the router made of the broken stream.
      throw body.failure ?? error;
    }
    return reply
      .code(201)
      .header('location', `/${id}`)
      .header(H.creationTime, new Date(parsed.properties.creationTimeMs).toUTCString())
      .header('content-length', '0')
      .send();
  });
  done();
};
