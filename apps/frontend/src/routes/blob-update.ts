import type { FastifyPluginCallback } from 'fastify';
import type { RouteContext } from '../app.js';
import { H, requiredHeader } from '../headers.js';
import { clientGone } from './request-signal.js';

/**
 * `DELETE /<id>` → 202 (later GET / HEAD → 410); `PUT /updateTtl` (the blob becomes permanent) and
 * `PUT /undelete` → 200, both naming the blob in `x-ambry-blob-id` with `x-ambry-service-id` required.
 */
export const blobUpdateRoutes: FastifyPluginCallback<RouteContext> = (app, { router }, done) => {
  app.delete<{ Params: { id: string } }>('/:id', async (request, reply) => {
    await router.delete(request.params.id, { signal: clientGone(reply) });
    return reply.code(202).header('content-length', '0').send();
  });

  app.put('/updateTtl', async (request, reply) => {
    const id = requiredHeader(request.headers, H.blobId);
    requiredHeader(request.headers, H.serviceId);
    await router.updateTtl(id, { signal: clientGone(reply) });
    return reply.code(200).header('content-length', '0').send();
  });

  app.put('/undelete', async (request, reply) => {
    const id = requiredHeader(request.headers, H.blobId);
    requiredHeader(request.headers, H.serviceId);
    await router.undelete(id, { signal: clientGone(reply) });
    return reply.code(200).header('content-length', '0').send();
  });
  done();
};
