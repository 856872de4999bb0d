import { IO_OPS, type IoOp } from '@ambry/store';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger as PinoLogger } from 'pino';
import type { DataNodeMetrics } from './metrics.js';
import type { ReplicaSet } from './replica-set.js';

/**
 * The admin HTTP port: `/health` (200 once every replica finished opening, 503 before; the body lists
 * failed disks), Prometheus `/metrics`, and with test fault injection enabled `POST /test/disk-fault`,
 * which makes one disk's I/O fail from then on: `{ mountPath, code?, ops? }`. `code` is the errno name
 * (default EIO); `ops` the I/O calls that fail (default every read and write call; ENOSPC defaults to
 * `writev` alone, a full disk: writes fail, reads go on).
 */

/** What a dying disk fails: every call that touches the device. */
const DISK_OPS: readonly IoOp[] = ['read', 'writev', 'datasync', 'open', 'truncate', 'size'];
/** What a full file system fails: only the calls that need new blocks. */
const FULL_DISK_OPS: readonly IoOp[] = ['writev'];
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
    app.post<{ Body: { mountPath?: unknown; code?: unknown; ops?: unknown } }>(
      '/test/disk-fault',
      async (request, reply) => {
        const { mountPath, code: rawCode, ops: rawOps } = request.body ?? {};
        const io = typeof mountPath === 'string' ? replicas.faultyIo.get(mountPath) : undefined;
        if (io === undefined) return reply.code(404).send({ error: 'no such disk' });
        const code = typeof rawCode === 'string' ? rawCode : 'EIO';
        if (
          rawOps !== undefined &&
          (!Array.isArray(rawOps) ||
            rawOps.length === 0 ||
            !rawOps.every((op) => (IO_OPS as readonly unknown[]).includes(op)))
        ) {
          return reply.code(400).send({ error: `ops must be a non-empty list of ${IO_OPS.join(', ')}` });
        }
        const ops = (rawOps as IoOp[] | undefined) ?? (code === 'ENOSPC' ? FULL_DISK_OPS : DISK_OPS);
        io.fail({ op: ops, code, times: Number.POSITIVE_INFINITY });
        return { mountPath, code, ops, failing: true };
      },
    );
  }
  return app;
}
