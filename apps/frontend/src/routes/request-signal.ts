import type { FastifyReply } from 'fastify';

/**
 * Aborted when the client goes away before its response is finished, so the router stops work nobody
 * will read (replica requests in flight, chunks read ahead).
 */
export function clientGone(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}
