/**
 * A real redis-server for tests: started on a free port with no persistence, stopped by pid. When the
 * binary is missing, `REDIS_SERVER` is undefined and Redis suites skip with a loud warning.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function findRedisServer(): string | undefined {
  // REDIS_SERVER_BIN names the binary; set to a missing path, it shows the skip path.
  const configured = process.env.REDIS_SERVER_BIN;
  if (configured) return existsSync(configured) ? configured : undefined;
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const path = which.stdout.trim();
  return which.status === 0 && path !== '' ? path : undefined;
}

export const REDIS_SERVER = findRedisServer();

if (!REDIS_SERVER) {
  console.warn(
    '\n*** WARNING: redis-server not found: the Redis tests are SKIPPED (apt-get install -y redis-server) ***\n',
  );
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Polls `check` every 20 ms until it is true; throws after `timeoutMs`. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.end('PING\r\n');
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export class RedisServer {
  #child: ChildProcess | undefined;
  /** Working directory: a `SAVE` writes dump.rdb here and a restart loads it. */
  readonly dir = mkdtempSync(join(tmpdir(), 'ambry-redis-'));
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  static async start(port?: number): Promise<RedisServer> {
    const server = new RedisServer(port ?? (await freePort()));
    await server.start();
    return server;
  }

  async start(): Promise<void> {
    if (!REDIS_SERVER) throw new Error('redis-server is not installed');
    const child = spawn(
      REDIS_SERVER,
      [
        '--port',
        String(this.port),
        '--save',
        '',
        '--appendonly',
        'no',
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
      ],
      {
        stdio: 'ignore',
      },
    );
    this.#child = child;
    let exited = false;
    child.once('exit', () => {
      exited = true;
    });
    await waitFor(async () => exited || (await canConnect(this.port)), `redis-server on port ${this.port}`);
    if (exited) throw new Error(`redis-server exited at start (port ${this.port} taken?)`);
  }

  /** Stops the server and removes its directory. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Kills the server by pid and waits until it has exited (it can be started again on the same port). */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(child.pid, 'SIGKILL');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    this.#child = undefined;
  }
}
