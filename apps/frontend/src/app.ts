import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Router, RouterErrorCode } from '@ambry/router';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { Logger as PinoLogger } from 'pino';
import type { FrontendConfig } from './config.js';
import { errorBody, FrontendErrorCode, HttpError, toHttpError } from './errors.js';
import { H } from './headers.js';
import { closeAfterAnswer } from './lingering-close.js';
import { FrontendMetrics } from './metrics.js';
import {
  clientErrorHandler,
  expectationFailedHandler,
  missingHost,
  type RawMarks,
  requestIdOf,
} from './refusals.js';
import { adminRoutes } from './routes/admin.js';
import { blobReadRoutes } from './routes/blob-read.js';
import { blobUpdateRoutes } from './routes/blob-update.js';
import { blobUploadRoutes } from './routes/blob-upload.js';

/** What the routes use of the router: tests may pass anything shaped like it. */
export type FrontendRouter = Pick<Router, 'put' | 'get' | 'delete' | 'updateTtl' | 'undelete' | 'health'>;

/** The settings buildApp reads (a full FrontendConfig has them all). */
export type AppConfig = Pick<
  FrontendConfig,
  'maxUserMetadataBytes' | 'maxBlobBytes' | 'bodyIdleTimeoutMs' | 'requestTimeoutMs' | 'healthCheckTimeoutMs'
>;

export interface AppOptions {
  readonly router: FrontendRouter;
  readonly config: AppConfig;
  readonly logger: PinoLogger;
  /** Default: a new FrontendMetrics with the router's metrics when `router` is a Router. */
  readonly metrics?: FrontendMetrics;
}

/** Shared by the route plugins. */
export interface RouteContext {
  readonly router: FrontendRouter;
  readonly config: AppConfig;
  readonly metrics: FrontendMetrics;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Body bytes received (set by the upload route). */
    bytesIn: number;
    /** The error code of a failed request, for its log line and metrics. */
    errorCode: string | null;
    /** A 5xx's cause, logged once with the request's line. */
    failure: unknown;
  }
}

/** Headers plus user metadata up to maxUserMetadataBytes must fit in node's header limit. */
function maxHeaderSize(config: AppConfig): number {
  return Math.max(16 * 1024, config.maxUserMetadataBytes + 32 * 1024);
}

/**
 * The fastify app of the frontend, not listening: Ambry's REST API over `router`. Request bodies are
 * never parsed by fastify: the upload route streams `request.raw` into the router.
 */
