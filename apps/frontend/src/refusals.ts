import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { errorBody, FrontendErrorCode, HttpError } from './errors.js';
import { H } from './headers.js';

/**
 * Requests node's HTTP server would answer by itself, outside fastify's request cycle, with a bare
 * status line and no body: parser errors (malformed bytes, headers too large, a body cut short, a
 * request not received in time) and an Expect header other than 100-continue. Every one is answered
 * here in the API's own form instead: the JSON error body and an x-ambry-request-id, and logged at
 * info (the client's mistake, not the server's failure). A missing Host header, which node would also
 * answer bare, is refused inside fastify instead (see `missingHost`).
 */

// A sane incoming request id is kept (a proxy's or a client's), anything else replaced.
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The id of a request: the client's own when it is sane, else a fresh one. */
export function requestIdOf(request: IncomingMessage): string {
  const given = request.headers[H.requestId];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/** Marks left on node's request for the parser-error path, which only sees the socket. */
export interface RawMarks {
  ambryRequestId?: string;
  ambryRefused?: { status: number; code: string };
}

function refusal(error: NodeJS.ErrnoException): { status: number; http: HttpError } {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return {
        status: 431,
        http: new HttpError(431, FrontendErrorCode.HEADERS_TOO_LARGE, 'the request headers are too large'),
      };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        status: 408,
        http: new HttpError(408, FrontendErrorCode.BODY_TIMEOUT, 'the request was not received in time'),
      };
    // The client closed its side with the body unfinished.
    case 'HPE_INVALID_EOF_STATE':
      return {
        status: 400,
        http: new HttpError(400, FrontendErrorCode.BODY_INCOMPLETE, 'the request body ended early'),
      };
    default:
      return {
        status: 400,
        http: new HttpError(
          400,
          FrontendErrorCode.BAD_REQUEST,
          `malformed HTTP request (${error.code ?? 'error'})`,
        ),
      };
  }
}

const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
};

/**
 * Errors node's HTTP parser raises outside fastify's request cycle: too many header bytes (431), a
 * request not received in time (408), a body the client ended early or malformed bytes (400). Same JSON
 * body as every other error. When the error hits a request already being handled, its request id is
 * reused and its own log line reports the refusal; otherwise this logs the one line.
 */
export function clientErrorHandler(
  logger: Pick<Logger, 'info'>,
): (error: NodeJS.ErrnoException, socket: Socket) => void {
  return (error, socket) => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const { status, http } = refusal(error);
    const current = (socket as Socket & { _httpMessage?: { req?: IncomingMessage & RawMarks } })._httpMessage
      ?.req;
    const id = current?.ambryRequestId ?? randomUUID();
    if (current?.ambryRequestId !== undefined) current.ambryRefused = { status, code: http.code };
    else logger.info({ reqId: id, status, error: http.code, parser: error.code }, 'request refused');
    const body = JSON.stringify(errorBody(http));
    if (socket.writable) {
      socket.write(
        `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\n` +
          `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
          `${H.requestId}: ${id}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}

/**
 * node's 'checkExpectation': an Expect header other than 100-continue. 417 as node would, with the JSON
 * body; the connection closes after it (the body, if any, is never read, so the stream is out of step).
 */
export function expectationFailedHandler(
  logger: Pick<Logger, 'info'>,
): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    const id = requestIdOf(request);
    const http = new HttpError(
      417,
      FrontendErrorCode.INVALID_HEADER,
      'expect: only 100-continue is supported',
    );
    const body = JSON.stringify(errorBody(http));
    logger.info({ reqId: id, method: request.method, status: 417, error: http.code }, 'request refused');
    response.writeHead(417, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      [H.requestId]: id,
      connection: 'close',
    });
    response.end(body);
  };
}

/** HTTP/1.1 requires Host (RFC 9112 3.2); node's own check would answer with a bare 400. */
export function missingHost(request: IncomingMessage): HttpError | undefined {
  if (request.httpVersion !== '1.1' || request.headers.host !== undefined) return undefined;
  return new HttpError(400, FrontendErrorCode.MISSING_HEADER, 'the Host header is required');
}
