/**
 * ioredis clients as the cluster map uses them: reconnecting forever with a bounded back-off, no
 * offline queue (a command issued while Redis is unreachable fails at once; callers keep the change and
 * replay it after reconnecting), and an error listener so a dead Redis never crashes the process.
 */
import { Redis } from 'ioredis';

/** Delay before reconnect attempt n: 50 ms, 100 ms, ... capped at this. */
export const MAX_RECONNECT_DELAY_MS = 1000;

export function reconnectDelay(attempt: number): number {
  return Math.min(attempt * 50, MAX_RECONNECT_DELAY_MS);
}

export interface RedisClientOptions {
  /** Keep reconnecting after losing the connection (long-lived maps); default true. */
  reconnect?: boolean;
  /** Time allowed to connect; default 5000 ms. */
  connectTimeoutMs?: number;
}

/** Connects and waits until ready; rejects (and disconnects) when Redis cannot be reached. */
export async function connectRedis(url: string, options: RedisClientOptions = {}): Promise<Redis> {
  const reconnect = options.reconnect ?? true;
  let connected = false;
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: options.connectTimeoutMs ?? 5000,
    // Before the first success, give up at once so connect() reports the failure.
    retryStrategy: (attempt) => (connected && reconnect ? reconnectDelay(attempt) : null),
  });
  let lastError: Error | undefined;
  client.on('error', (error: Error) => {
    // Owners watch 'close'/'ready'; without a listener ioredis would print every failure to stderr.
    lastError = error;
  });
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    // connect() only says "Connection is closed."; the socket error says why.
    throw lastError ?? error;
  }
  connected = true;
  return client;
}

/** Closes politely when possible, at once otherwise. */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // fall through
    }
  }
  client.disconnect();
}

/** The URL with any password hidden, for logs. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
