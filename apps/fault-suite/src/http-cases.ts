/**
 * The frontend fuzzer's cases (test/fuzz-frontend.test.ts): requests fetch would refuse to send, as raw
 * bytes. Random and mutated methods, paths (ids valid, truncated, mutated, very long, percent garbage),
 * x-ambry-* and Range headers with bad, huge and duplicated values, bodies whose declared and sent
 * sizes disagree, broken chunked framing, trickled bodies, clients that stall.
 */
import fc from 'fast-check';
import type { Delivery } from './fuzz-kit.js';
import { chunked } from './http-wire.js';

/** The headers an upload needs. */
export const UPLOAD_HEADERS = {
  'x-ambry-service-id': 'fault-suite',
  'x-ambry-content-type': 'application/octet-stream',
};

export type IdSpec =
  | { kind: 'valid'; victim: number }
  | { kind: 'truncated'; victim: number; keep: number }
  | { kind: 'mutated'; victim: number; at: number; char: string }
  | { kind: 'long'; length: number; char: string }
  | { kind: 'percent'; garbage: string }
  | { kind: 'random'; text: string };

export type PathSpec =
  | { kind: 'fixed'; path: string }
  | { kind: 'blob'; id: IdSpec; suffix: string; query: string };

export type BodySpec =
  | { kind: 'none' }
  | { kind: 'exact'; size: number }
  | { kind: 'short'; declared: number; sent: number }
  | { kind: 'long'; declared: number; extra: string }
  | { kind: 'chunked'; size: number; sizes: number[] }
  | { kind: 'badChunked'; size: number; how: 'hex' | 'noCrlf' | 'tooShort' | 'noTerminator' | 'huge' }
  | { kind: 'clAndChunked'; size: number }
  | { kind: 'badLength'; value: string; size: number };

export interface HttpCase {
  readonly method: string;
  readonly path: PathSpec;
  readonly uploadHeaders: boolean;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly host: boolean;
  readonly connectionClose: boolean;
  readonly body: BodySpec;
  readonly delivery: Delivery;
  /** stall: after writing, never end our side; the server must close by itself. */
  readonly tail: 'end' | 'stall';
}

const ID_CHARS = 'ABCxyz09-_=+/.%~ é\u0000'.split('');

