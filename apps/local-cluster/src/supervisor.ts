/**
 * Child processes of the local cluster: started with their output appended to a log file, watched
 * until their health URL answers 200, stopped with SIGTERM and, past a deadline, SIGKILL.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ChildSpec {
  readonly name: string;
  /** Arguments to node itself: the script and its flags. */
  readonly nodeArgs: readonly string[];
  readonly cwd: string;
  readonly logFile: string;
  readonly healthUrl: string;
}

export class Child {
  readonly spec: ChildSpec;
  readonly #process: ChildProcess;
  readonly #exited: Promise<number | null>;
  #exitCode: number | null | undefined;
  #stopping = false;

  constructor(spec: ChildSpec) {
    this.spec = spec;
    const log = openSync(spec.logFile, 'a');
    try {
      this.#process = spawn(process.execPath, [...spec.nodeArgs], {
        cwd: spec.cwd,
        // The IPC channel is the child's lifeline: when this process dies, however it dies, the
        // channel closes and the child stops itself ('disconnect', handled in service-kit).
        stdio: ['ignore', log, log, 'ipc'],
        // Its own process group: a Ctrl-C reaches only this process, which stops the children in order.
        detached: true,
        env: process.env,
      });
    } finally {
      // The child holds its own copy of the descriptor.
      closeSync(log);
    }
    this.#exited = new Promise((resolve) => {
      this.#process.once('exit', (code, signal) => {
        this.#exitCode = code ?? (signal === null ? null : -1);
        resolve(code);
      });
      this.#process.once('error', () => resolve(null));
    });
  }

  get pid(): number | undefined {
    return this.#process.pid;
  }

  get running(): boolean {
    return this.#exitCode === undefined;
  }

  /** True once stop() was called: an exit after that is expected. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** Resolves with the exit code (null when killed by a signal). */
  get exited(): Promise<number | null> {
    return this.#exited;
  }

  /** Polls the health URL until it answers 200; fails if the process exits or `timeoutMs` passes. */
  async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running) {
        throw new Error(`${this.spec.name} exited during start\n${await this.logTail()}`);
      }
      const ok = await fetch(this.spec.healthUrl, { signal: AbortSignal.timeout(2_000) }).then(
        async (response) => {
          await response.arrayBuffer();
          return response.status === 200;
        },
        () => false,
      );
      if (ok) return;
      await sleep(100);
    }
    throw new Error(`${this.spec.name} was not healthy within ${timeoutMs} ms\n${await this.logTail()}`);
  }

  /** SIGTERM, then SIGKILL after `killAfterMs`; resolves when the process is gone. */
  async stop(killAfterMs: number): Promise<void> {
    this.#stopping = true;
    if (!this.running) return;
    this.#process.kill('SIGTERM');
    const killed = sleep(killAfterMs, 'timeout' as const);
    if ((await Promise.race([this.#exited, killed])) === 'timeout' && this.running) {
      this.#process.kill('SIGKILL');
      await this.#exited;
    }
  }

  async logTail(lines = 20): Promise<string> {
    const text = await readFile(this.spec.logFile, 'utf8').catch(() => '');
    const tail = text.trimEnd().split('\n').slice(-lines);
    return `  last lines of ${this.spec.logFile}:\n    ${tail.join('\n    ')}`;
  }
}