export function buildApp(options: AppOptions): FastifyInstance {
  const { router, config, logger } = options;
  const metrics = options.metrics ?? new FrontendMetrics(router instanceof Router ? router : undefined);
  const app = Fastify({
    loggerInstance: logger as unknown as FastifyBaseLogger,
    // One line per request, written below when the response closes.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }),
    genReqId: requestIdOf,
    requestIdHeader: false,
    exposeHeadRoutes: false,
    requestTimeout: config.requestTimeoutMs,
    // requireHostHeader off: node would answer a missing Host with a bare 400; the onRequest hook
    // refuses it in the API's form instead.
    http: { maxHeaderSize: maxHeaderSize(config), requireHostHeader: false },
    clientErrorHandler: clientErrorHandler(logger),
    // A path fastify cannot route (bad percent-encoding, an over-long id) never reaches the hooks or
    // the error handler: answered here in the API's own form, with an id and a log line.
    frameworkErrors: (error, request, reply) =>
      badPath(error, request as FastifyRequest, reply as unknown as FastifyReply, metrics),
  });

  app.server.on('checkExpectation', expectationFailedHandler(logger));

  app.decorateRequest('bytesIn', 0);
  app.decorateRequest('errorCode', null);
  app.decorateRequest('failure', null);

  // Every body is left unread for the routes: uploads stream it, the others never look at it.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));

  app.addHook('onRequest', (request, reply, done) => {
    reply.header(H.requestId, request.id);
    (request.raw as IncomingMessage & RawMarks).ambryRequestId = request.id;
    metrics.inFlight.inc();
    const started = process.hrtime.bigint();
    const socket = request.raw.socket as Socket | null;
    const writtenBefore = socket?.bytesWritten ?? 0;
    // 'close' comes for every response, finished or cut off: the one place to count and log it.
    reply.raw.once('close', () => {
      metrics.inFlight.dec();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const aborted = !reply.raw.writableFinished;
      const refused = (request.raw as IncomingMessage & RawMarks).ambryRefused;
      if (refused !== undefined) request.errorCode = refused.code;
      else if (aborted && !reply.raw.headersSent) request.errorCode ??= 'CLIENT_GONE';
      // 499 (nginx's "client closed request") when nothing reached the client.
      const status = refused?.status ?? (aborted && !reply.raw.headersSent ? 499 : reply.raw.statusCode);
      const bytesOut = Math.max(0, (socket?.bytesWritten ?? writtenBefore) - writtenBefore);
      const route = request.routeOptions.url ?? 'unmatched';
      metrics.observe({ route, method: request.method, status, seconds, bytesIn: request.bytesIn, bytesOut });
      logRequest(request, status, seconds, bytesOut, aborted);
    });
    done(missingHost(request.raw));
  });

  app.setErrorHandler((error, request, reply) => {
    const http = toHttpError(error);
    request.errorCode = http.code;
    if (http.status >= 500 && http.status !== 503) request.failure = error;
    // An unread body (a refused upload) would otherwise be parsed as the next request's start.
    if (!request.raw.complete) closeAfterAnswer(request.raw, (name, value) => reply.header(name, value));
    if (reply.raw.headersSent) {
      reply.raw.destroy();
      return;
    }
    return reply
      .code(http.status)
      .headers(http.headers)
      .type('application/json; charset=utf-8')
      .send(errorBody(http));
  });

  app.setNotFoundHandler((request, reply) => {
    const http = new HttpError(
      404,
      FrontendErrorCode.NOT_FOUND,
      `no such endpoint: ${request.method} ${request.url.split('?')[0]?.slice(0, 200)}`,
    );
    request.errorCode = http.code;
    if (!request.raw.complete) closeAfterAnswer(request.raw, (name, value) => reply.header(name, value));
    return reply.code(404).type('application/json; charset=utf-8').send(errorBody(http));
  });

  const context: RouteContext = { router, config, metrics };
  app.register(adminRoutes, context);
  app.register(blobUploadRoutes, context);
  app.register(blobUpdateRoutes, context);
  app.register(blobReadRoutes, context);
  return app;
}

/** A path fastify could not route: 400 INVALID_BLOB_ID in the API's form, counted and logged. */
function badPath(error: Error, request: FastifyRequest, reply: FastifyReply, metrics: FrontendMetrics): void {
  const code = (error as Error & { code?: string }).code ?? 'BAD_URL';
  const http = new HttpError(
    400,
    RouterErrorCode.INVALID_BLOB_ID,
    `not a valid blob id or path: ${request.url.slice(0, 120)} (${code})`,
  );
  request.errorCode = http.code;
  void reply
    .header(H.requestId, request.id)
    .code(400)
    .type('application/json; charset=utf-8')
    .send(errorBody(http));
  metrics.observe({
    route: 'unmatched',
    method: request.method,
    status: 400,
    seconds: 0,
    bytesIn: 0,
    bytesOut: 0,
  });
  logRequest(request, 400, 0, 0, false);
}

function logRequest(
  request: FastifyRequest,
  status: number,
  seconds: number,
  bytesOut: number,
  aborted: boolean,
): void {
  // request.log already carries reqId. A request fastify could not route (badPath) never got the
  // decorations: undefined there means none, like null.
  const failure = request.failure ?? null;
  const errorCode = request.errorCode ?? null;
  const line = {
    method: request.method,
    url: request.url.length > 300 ? `${request.url.slice(0, 300)}…` : request.url,
    status,
    ms: Math.round(seconds * 1e6) / 1e3,
    bytesIn: request.bytesIn ?? 0,
    bytesOut,
    ...(errorCode === null ? {} : { error: errorCode }),
    ...(aborted ? { aborted: true } : {}),
    ...(failure === null ? {} : { err: failure }),
  };
  // error is for the server's own failures (a 5xx with a cause); a client's mistake is info.
  if (failure !== null) request.log.error(line, 'request failed');
  else request.log.info(line, 'request');
}
