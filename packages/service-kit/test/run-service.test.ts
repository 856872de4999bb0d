import { describe, expect, it } from 'vitest';
import { ConfigError, type RunServiceOptions, runService, type ServiceHost } from '../src/index.js';

interface Logged {
  readonly level: 'info' | 'warn' | 'error';
  readonly object: object;
  readonly message: string;
}

/** A process stand-in: records exit codes, stderr and log lines; `signal()` delivers a signal. */
function fakeHost(argv: string[] = []) {
  const listeners = new Map<string, Array<() => void>>();
  const exits: number[] = [];
  const stderr: string[] = [];
  const logged: Logged[] = [];
  let exited: (code: number) => void = () => {};
  const exit = new Promise<number>((resolve) => {
    exited = resolve;
  });
  const host: ServiceHost = {
    argv: ['node', 'main.js', ...argv],
    env: { AMBRY_X: '1' },
    exit: (code) => {
      exits.push(code);
      exited(code);
    },
    writeError: (text) => stderr.push(text),
    onSignal: (signal, listener) => listeners.set(signal, [...(listeners.get(signal) ?? []), listener]),
    onParentGone: (listener) => listeners.set('parent gone', [listener]),
  };
  const logger = {
    info: (object: object, message: string) => logged.push({ level: 'info', object, message }),
    warn: (object: object, message: string) => logged.push({ level: 'warn', object, message }),
    error: (object: object, message: string) => logged.push({ level: 'error', object, message }),
  };
  const signal = (name: string) => {
    for (const listener of listeners.get(name) ?? []) listener();
  };
  return { host, exits, stderr, logged, logger, signal, exit };
}

type Options = RunServiceOptions<
  { file: string | undefined },
  { stopped: number },
  ReturnType<typeof fakeHost>['logger']
>;

function options(fake: ReturnType<typeof fakeHost>, overrides: Partial<Options> = {}): Options {
  return {
    name: 'ambry-test',
    description: 'a test service',
    loadConfig: async (file, env) => {
      expect(env).toBe(fake.host.env);
      return { file };
    },
    logger: () => fake.logger,
    start: async () => ({ stopped: 0 }),
    stop: async (service) => {
      service.stopped += 1;
    },
    host: fake.host,
    ...overrides,
  };
}

const failing = (message: string) => async (): Promise<never> => {
  throw new Error(message);
};

describe('runService', () => {
  it('starts with --config, stops on SIGTERM and exits 0; a repeated signal is logged and ignored', async () => {
    const fake = fakeHost(['--config', 'svc.json']);
    let release = () => {};
    const service = await runService(
      options(fake, {
        stop: (s) =>
          new Promise<void>((resolve) => {
            s.stopped += 1;
            release = resolve;
          }),
      }),
    );
    expect(service).toEqual({ stopped: 0 });
    expect(fake.exits).toEqual([]);
    fake.signal('SIGTERM');
    fake.signal('SIGINT');
    expect(service!.stopped).toBe(1);
    release();
    expect(await fake.exit).toBe(0);
    expect(fake.exits).toEqual([0]);
    expect(fake.logged).toEqual([
      { level: 'info', object: { signal: 'SIGTERM' }, message: 'shutdown requested' },
      { level: 'warn', object: { signal: 'SIGINT' }, message: 'shutdown already in progress' },
    ]);
  });

  it('stops gracefully and exits 0 when its supervisor goes away (the IPC channel closes)', async () => {
    const fake = fakeHost();
    const service = await runService(options(fake));
    fake.signal('parent gone');
    expect(await fake.exit).toBe(0);
    expect(service!.stopped).toBe(1);
    expect(fake.logged[0]).toEqual({
      level: 'info',
      object: { signal: 'parent gone' },
      message: 'shutdown requested',
    });
  });

  it('passes the --config file (or none) to loadConfig and the config to start', async () => {
    for (const [argv, file] of [
      [['-c', 'a.json'], 'a.json'],
      [[], undefined],
    ] as const) {
      const fake = fakeHost([...argv]);
      let seen: unknown;
      await runService(
        options(fake, {
          start: async (config) => {
            seen = config;
            return { stopped: 0 };
          },
        }),
      );
      expect(seen).toEqual({ file });
    }
  });

  it('exits 2 on a ConfigError, with its message', async () => {
    const fake = fakeHost();
    const service = await runService(
      options(fake, {
        loadConfig: async () => {
          throw new ConfigError(['port (from AMBRY_PORT): expected number'], 'test');
        },
      }),
    );
    expect(service).toBeUndefined();
    expect(fake.exits).toEqual([2]);
    expect(fake.stderr.join('')).toBe(
      'invalid test configuration:\n  port (from AMBRY_PORT): expected number\n',
    );
  });

  it('exits 1 when the start fails, naming the command', async () => {
    const fake = fakeHost();
    await runService(options(fake, { start: failing('no cluster map at /nowhere') }));
    expect(fake.exits).toEqual([1]);
    expect(fake.stderr.join('')).toBe('ambry-test failed to start: no cluster map at /nowhere\n');
  });

  it('exits 1 when the stop fails, logging why', async () => {
    const fake = fakeHost();
    await runService(options(fake, { stop: failing('stuck') }));
    fake.signal('SIGINT');
    expect(await fake.exit).toBe(1);
    expect(fake.logged.at(-1)).toMatchObject({ level: 'error', message: 'shutdown failed' });
  });

  it('exits 0 at once on a signal during the start, without stopping anything', async () => {
    const fake = fakeHost();
    let stops = 0;
    await runService(
      options(fake, {
        start: async () => {
          fake.signal('SIGTERM');
          expect(await fake.exit).toBe(0);
          return { stopped: 0 };
        },
        stop: async () => {
          stops += 1;
        },
      }),
    );
    expect(fake.exits).toEqual([0]);
    expect(stops).toBe(0);
  });
});
