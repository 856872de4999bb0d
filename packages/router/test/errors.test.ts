import {
  AmbryError,
  BadBlobIdError,
  ChecksumMismatchError,
  ClientBusyError,
  ConnectionClosedError,
  ConnectionRefusedError,
  ErrorCode,
  InvalidArgumentError,
  LimitExceededError,
  ProtocolError,
  RequestAbortedError,
  RequestTimeoutError,
  ServerError,
  TransportError,
} from '@ambry/protocol';
import { describe, expect, it } from 'vitest';
import {
  classifyReplicaError,
  isIdempotentSuccess,
  ROUTER_ERROR_HTTP_STATUS,
  RouterError,
  RouterErrorCode,
  type RouterOperation,
  routerErrorFromServerCode,
  toRouterError,
} from '../src/errors.js';

const C = RouterErrorCode;
const endpoint = { host: '127.0.0.1', port: 6667 };
const OPERATIONS: readonly RouterOperation[] = ['put', 'get', 'delete', 'ttlUpdate', 'undelete'];
const SERVER_CODES = Object.values(ErrorCode).filter((v): v is ErrorCode => typeof v === 'number');

describe('RouterError', () => {
  it('carries the HTTP status of ambry.md 4.8 for every code', () => {
    const expected: Record<RouterErrorCode, number> = {
      INVALID_BLOB_ID: 400,
      INVALID_ARGUMENT: 400,
      BLOB_NOT_FOUND: 404,
      BLOB_DELETED: 410,
      BLOB_EXPIRED: 410,
      BLOB_TOO_LARGE: 413,
      RANGE_NOT_SATISFIABLE: 416,
      UNAVAILABLE: 503,
      TIMEOUT: 503,
      INSUFFICIENT_CAPACITY: 507,
      BLOB_NOT_DELETED: 409,
      BLOB_ALREADY_UNDELETED: 409,
      BLOB_UPDATE_NOT_ALLOWED: 405,
      BLOB_CORRUPT: 500,
      ROUTER_CLOSED: 503,
      ABORTED: 499,
      INTERNAL: 500,
    };
    expect(Object.values(RouterErrorCode).sort()).toEqual(Object.keys(expected).sort());
    for (const code of Object.values(RouterErrorCode)) {
      expect(code, 'string values equal their names').toBe(RouterErrorCode[code]);
      expect(new RouterError(code, 'x').httpStatus, code).toBe(expected[code]);
      expect(ROUTER_ERROR_HTTP_STATUS[code]).toBe(expected[code]);
    }
  });

  it('is retryable only for UNAVAILABLE, TIMEOUT and ROUTER_CLOSED', () => {
    const retryable = Object.values(RouterErrorCode).filter((code) => new RouterError(code, 'x').retryable);
    expect(retryable.sort()).toEqual([C.ROUTER_CLOSED, C.TIMEOUT, C.UNAVAILABLE]);
  });

  it('is an AmbryError with its own name, message and cause', () => {
    const cause = new Error('socket hang up');
    const error = new RouterError(C.UNAVAILABLE, 'quorum not reached', { cause });
    expect(error).toBeInstanceOf(AmbryError);
    expect(error.name).toBe('RouterError');
    expect(error.message).toBe('quorum not reached');
    expect(error.cause).toBe(cause);
    expect(error.code).toBe(C.UNAVAILABLE);
  });
});