/** Random and mutated requests aimed at `victims` (ids the cases may read, delete and update). */
export function httpCases(victims: readonly string[]): fc.Arbitrary<HttpCase> {
  const victim = fc.nat({ max: victims.length - 1 });
  const id: fc.Arbitrary<IdSpec> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('valid' as const), victim }) },
    fc.record({ kind: fc.constant('truncated' as const), victim, keep: fc.nat({ max: 35 }) }),
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('mutated' as const),
        victim,
        at: fc.nat({ max: 35 }),
        char: fc.constantFrom(...ID_CHARS),
      }),
    },
    fc.record({
      kind: fc.constant('long' as const),
      length: fc.oneof(fc.integer({ min: 37, max: 300 }), fc.constantFrom(2000, 20_000, 120_000)),
      char: fc.constantFrom('A', '%41', '-'),
    }),
    fc.record({
      kind: fc.constant('percent' as const),
      garbage: fc.constantFrom(
        '%',
        '%zz',
        '%c3%28',
        '%00',
        '%2F',
        '%ff%fe',
        '%%',
        '%E2%82',
        '..%2f..%2f',
        '%0d%0a',
      ),
    }),
    fc.record({ kind: fc.constant('random' as const), text: fc.string({ maxLength: 40 }) }),
  );
  const pathSpec: fc.Arbitrary<PathSpec> = fc.oneof(
    fc.record({
      kind: fc.constant('fixed' as const),
      path: fc.constantFrom(
        '/',
        '/healthCheck',
        '/metrics',
        '/updateTtl',
        '/undelete',
        '//',
        '*',
        '/?',
        '/healthCheck/extra',
        'http://127.0.0.1/healthCheck',
        '',
        '/%',
        '/\u00e9',
      ),
    }),
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('blob' as const),
        id,
        suffix: fc.constantFrom('', '', '', '/BlobInfo', '/UserMetadata', '/blobinfo', '/', '/x/y'),
        query: fc.constantFrom('', '', '?a=b', '?', '#frag', '?%zz'),
      }),
    },
  );
  const value = fc.oneof(
    fc.constantFrom('', ' ', '-1', '0', '1', 'true', 'TRUE', 'yes', '9007199254740993', '1e3', '0x10', '१२'),
    fc.string({ maxLength: 40 }),
    fc.string({ maxLength: 20, unit: 'binary' }),
    fc.integer({ min: 16 * 1024, max: 120 * 1024 }).map((n) => 'v'.repeat(n)),
  );
  const ambry = fc.constantFrom(
    'x-ambry-service-id',
    'x-ambry-content-type',
    'x-ambry-ttl',
    'x-ambry-private',
    'x-ambry-owner-id',
    'x-ambry-blob-size',
    'x-ambry-content-encoding',
    'x-ambry-filename',
    'x-ambry-get-option',
    'x-ambry-blob-id',
    'x-ambry-request-id',
    'x-ambry-um-key',
    'x-ambry-um-',
    'x-ambry-enc-um-key',
    'x-ambry-life-version',
  );
  const range = fc.oneof(
    fc.constantFrom(
      'bytes=0-0',
      'bytes=0-',
      'bytes=-1',
      'bytes=-0',
      'bytes=5-1',
      'bytes=0-1,2-3',
      'items=0-1',
      'bytes=--',
      'bytes= 1-2',
      'bytes=99999999999999999999-',
      'bytes=-99999999999999999999',
      'bytes=100000-',
      'bytes=9007199254740990-9007199254740991',
      'bytes=',
      '',
    ),
    fc.tuple(fc.nat({ max: 5000 }), fc.nat({ max: 5000 })).map(([a, b]) => `bytes=${a}-${b}`),
  );
  const header: fc.Arbitrary<readonly [string, string]> = fc.oneof(
    { weight: 4, arbitrary: fc.tuple(ambry, value) },
    { weight: 2, arbitrary: fc.tuple(fc.constant('range'), range) },
    fc.tuple(
      fc.constantFrom('x-ambry-blob-id'),
      victim.map((v) => victims[v]!),
    ),
    fc.tuple(
      fc.constantFrom('x-ambry-get-option'),
      fc.constantFrom('Include_All', 'none', 'INCLUDE_DELETED_BLOBS'),
    ),
    fc.tuple(
      fc.constant('if-none-match'),
      fc.oneof(
        value,
        victim.map((v) => `"${victims[v]!}"`),
      ),
    ),
    fc.tuple(
      fc.constantFrom('expect', 'content-type', 'transfer-encoding', 'connection', 'accept-encoding'),
      value,
    ),
    fc.tuple(fc.string({ minLength: 1, maxLength: 12 }), value),
  );
  const bodySize = fc.oneof(fc.nat({ max: 64 }), fc.nat({ max: 8192 }));
  const body: fc.Arbitrary<BodySpec> = fc.oneof(
    { weight: 4, arbitrary: fc.constant({ kind: 'none' as const }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('exact' as const), size: bodySize }) },
    fc
      .tuple(fc.integer({ min: 1, max: 8192 }), fc.nat())
      .map(([declared, sent]) => ({ kind: 'short' as const, declared, sent: sent % declared })),
    fc.record({
      kind: fc.constant('long' as const),
      declared: fc.nat({ max: 256 }),
      extra: fc.constantFrom('X', 'GET / HTTP/1.1\r\n\r\n', 'garbage\r\n\r\n', '\r\n'),
    }),
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('chunked' as const),
        size: bodySize,
        sizes: fc.array(fc.integer({ min: 1, max: 2048 }), { maxLength: 5 }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('badChunked' as const),
        size: fc.integer({ min: 1, max: 2048 }),
        how: fc.constantFrom(
          'hex' as const,
          'noCrlf' as const,
          'tooShort' as const,
          'noTerminator' as const,
          'huge' as const,
        ),
      }),
    },
    fc.record({ kind: fc.constant('clAndChunked' as const), size: fc.nat({ max: 512 }) }),
    fc.record({
      kind: fc.constant('badLength' as const),
      value: fc.constantFrom('-1', 'abc', '1e3', '99999999999999999999', '10, 20', ' 5', '0x10', ''),
      size: fc.nat({ max: 64 }),
    }),
  );
  return fc.record({
    method: fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom('GET', 'GET', 'HEAD', 'POST', 'POST', 'PUT', 'DELETE') },
      fc.constantFrom('OPTIONS', 'PATCH', 'TRACE', 'PROPFIND', 'get', 'CONNECT', 'G ET', 'GET\t', ''),
      fc.stringMatching(/^[A-Z]{1,12}$/),
      fc.string({ maxLength: 8, unit: 'binary' }),
    ),
    path: pathSpec,
    uploadHeaders: fc.boolean(),
    headers: fc.array(header, { maxLength: 6 }),
    host: fc.oneof({ weight: 15, arbitrary: fc.constant(true) }, fc.constant(false)),
    connectionClose: fc.boolean(),
    body,
    delivery: fc.oneof(
      { weight: 6, arbitrary: fc.constant({ kind: 'fast' as const }) },
      fc.record({
        kind: fc.constant('slow' as const),
        size: fc.integer({ min: 1, max: 64 }),
        delayMs: fc.integer({ min: 0, max: 3 }),
      }),
    ),
    tail: fc.oneof({ weight: 30, arbitrary: fc.constant('end' as const) }, fc.constant('stall' as const)),
  });
}

