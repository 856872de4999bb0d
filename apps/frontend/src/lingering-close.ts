import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Answering before the request body has arrived (a refusal, an unknown endpoint) means the connection
 * must close, since the unread rest would be parsed as the next request. node closes it by destroying
 * the socket as soon as the answer is written; with the client's bytes still arriving, the kernel then
 * resets the connection, and a reset can discard the answer before the client reads it (RFC 9112
 * section 9.6). So the close lingers instead: the answer, then our FIN, then the client's remaining
 * bytes read and dropped until it closes its side, for at most LINGER_MS and LINGER_BYTES.
 */
export const LINGER_MS = 5000;
export const LINGER_BYTES = 8 * 1024 * 1024;

type LingeringSocket = Socket & { destroySoon?: () => void; ambryLingering?: boolean };

/** Marks the answer to `request` as the connection's last one, and makes its close a lingering one. */
export function closeAfterAnswer(
  request: IncomingMessage,
  setHeader: (name: string, value: string) => void,
): void {
  setHeader('connection', 'close');
  const socket = request.socket as LingeringSocket | null;
  if (socket === null || socket.ambryLingering) return;
  socket.ambryLingering = true;
  // node's http server ends a last response with socket.destroySoon(): the one seam to linger in.
  socket.destroySoon = () => linger(socket);
}

function linger(socket: Socket): void {
  if (socket.destroyed) return;
  let dropped = 0;
  const done = () => {
    clearTimeout(timer);
    socket.destroy();
  };
  const timer = setTimeout(done, LINGER_MS);
  timer.unref();
  socket.on('data', (chunk: Buffer) => {
    dropped += chunk.byteLength;
    if (dropped > LINGER_BYTES) done();
  });
  socket.once('end', done);
  socket.once('close', () => clearTimeout(timer));
  socket.end();
  socket.resume();
}