describe('routerErrorFromServerCode', () => {
  const EXPECTED: Record<keyof typeof ErrorCode, RouterErrorCode> = {
    OK: C.INTERNAL,
    IO_ERROR: C.UNAVAILABLE,
    BLOB_NOT_FOUND: C.BLOB_NOT_FOUND,
    BLOB_DELETED: C.BLOB_DELETED,
    BLOB_EXPIRED: C.BLOB_EXPIRED,
    BLOB_ALREADY_EXISTS: C.UNAVAILABLE,
    DATA_CORRUPT: C.BLOB_CORRUPT,
    PARTITION_UNKNOWN: C.UNAVAILABLE,
    DISK_UNAVAILABLE: C.UNAVAILABLE,
    PARTITION_READ_ONLY: C.UNAVAILABLE,
    UNKNOWN_ERROR: C.UNAVAILABLE,
    TEMPORARILY_DISABLED: C.UNAVAILABLE,
    BAD_REQUEST: C.INVALID_ARGUMENT,
    RETRY_AFTER_BACKOFF: C.UNAVAILABLE,
    BLOB_ALREADY_UPDATED: C.INTERNAL,
    BLOB_UPDATE_NOT_ALLOWED: C.BLOB_UPDATE_NOT_ALLOWED,
    REPLICA_UNAVAILABLE: C.UNAVAILABLE,
    BLOB_AUTHORIZATION_FAILURE: C.UNAVAILABLE,
    BLOB_LIFE_VERSION_CONFLICT: C.UNAVAILABLE,
    BLOB_NOT_DELETED: C.BLOB_NOT_DELETED,
    BLOB_ALREADY_UNDELETED: C.BLOB_ALREADY_UNDELETED,
    BLOB_DELETED_PERMANENTLY: C.BLOB_DELETED,
    UNSUPPORTED_VERSION: C.UNAVAILABLE,
    UNKNOWN_REQUEST_TYPE: C.UNAVAILABLE,
    SERVER_BUSY: C.UNAVAILABLE,
    RANGE_NOT_SATISFIABLE: C.RANGE_NOT_SATISFIABLE,
    DISK_FULL: C.UNAVAILABLE,
  };

  it('maps every wire ErrorCode as the table says', () => {
    expect(SERVER_CODES.map((code) => ErrorCode[code]).sort()).toEqual(Object.keys(EXPECTED).sort());
    for (const code of SERVER_CODES) {
      const name = ErrorCode[code] as keyof typeof ErrorCode;
      const error = routerErrorFromServerCode(code, 'detail');
      expect(error, name).toBeInstanceOf(RouterError);
      expect(error.code, name).toBe(EXPECTED[name]);
    }
  });

  it('gives the HTTP statuses the frontend needs for the common answers', () => {
    expect(routerErrorFromServerCode(ErrorCode.BLOB_NOT_FOUND, '').httpStatus).toBe(404);
    expect(routerErrorFromServerCode(ErrorCode.BLOB_DELETED, '').httpStatus).toBe(410);
    expect(routerErrorFromServerCode(ErrorCode.BLOB_EXPIRED, '').httpStatus).toBe(410);
    expect(routerErrorFromServerCode(ErrorCode.BAD_REQUEST, '').httpStatus).toBe(400);
    expect(routerErrorFromServerCode(ErrorCode.DISK_FULL, '').httpStatus).toBe(503);
  });

  it('treats a code from a newer node as UNAVAILABLE and names it', () => {
    const error = routerErrorFromServerCode(999 as ErrorCode, 'from the future');
    expect(error.code).toBe(C.UNAVAILABLE);
    expect(error.message).toBe('error code 999: from the future');
  });

  it('keeps the code name and the detail in the message', () => {
    expect(routerErrorFromServerCode(ErrorCode.BLOB_EXPIRED, 'expired at 5').message).toBe(
      'BLOB_EXPIRED: expired at 5',
    );
    expect(routerErrorFromServerCode(ErrorCode.BLOB_EXPIRED, '').message).toBe('BLOB_EXPIRED');
  });
});

describe('isIdempotentSuccess', () => {
  it('is true only for an already-applied TTL update or delete', () => {
    const successes: string[] = [];
    for (const operation of OPERATIONS) {
      for (const code of SERVER_CODES) {
        if (isIdempotentSuccess(code, operation)) successes.push(`${operation} ${ErrorCode[code]}`);
      }
    }
    expect(successes.sort()).toEqual([
      'delete BLOB_DELETED',
      'delete BLOB_DELETED_PERMANENTLY',
      'ttlUpdate BLOB_ALREADY_UPDATED',
    ]);
  });
});

