import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger as PinoLogger } from 'pino';
import type { DataNodeMetrics } from './metrics.js';
import type { ReplicaSet } from './replica-set.js';

/**
 * The admin HTTP port: `/health` (200 once every replica finished opening, 503 before; the body lists
 * failed disks), Prometheus `/metrics`, and with test fault injection enabled `POST /test/disk-fault`,
 * which makes one disk's I/O fail from then on.
 */
export function createAdminServer(options: {
  readonly logger: PinoLogger;
  readonly replicas: ReplicaSet;
  readonly metrics: DataNodeMetrics;
  readonly health: () => { ready: boolean; healthy: boolean; status: string };
}): FastifyInstance {
  const { replicas, metrics } = options;
  const app = Fastify({
    // At warn: requests to /health and /metrics (logged at info) are not worth a line each.
    loggerInstance: options.logger.child({}, { level: 'warn' }) as unknown as FastifyBaseLogger,
  });

  app.get('/health', async (_request, reply) => {
    const health = options.health();
    return reply.code(health.ready ? 200 : 503).send({
      ready: health.ready,
      healthy: health.healthy,
      status: health.status,
      failedDisks: replicas.disksFailed,
      replicas: replicas.all().map((r) => ({ partitionId: r.partitionId, state: r.state })),
    });
  });

  app.get('/metrics', async (_request, reply) => {
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });

  if (replicas.faultyIo.size > 0) {
    app.post<{ Body: { mountPath?: unknown; code?: unknown } }>(
      '/test/disk-fault',
      async (request, reply) => {
        const { mountPath, code } = request.body ?? {};
        const io = typeof mountPath === 'string' ? replicas.faultyIo.get(mountPath) : undefined;
        if (io === undefined) return reply.code(404).send({ error: 'no such disk' });
        io.fail({
          op: ['read', 'writev', 'datasync', 'open', 'truncate', 'size'],
          code: typeof code === 'string' ? code : 'EIO',
          times: Number.POSITIVE_INFINITY,
        });
        return { mountPath, failing: true };
      },
    );
  }
  return app;
}