function idText(spec: IdSpec, victims: readonly string[]): string {
  switch (spec.kind) {
    case 'valid':
      return victims[spec.victim]!;
    case 'truncated':
      return victims[spec.victim]!.slice(0, spec.keep);
    case 'mutated': {
      const id = victims[spec.victim]!;
      return id.slice(0, spec.at) + spec.char + id.slice(spec.at + 1);
    }
    case 'long':
      return spec.char.repeat(Math.ceil(spec.length / spec.char.length));
    case 'percent':
      return spec.garbage;
    case 'random':
      return spec.text;
  }
}

function pathText(spec: PathSpec, victims: readonly string[]): string {
  if (spec.kind === 'fixed') return spec.path;
  return `/${idText(spec.id, victims)}${spec.suffix}${spec.query}`;
}

export interface BuiltRequest {
  readonly bytes: Buffer;
  /** Sent whole and well framed: the server has everything it needs to answer. */
  readonly complete: boolean;
  /** A request any HTTP/1.1 server must parse and answer (standard method, clean path and headers). */
  readonly wellFormed: boolean;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const CLEAN_VALUE = /^[\t\x20-\x7e]*$/;
const STANDARD_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE']);

/** The request's bytes, and whether it is complete and framed as HTTP/1.1 allows. */
export function buildRequest(c: HttpCase, victims: readonly string[]): BuiltRequest {
  const target = pathText(c.path, victims);
  const lines: string[] = [`${c.method} ${target} HTTP/1.1`];
  if (c.host) lines.push('Host: 127.0.0.1');
  if (c.uploadHeaders)
    for (const [name, value] of Object.entries(UPLOAD_HEADERS)) lines.push(`${name}: ${value}`);
  for (const [name, value] of c.headers) lines.push(`${name}: ${value}`);
  if (c.connectionClose) lines.push('Connection: close');
  let body: Buffer = Buffer.alloc(0);
  let complete = true;
  let framingOk = true;
  const payload = (size: number) => Buffer.alloc(size, 0x61);
  switch (c.body.kind) {
    case 'none':
      break;
    case 'exact':
      lines.push(`Content-Length: ${c.body.size}`);
      body = payload(c.body.size);
      break;
    case 'short':
      lines.push(`Content-Length: ${c.body.declared}`);
      body = payload(c.body.sent);
      complete = false;
      break;
    case 'long':
      lines.push(`Content-Length: ${c.body.declared}`);
      body = Buffer.concat([payload(c.body.declared), Buffer.from(c.body.extra)]);
      framingOk = false;
      break;
    case 'chunked':
      lines.push('Transfer-Encoding: chunked');
      body = chunked(payload(c.body.size), c.body.sizes);
      break;
    case 'badChunked': {
      lines.push('Transfer-Encoding: chunked');
      const data = payload(c.body.size);
      const size = c.body.size.toString(16);
      body = {
        hex: Buffer.concat([Buffer.from('zz\r\n'), data, Buffer.from('\r\n0\r\n\r\n')]),
        noCrlf: Buffer.concat([Buffer.from(`${size}\r\n`), data, Buffer.from('0\r\n\r\n')]),
        tooShort: Buffer.concat([
          Buffer.from(`${(c.body.size + 10).toString(16)}\r\n`),
          data,
          Buffer.from('\r\n0\r\n\r\n'),
        ]),
        noTerminator: Buffer.concat([Buffer.from(`${size}\r\n`), data, Buffer.from('\r\n')]),
        huge: Buffer.from('fffffffffffffffff\r\nabc\r\n0\r\n\r\n'),
      }[c.body.how];
      complete = false;
      framingOk = false;
      break;
    }
    case 'clAndChunked':
      lines.push(`Content-Length: ${c.body.size}`, 'Transfer-Encoding: chunked');
      body = chunked(payload(c.body.size), []);
      framingOk = false;
      break;
    case 'badLength':
      lines.push(`Content-Length: ${c.body.value}`);
      body = payload(c.body.size);
      framingOk = false;
      break;
  }
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  const headersClean =
    c.host &&
    [...c.headers, ...Object.entries(UPLOAD_HEADERS)].every(
      ([name, value]) =>
        TOKEN.test(name) &&
        CLEAN_VALUE.test(value) &&
        !['content-length', 'transfer-encoding', 'expect', 'connection', 'host'].includes(name.toLowerCase()),
    ) &&
    head.byteLength < 16 * 1024;
  const wellFormed =
    STANDARD_METHODS.has(c.method) &&
    /^\/[\x21-\x7e]*$/.test(target) &&
    headersClean &&
    framingOk &&
    complete;
  return { bytes: Buffer.concat([head, body]), complete, wellFormed };
}

/** A case as shown in a failure: its bytes (cut at 600) and how they were sent. */
export function describeCase(c: HttpCase, built: BuiltRequest): string {
  const text = built.bytes.toString('latin1');
  const shown = text.length > 600 ? `${text.slice(0, 600)}… (${text.length} bytes)` : text;
  return `${JSON.stringify(shown)} delivery=${JSON.stringify(c.delivery)} tail=${c.tail}`;
}