describe('classifyReplicaError', () => {
  it('blames the node for every transport failure of the peer', () => {
    const failures = [
      new RequestTimeoutError(4000, endpoint),
      new ConnectionRefusedError('connect ECONNREFUSED', endpoint),
      new ConnectionClosedError('connection closed', endpoint),
      new ProtocolError('unexpected correlation id', endpoint),
      new TransportError('something else on the wire', endpoint),
    ];
    for (const failure of failures) {
      for (const operation of OPERATIONS) {
        expect(classifyReplicaError(failure, operation), failure.constructor.name).toBe('node');
      }
    }
  });

  it('does not blame the node for our own backpressure, a caller abort or a bug', () => {
    for (const failure of [
      new ClientBusyError('queue full', endpoint),
      new RequestAbortedError(),
      new TypeError('undefined is not a function'),
      'a string',
      undefined,
    ]) {
      expect(classifyReplicaError(failure, 'get')).toBe('none');
    }
  });

  it('classifies every server code, as a number or as a ServerError', () => {
    const put: Record<string, string> = {};
    const get: Record<string, string> = {};
    for (const code of SERVER_CODES) {
      const name = ErrorCode[code];
      put[name] = classifyReplicaError(code, 'put');
      get[name] = classifyReplicaError(code, 'get');
      expect(classifyReplicaError(new ServerError(code, 'x', endpoint), 'put'), name).toBe(put[name]);
      expect(classifyReplicaError(new ServerError(code, 'x', endpoint), 'get'), name).toBe(get[name]);
    }
    const marked = (table: Record<string, string>) =>
      Object.fromEntries(Object.entries(table).filter(([, kind]) => kind !== 'none'));
    expect(marked(put)).toEqual({
      IO_ERROR: 'disk',
      DISK_UNAVAILABLE: 'disk',
      REPLICA_UNAVAILABLE: 'replica',
      TEMPORARILY_DISABLED: 'replica',
      PARTITION_READ_ONLY: 'replica',
      DISK_FULL: 'replica',
    });
    expect(marked(get)).toEqual({
      IO_ERROR: 'disk',
      DISK_UNAVAILABLE: 'disk',
      REPLICA_UNAVAILABLE: 'replica',
      TEMPORARILY_DISABLED: 'replica',
    });
  });

  it('treats a read-only replica as healthy for every operation but put', () => {
    for (const operation of OPERATIONS) {
      expect(classifyReplicaError(ErrorCode.PARTITION_READ_ONLY, operation)).toBe(
        operation === 'put' ? 'replica' : 'none',
      );
    }
  });
});

describe('toRouterError', () => {
  it('maps each kind of failure to the code a caller should see, keeping the cause', () => {
    const cases: Array<[unknown, RouterErrorCode]> = [
      [new ServerError(ErrorCode.BLOB_NOT_FOUND, 'no such blob', endpoint), C.BLOB_NOT_FOUND],
      [new RequestTimeoutError(4000, endpoint), C.TIMEOUT],
      [new RequestAbortedError(), C.ABORTED],
      [new ConnectionRefusedError('refused', endpoint), C.UNAVAILABLE],
      [new ConnectionClosedError('closed', endpoint), C.UNAVAILABLE],
      [new ProtocolError('bad frame', endpoint), C.UNAVAILABLE],
      [new ClientBusyError('busy', endpoint), C.UNAVAILABLE],
      [new BadBlobIdError('blob id is empty', ''), C.INVALID_BLOB_ID],
      [new InvalidArgumentError('negative size'), C.INVALID_ARGUMENT],
      [new LimitExceededError('user metadata', 10, 5), C.INVALID_ARGUMENT],
      [new ChecksumMismatchError('chunk', 1n, 2n), C.BLOB_CORRUPT],
      [new TypeError('oops'), C.INTERNAL],
      ['thrown string', C.INTERNAL],
    ];
    for (const [failure, code] of cases) {
      const error = toRouterError(failure);
      expect(error.code, String(failure)).toBe(code);
      expect(error.cause).toBe(failure);
    }
  });

  it('returns a RouterError unchanged', () => {
    const original = new RouterError(C.INSUFFICIENT_CAPACITY, 'no writable partition');
    expect(toRouterError(original)).toBe(original);
  });
});
