import type { ChainableCommander, Redis } from 'ioredis';
import type { ClusterMapLogger } from './logger.js';
import type { RedisMessage } from './redis-keys.js';

/** Adds one change's commands to a transaction and returns the message announcing it. */
export type RedisWrite = (m: ChainableCommander) => RedisMessage;

/**
 * Local changes on their way to Redis. Keyed by entity so only the last change of each is kept while
 * Redis is unreachable; each is written and published in one transaction, in the order made, and kept
 * for a retry when the write fails.
 */
export class RedisWriteQueue {
  readonly #pending = new Map<string, RedisWrite>();
  #flushing: Promise<void> | undefined;

  constructor(
    private readonly client: Redis,
    private readonly channel: string,
    private readonly logger: ClusterMapLogger,
    private readonly cluster: string,
  ) {}

  get size(): number {
    return this.#pending.size;
  }

  /** Whether a change to `entity` is still waiting: it wins over what Redis says on a resync. */
  has(entity: string): boolean {
    return this.#pending.has(entity);
  }

  enqueue(entity: string, write: RedisWrite): void {
    this.#pending.delete(entity); // re-inserted last, so changes reach Redis in order
    this.#pending.set(entity, write);
    void this.flush();
  }

  /** Writes what is pending while Redis is ready; stops at the first failure. */
  flush(): Promise<void> {
    this.#flushing ??= (async () => {
      while (this.#pending.size > 0 && this.client.status === 'ready') {
        const [entity, write] = this.#pending.entries().next().value as [string, RedisWrite];
        try {
          const m = this.client.multi();
          const message = write(m);
          m.publish(this.channel, JSON.stringify(message));
          await m.exec();
          if (this.#pending.get(entity) === write) this.#pending.delete(entity);
        } catch (error) {
          this.logger.warn(
            { err: error, cluster: this.cluster },
            'cluster map write to redis failed; kept for retry',
          );
          break;
        }
      }
    })().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }
}
