import { AmbryError, type Endpoint, ErrorCode, FrameTooLargeError, ServerError } from './errors.js';
import { DEFAULT_MAX_FRAME_BYTES, encodedFrameSize } from './frame.js';
import { type Logger, silentLogger } from './logger.js';
import { RpcServer, type RpcServerOptions } from './rpc/server.js';
import { decodeRequest, type EncodedMessage, RequestDecodeError } from './wire/requests.js';
import { encodeResponse } from './wire/responses.js';
import type { Request, RequestOf, RequestType, Response, ResultMap } from './wire/types.js';

export interface RequestContext {
  /** Remote address of the connection, for logs. */
  readonly remote: string;
  readonly clientId: string;
  /** Aborted when the connection closes: stop work nobody will read. */
  readonly signal: AbortSignal;
  /**
   * Runs `callback` once the answer's bytes are handed to the connection (or dropped, when it is gone):
   * a handler may then reuse the buffers its result points into. Runs exactly once per registration,
   * whatever the outcome.
   */
  readonly afterResponse: (callback: () => void) => void;
}

/**
 * One async handler per request type. Answer with an error code by throwing `ServerError`; any other
 * exception is answered with UNKNOWN_ERROR and logged. A missing handler answers UNKNOWN_REQUEST_TYPE.
 */
export type DataNodeHandlers = {
  readonly [T in RequestType]?: (request: RequestOf<T>, context: RequestContext) => Promise<ResultMap[T]>;
};

/** One finished request, for metrics (the datanode feeds prom-client from it). */
export interface RequestOutcome {
  readonly type: RequestType | 'unknown';
  readonly error: ErrorCode;
  readonly durationMs: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

export interface DataNodeServerOptions extends Omit<RpcServerOptions, 'handler'> {
  readonly handlers: DataNodeHandlers;
  readonly onRequest?: (outcome: RequestOutcome) => void;
}

/**
 * The server side of the data-node protocol: decodes request frames, dispatches them to typed
 * handlers, and always answers, with the result or an error code. Connection handling, backpressure
 * and limits are RpcServer's.
 */
export class DataNodeServer {
  readonly rpc: RpcServer;
  private readonly handlers: DataNodeHandlers;
  private readonly logger: Logger;
  private readonly onRequest: ((outcome: RequestOutcome) => void) | undefined;
  private readonly maxFrameBytes: number;

  constructor(options: DataNodeServerOptions) {
    const { handlers, onRequest, ...rpcOptions } = options;
    this.handlers = handlers;
    this.onRequest = onRequest;
    this.maxFrameBytes = rpcOptions.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.logger = options.logger ?? silentLogger;
    this.rpc = new RpcServer({
      ...rpcOptions,
      handler: (frame, context) => this.dispatch(frame.header, frame.payload, context),
    });
  }

  listen(endpoint: Endpoint): Promise<Endpoint> {
    return this.rpc.listen(endpoint);
  }

  get connectionCount(): number {
    return this.rpc.connectionCount;
  }

  close(options?: { timeoutMs?: number }): Promise<void> {
    return this.rpc.close(options);
  }

  private async dispatch(
    header: Uint8Array,
    payload: Uint8Array,
    context: { remote: string; signal: AbortSignal },
  ): Promise<EncodedMessage & { onSent?: () => void }> {
    const started = performance.now();
    const bytesIn = header.byteLength + payload.byteLength;
    let type: RequestType | undefined;
    let response: Response;
    const afterResponse: (() => void)[] = [];
    try {
      const decoded = decodeRequest(header, payload);
      type = decoded.request.type;
      const result = await this.invoke(decoded.request, {
        remote: context.remote,
        clientId: decoded.clientId,
        signal: context.signal,
        afterResponse: (callback) => afterResponse.push(callback),
      });
      response = { type, error: ErrorCode.OK, result } as Response;
    } catch (error) {
      if (error instanceof RequestDecodeError) type ??= error.requestType;
      response = this.errorResponse(type, error, context.remote);
    }
    let encoded: EncodedMessage;
    try {
      encoded = encodeResponse(response);
      const size = encodedFrameSize(encoded.header.byteLength, encoded.payload.byteLength);
      if (size > this.maxFrameBytes) throw new FrameTooLargeError(size, this.maxFrameBytes);
    } catch (error) {
      // A handler bug (a result that does not encode or does not fit a frame): answer it like a
      // throwing handler rather than letting RpcServer close the connection.
      this.logger.error({ remote: context.remote, type, err: error }, 'response cannot be encoded');
      response = {
        type: type as RequestType,
        error: ErrorCode.UNKNOWN_ERROR,
        errorMessage: 'internal error',
      };
      encoded = encodeResponse(response);
    }
    try {
      this.onRequest?.({
        type: type ?? 'unknown',
        error: response.error,
        durationMs: performance.now() - started,
        bytesIn,
        bytesOut: encoded.header.byteLength + encoded.payload.byteLength,
      });
    } catch (error) {
      this.logger.error({ remote: context.remote, err: error }, 'onRequest callback failed');
    }
    if (afterResponse.length === 0) return encoded;
    return {
      ...encoded,
      onSent: () => {
        for (const callback of afterResponse) {
          try {
            callback();
          } catch (error) {
            this.logger.error({ remote: context.remote, err: error }, 'afterResponse callback failed');
          }
        }
      },
    };
  }

  private invoke(request: Request, context: RequestContext): Promise<ResultMap[RequestType]> {
    const handler = this.handlers[request.type] as
      | ((request: Request, context: RequestContext) => Promise<ResultMap[RequestType]>)
      | undefined;
    if (!handler) {
      throw new ServerError(ErrorCode.UNKNOWN_REQUEST_TYPE, `this server does not handle ${request.type}`);
    }
    return handler(request, context);
  }

  private errorResponse(type: RequestType | undefined, error: unknown, remote: string): Response {
    let code: ErrorCode;
    let message: string;
    if (error instanceof ServerError) {
      code = error.code;
      message = error.detail;
    } else if (error instanceof RequestDecodeError) {
      code = error.code;
      message = error.message;
      this.logger.debug({ remote, code: ErrorCode[code], err: error.message }, 'rejected request');
    } else {
      code = ErrorCode.UNKNOWN_ERROR;
      message = error instanceof AmbryError ? error.message : 'internal error';
      this.logger.error({ remote, type, err: error }, 'request handler failed');
    }
    // Without a known type the response carries no body case; the client still matches it by id.
    return { type: type as RequestType, error: code, errorMessage: message } as Response;
  }
}
