import { RouterError, RouterErrorCode } from '@ambry/router';

/**
 * Every error a client sees: an HTTP status, a stable code (the router's codes as they are, plus the
 * frontend's own below) and a message. Turned into the JSON body `{ "error": code, "message": ... }`;
 * never a stack trace.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra response headers (Content-Range of a 416, Allow of a 405, ...). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Codes the frontend adds to the router's (RouterErrorCode). */
export const FrontendErrorCode = {
  MISSING_HEADER: 'MISSING_HEADER',
  INVALID_HEADER: 'INVALID_HEADER',
  INVALID_RANGE: 'INVALID_RANGE',
  USER_METADATA_TOO_LARGE: 'USER_METADATA_TOO_LARGE',
  SIZE_MISMATCH: 'SIZE_MISMATCH',
  BODY_INCOMPLETE: 'BODY_INCOMPLETE',
  BODY_TIMEOUT: 'BODY_TIMEOUT',
  HEADERS_TOO_LARGE: 'HEADERS_TOO_LARGE',
  BAD_REQUEST: 'BAD_REQUEST',
  NOT_FOUND: 'NOT_FOUND',
  METHOD_NOT_ALLOWED: 'METHOD_NOT_ALLOWED',
} as const;

/** Seconds a 503 asks the client to wait: quorum failures are usually short (a node restarting). */
export const RETRY_AFTER_SECONDS = 1;

export function missingHeader(name: string): HttpError {
  return new HttpError(400, FrontendErrorCode.MISSING_HEADER, `the ${name} header is required`);
}

export function invalidHeader(name: string, why: string): HttpError {
  return new HttpError(400, FrontendErrorCode.INVALID_HEADER, `${name}: ${why}`);
}

export function blobTooLarge(size: number, max: number): HttpError {
  return new HttpError(
    413,
    RouterErrorCode.BLOB_TOO_LARGE,
    `the blob is ${size} bytes or more; this frontend accepts at most ${max} (maxBlobBytes)`,
  );
}

/** fastify's own errors (FST_*) and node's HTTP client errors, by code. */
const FASTIFY_ERRORS: Readonly<Record<string, { status: number; code: string }>> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: FrontendErrorCode.INVALID_HEADER },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: FrontendErrorCode.SIZE_MISMATCH },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: RouterErrorCode.BLOB_TOO_LARGE },
  FST_ERR_BAD_URL: { status: 400, code: FrontendErrorCode.BAD_REQUEST },
  FST_ERR_ASYNC_CONSTRAINT: { status: 500, code: RouterErrorCode.INTERNAL },
};

/**
 * Any error as an HttpError. RouterErrors keep their code and status (ambry.md 4.8); fastify's errors
 * keep their 4xx status under a frontend code; anything else is a 500 whose message says nothing about
 * the inside (the log line has the details).
 */
export function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof RouterError) {
    // The body's own failure (cut short, too large, stalled) may reach us wrapped by the router.
    const cause = (error as { cause?: unknown }).cause;
    if (cause instanceof HttpError) return cause;
    if (error.code === RouterErrorCode.INTERNAL) {
      return new HttpError(500, RouterErrorCode.INTERNAL, 'internal error');
    }
    const headers: Record<string, string> = {};
    if (error.httpStatus === 503) headers['retry-after'] = String(RETRY_AFTER_SECONDS);
    return new HttpError(error.httpStatus, error.code, error.message, headers);
  }
  const fastifyError = error as { code?: unknown; statusCode?: unknown; message?: unknown };
  if (typeof fastifyError?.code === 'string') {
    const known = FASTIFY_ERRORS[fastifyError.code];
    const message = typeof fastifyError.message === 'string' ? fastifyError.message : 'bad request';
    if (known) return new HttpError(known.status, known.code, message);
    const status = typeof fastifyError.statusCode === 'number' ? fastifyError.statusCode : 500;
    if (status >= 400 && status < 500) return new HttpError(status, FrontendErrorCode.BAD_REQUEST, message);
  }
  return new HttpError(500, RouterErrorCode.INTERNAL, 'internal error');
}

/** The JSON body of an error response. */
export function errorBody(error: HttpError): { error: string; message: string } {
  return { error: error.code, message: error.message };
}
