import { StaticClusterMap } from '@ambry/clustermap';
import { Router } from '@ambry/router';
import type { FastifyInstance } from 'fastify';
import { type Logger as PinoLogger, pino } from 'pino';
import { buildApp } from './app.js';
import type { FrontendConfig } from './config.js';

/**
 * One frontend process: the static cluster map, a router over it and the fastify app, listening.
 * `stop` (what SIGTERM runs) stops taking requests, lets those in flight finish (up to
 * shutdownTimeoutMs), then closes the router.
 */
export class Frontend {
  #stopping: Promise<void> | undefined;

  private constructor(
    readonly config: FrontendConfig,
    readonly logger: PinoLogger,
    readonly router: Router,
    readonly app: FastifyInstance,
    /** `http://host:port` as listening (the real port when config.port is 0). */
    readonly url: string,
  ) {}

  static async start(
    config: FrontendConfig,
    logger: PinoLogger = pino({ level: config.logLevel }),
  ): Promise<Frontend> {
    const clusterMap = await StaticClusterMap.load(config.clusterMapDir, {
      localDatacenter: config.datacenter,
    });
    const router = Router.create({ clusterMap, config: config.router });
    let app: FastifyInstance | undefined;
    try {
      app = buildApp({ router, config, logger });
      await app.listen({ port: config.port, host: config.host });
      const address = app.server.address();
      const port = typeof address === 'object' && address !== null ? address.port : config.port;
      const host = config.host.includes(':') ? `[${config.host}]` : config.host;
      return new Frontend(config, logger, router, app, `http://${host}:${port}`);
    } catch (error) {
      await app?.close().catch(() => undefined);
      await router.close();
      throw error;
    }
  }

  /** Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const timer = setTimeout(() => {
      this.logger.warn({ timeoutMs: this.config.shutdownTimeoutMs }, 'closing connections still open');
      this.app.server.closeAllConnections();
    }, this.config.shutdownTimeoutMs);
    timer.unref();
    try {
      await this.app.close();
    } finally {
      clearTimeout(timer);
      await this.router.close();
    }
  }
}
