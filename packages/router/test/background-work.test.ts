import { describe, expect, it } from 'vitest';
import { BackgroundWork } from '../src/background-work.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A task that runs until released or aborted, recording what happened to it. */
function blockingTask(log: string[], name: string) {
  const release = deferred();
  const task = async (signal: AbortSignal) => {
    log.push(`${name} started`);
    await new Promise<void>((resolve) => {
      signal.addEventListener('abort', () => resolve(), { once: true });
      void release.promise.then(resolve);
    });
    log.push(signal.aborted ? `${name} aborted` : `${name} done`);
  };
  return { task, release: release.resolve };
}

describe('BackgroundWork', () => {
  it('runs at most `concurrency` tasks and one per key, in submission order', async () => {
    const work = new BackgroundWork(2, 10);
    const log: string[] = [];
    const a = blockingTask(log, 'a');
    const a2 = blockingTask(log, 'a2');
    const b = blockingTask(log, 'b');
    const c = blockingTask(log, 'c');
    work.submit('a', a.task);
    work.submit('a', a2.task); // same key: waits for the first
    work.submit('b', b.task);
    work.submit('c', c.task);
    await Promise.resolve();
    await Promise.resolve();
    expect(log).toEqual(['a started', 'b started']);
    expect(work.stats()).toMatchObject({ running: 2, queued: 2 });
    a.release();
    await new Promise((r) => setImmediate(r));
    expect(log.slice(2)).toEqual(['a done', 'a2 started']);
    a2.release();
    b.release();
    c.release();
    await work.idle();
    expect(work.stats()).toEqual({ running: 0, queued: 0, completed: 4, failed: 0, dropped: 0 });
  });

  it('cancel removes a waiting task, and stops a running one and waits for it', async () => {
    const work = new BackgroundWork(1, 10);
    const log: string[] = [];
    const running = blockingTask(log, 'running');
    const waiting = blockingTask(log, 'waiting');
    work.submit('x', running.task);
    work.submit('y', waiting.task);
    await new Promise((r) => setImmediate(r));
    await work.cancel('y');
    expect(work.stats()).toMatchObject({ queued: 0, dropped: 1 });
    await work.cancel('x');
    // cancel resolved only after the running task had seen its signal and ended.
    expect(log).toEqual(['running started', 'running aborted']);
    expect(work.stats()).toEqual({ running: 0, queued: 0, completed: 0, failed: 0, dropped: 2 });
    await work.cancel('nothing'); // unknown key: nothing to do
  });

  it('counts failures, refuses past maxQueued, and stop() aborts what runs and drops the rest', async () => {
    const work = new BackgroundWork(1, 1);
    const log: string[] = [];
    work.submit('bad', async () => {
      throw new Error('boom');
    });
    await work.idle();
    expect(work.stats().failed).toBe(1);
    const first = blockingTask(log, 'first');
    expect(work.submit('1', first.task)).toBe(true); // runs
    await Promise.resolve();
    expect(work.submit('2', async () => undefined)).toBe(true); // waits
    expect(work.submit('3', async () => undefined)).toBe(false); // the queue holds one
    await work.stop();
    expect(log).toEqual(['first started', 'first aborted']);
    expect(work.submit('4', async () => undefined)).toBe(false);
    expect(work.stats()).toEqual({ running: 0, queued: 0, completed: 0, failed: 1, dropped: 4 });
  });
});
