import type { RouterHealth } from '@ambry/router';
import type { FastifyPluginCallback } from 'fastify';
import type { RouteContext } from '../app.js';
import { errorBody, HttpError, RETRY_AFTER_SECONDS } from '../errors.js';

/**
 * `GET /healthCheck`: 200 `GOOD` when the router can reach a put quorum (Ambry's answer), else 503 with
 * the router's reason. Concurrent checks share one probe. `GET /metrics`: Prometheus text.
 */
export const adminRoutes: FastifyPluginCallback<RouteContext> = (app, context, done) => {
  const { router, config, metrics } = context;
  let pending: Promise<RouterHealth> | undefined;
  const check = (): Promise<RouterHealth> => {
    pending ??= router.health({ signal: AbortSignal.timeout(config.healthCheckTimeoutMs) }).finally(() => {
      pending = undefined;
    });
    return pending;
  };

  app.get('/healthCheck', async (request, reply) => {
    let message: string;
    try {
      const health = await check();
      if (health.ok) return reply.code(200).type('text/plain; charset=utf-8').send('GOOD');
      message = health.message;
    } catch (error) {
      message = `health check failed: ${error instanceof Error ? error.message : String(error)}`;
    }
    const http = new HttpError(503, 'UNAVAILABLE', message);
    request.errorCode = http.code;
    return reply
      .code(503)
      .header('retry-after', String(RETRY_AFTER_SECONDS))
      .type('application/json; charset=utf-8')
      .send(errorBody(http));
  });

  app.get('/metrics', async (_request, reply) => {
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });
  done();
};
