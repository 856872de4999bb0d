/**
 * One bounded HTTP exchange with the frontend (the crash loop's and the fault matrix's clients): the outcome is a status with the whole
 * body, a connection failure (expected while a process is being killed), or a hang (no answer within
 * the bound: never expected, always counted).
 */
export type HttpOutcome =
  | {
      readonly kind: 'response';
      readonly status: number;
      readonly headers: Headers;
      readonly body: Buffer;
    }
  | { readonly kind: 'connection'; readonly error: string }
  | { readonly kind: 'hang' };

export interface HttpRequest {
  readonly method: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'HEAD';
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: Uint8Array;
}

export async function exchangeHttp(
  baseUrl: string,
  request: HttpRequest,
  boundMs: number,
): Promise<HttpOutcome> {
  const signal = AbortSignal.timeout(boundMs);
  try {
    const response = await fetch(`${baseUrl}${request.path}`, {
      method: request.method,
      ...(request.headers ? { headers: request.headers } : {}),
      ...(request.body ? { body: request.body } : {}),
      signal,
    });
    // The whole body inside the same bound: a response that starts and then stalls is a hang too.
    const body = Buffer.from(await response.arrayBuffer());
    return { kind: 'response', status: response.status, headers: response.headers, body };
  } catch (error) {
    if (signal.aborted) return { kind: 'hang' };
    return { kind: 'connection', error: describe(error) };
  }
}

/** The innermost cause's code or message: `ECONNREFUSED`, `UND_ERR_SOCKET`, ... */
function describe(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 5; depth++) {
    const cause = (current as { cause?: unknown } | undefined)?.cause;
    if (cause === undefined) break;
    current = cause;
  }
  const code = (current as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code;
  return current instanceof Error ? current.name : String(current);
}
