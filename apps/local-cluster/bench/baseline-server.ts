/**
 * The baseline of http.bench.ts: a bare `node:http` server with no blob store behind it, run as its own
 * process so it does not share the client's event loop.
 *
 *   node --import tsx bench/baseline-server.ts --dir DIR
 *
 * `POST /` streams the body into a new file in DIR, fdatasyncs it (as the data nodes do before they
 * acknowledge a write; the directory itself is not synced) and answers 201 with `Location: /<id>`.
 * `GET /<id>` streams the file back with its Content-Length; `GET /healthCheck` answers `GOOD`, as the
 * frontend does. Anything else: 404. Once listening it
 * prints one JSON line `{"url":"http://127.0.0.1:<port>"}` on stdout; SIGTERM closes it (exit 0).
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, open, unlink } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { dir: { type: 'string' } } });
const dir = values.dir;
if (dir === undefined) throw new Error('--dir is required');

const ID = /^\/([0-9a-f]{32})$/;

function reply(res: http.ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error: status, message });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function put(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const id = randomBytes(16).toString('hex');
  const file = path.join(dir!, id);
  const handle = await open(file, 'wx');
  try {
    for await (const chunk of req) await handle.write(chunk as Buffer);
    await handle.datasync();
  } catch (error) {
    await handle.close().catch(() => {});
    await unlink(file).catch(() => {});
    throw error;
  }
  await handle.close();
  res.writeHead(201, { location: `/${id}`, 'content-length': 0 });
  res.end();
}

async function get(id: string, res: http.ServerResponse): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(path.join(dir!, id), 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return reply(res, 404, 'no such blob');
    throw error;
  }
  let size: number;
  try {
    size = (await handle.stat()).size;
  } catch (error) {
    await handle.close();
    throw error;
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
  // The stream closes the handle when it ends or fails.
  await pipeline(handle.createReadStream(), res);
}

const server = http.createServer((req, res) => {
  const match = ID.exec(req.url ?? '');
  const done =
    req.method === 'GET' && req.url === '/healthCheck'
      ? Promise.resolve(res.writeHead(200, { 'content-length': 4 }).end('GOOD'))
      : req.method === 'POST' && req.url === '/'
        ? put(req, res)
        : req.method === 'GET' && match !== null
          ? get(match[1]!, res)
          : Promise.resolve(reply(res, 404, 'not found'));
  done.catch((error: unknown) => reply(res, 500, String(error)));
});
// fastify's default, so neither side drops an idle keep-alive connection between cases.
server.keepAliveTimeout = 72_000;

process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('unexpected server address');
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${address.port}` })}\n`);
});
