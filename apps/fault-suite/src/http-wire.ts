/**
 * HTTP/1.1 on raw bytes, for requests fetch would refuse to send: building a request from parts
 * (any method, path, header bytes and body framing) and reading back every response a server wrote on
 * one connection.
 */

export interface HttpResponse {
  readonly status: number;
  /** Lower-cased names; repeated headers keep every value. */
  readonly headers: ReadonlyMap<string, string[]>;
  readonly body: Buffer;
}

export interface ParsedResponses {
  readonly responses: HttpResponse[];
  /** Bytes after the last complete response (a response cut off, or garbage). */
  readonly trailing: number;
  /** Set when the bytes are not HTTP at all. */
  readonly error?: string;
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

/**
 * Every complete response in `bytes`, in order; interim 1xx responses are skipped. `firstMethod` is the
 * method of the first request (a HEAD response has no body); later responses (to pipelined garbage) are
 * assumed to answer something other than HEAD. `closed`: the connection is over, so a response framed by
 * the close is complete.
 */
export function parseResponses(bytes: Buffer, firstMethod: string, closed: boolean): ParsedResponses {
  const responses: HttpResponse[] = [];
  let at = 0;
  let index = 0;
  while (at < bytes.byteLength) {
    const end = bytes.indexOf(HEADER_END, at);
    if (end < 0) break;
    const head = bytes.subarray(at, end).toString('latin1').split('\r\n');
    const match = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(head[0] ?? '');
    if (!match) return { responses, trailing: bytes.byteLength - at, error: `bad status line ${head[0]}` };
    const status = Number(match[1]);
    const headers = new Map<string, string[]>();
    for (const line of head.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) return { responses, trailing: bytes.byteLength - at, error: `bad header line ${line}` };
      const name = line.slice(0, colon).trim().toLowerCase();
      const values = headers.get(name) ?? [];
      values.push(line.slice(colon + 1).trim());
      headers.set(name, values);
    }
    let bodyStart = end + HEADER_END.byteLength;
    if (status >= 100 && status < 200) {
      at = bodyStart;
      continue;
    }
    const isHead = index === 0 && firstMethod.toUpperCase() === 'HEAD';
    let body: Buffer;
    if (isHead || status === 204 || status === 304) {
      body = Buffer.alloc(0);
    } else if ((headers.get('transfer-encoding') ?? []).some((v) => /chunked/i.test(v))) {
      const chunks: Buffer[] = [];
      let cursor = bodyStart;
      let done = false;
      for (;;) {
        const lineEnd = bytes.indexOf(CRLF, cursor);
        if (lineEnd < 0) break;
        const size = Number.parseInt(bytes.subarray(cursor, lineEnd).toString('latin1'), 16);
        if (!Number.isFinite(size)) {
          return { responses, trailing: bytes.byteLength - at, error: 'bad chunk size in a response' };
        }
        if (size === 0) {
          const trailerEnd = bytes.indexOf(CRLF, lineEnd + 2);
          if (trailerEnd < 0) break;
          cursor = trailerEnd + 2;
          done = true;
          break;
        }
        if (lineEnd + 2 + size + 2 > bytes.byteLength) break;
        chunks.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
        cursor = lineEnd + 2 + size + 2;
      }
      if (!done) break;
      body = Buffer.concat(chunks);
      bodyStart = cursor;
      at = cursor;
      responses.push({ status, headers, body });
      index += 1;
      continue;
    } else if (headers.has('content-length')) {
      const length = Number(headers.get('content-length')![0]);
      if (!Number.isSafeInteger(length) || length < 0) {
        return { responses, trailing: bytes.byteLength - at, error: 'bad content-length in a response' };
      }
      if (bodyStart + length > bytes.byteLength) break;
      body = bytes.subarray(bodyStart, bodyStart + length);
      bodyStart += length;
    } else {
      if (!closed) break;
      body = bytes.subarray(bodyStart);
      bodyStart = bytes.byteLength;
    }
    responses.push({ status, headers, body });
    index += 1;
    at = bodyStart;
  }
  return { responses, trailing: bytes.byteLength - at };
}

/** `bytes` as a chunked body with chunks of the given sizes (the rest in a last chunk), terminated. */
export function chunked(bytes: Uint8Array, sizes: readonly number[]): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (const size of sizes) {
    if (at >= bytes.byteLength) break;
    const piece = bytes.subarray(at, at + Math.max(1, size));
    parts.push(Buffer.from(`${piece.byteLength.toString(16)}\r\n`), Buffer.from(piece), CRLF);
    at += piece.byteLength;
  }
  if (at < bytes.byteLength) {
    const piece = bytes.subarray(at);
    parts.push(Buffer.from(`${piece.byteLength.toString(16)}\r\n`), Buffer.from(piece), CRLF);
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}
