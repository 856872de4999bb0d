import { Command } from 'commander';
import { ConfigError } from './config.js';

/** What `runService` logs through: pino's shape (`logger.info({ signal }, 'message')`). */
export interface ServiceLogger {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

/** The process a service runs in; tests pass their own. */
export interface ServiceHost {
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  exit(code: number): void;
  writeError(text: string): void;
  onSignal(signal: NodeJS.Signals, listener: () => void): void;
  /**
   * When the process was started with an IPC channel (a supervisor such as the local cluster),
   * `listener` runs once that channel closes: the parent is gone, however it died.
   */
  onParentGone?(listener: () => void): void;
}

export interface RunServiceOptions<C, S, L extends ServiceLogger> {
  /** The command's name (`ambry-datanode`), in `--help` and in `<name> failed to start: ...`. */
  readonly name: string;
  /** One line for `--help`. */
  readonly description: string;
  /** The configuration from `--config <file>` (may be absent) and the environment; a ConfigError exits 2. */
  loadConfig(file: string | undefined, env: NodeJS.ProcessEnv): Promise<C>;
  /** The logger for the configuration (its level). */
  logger(config: C): L;
  /** Starts the service; a throw exits 1. */
  start(config: C, logger: L): Promise<S>;
  /** Stops it gracefully on SIGTERM or SIGINT (then exit 0; a throw exits 1). */
  stop(service: S): Promise<void>;
  /** Default: this process. */
  readonly host?: ServiceHost;
}

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

function processHost(): ServiceHost {
  return {
    argv: process.argv,
    env: process.env,
    exit: (code) => process.exit(code),
    writeError: (text) => process.stderr.write(text),
    onSignal: (signal, listener) => process.on(signal, listener),
    onParentGone: (listener) => {
      if (process.channel === undefined) return;
      process.once('disconnect', listener);
      // The channel alone must not keep a stopped service's process alive.
      process.channel.unref();
    },
  };
}

/**
 * The `main` of a server process: `<name> [--config <file>]` loads the configuration, starts the
 * service and stops it gracefully on SIGTERM or SIGINT (exit 0; a failed stop exits 1). A bad
 * configuration exits 2 with every problem named; a failed start exits 1. A repeated signal (a
 * supervisor forwarding what the process group already got, a second Ctrl-C) is logged and ignored: it
 * must not cut the clean stop short (the service's own shutdown timeout bounds it, SIGKILL forces it).
 * Signals are handled from before the start: one that arrives while starting exits 0 at once. A
 * process started with an IPC channel also stops when that channel closes (its supervisor died).
 * Resolves with the started service, or undefined when it did not start.
 */
export async function runService<C, S, L extends ServiceLogger>(
  options: RunServiceOptions<C, S, L>,
): Promise<S | undefined> {
  const host = options.host ?? processHost();
  const program = new Command()
    .name(options.name)
    .description(options.description)
    .option('-c, --config <file>', 'JSON configuration file (AMBRY_* environment variables override it)')
    .parse([...host.argv]);
  const { config: file } = program.opts<{ config?: string }>();
  let service: S | undefined;
  try {
    const config = await options.loadConfig(file, host.env);
    const logger = options.logger(config);
    let stopRequested = false;
    const stop = (signal: NodeJS.Signals | 'parent gone') => {
      if (stopRequested) {
        logger.warn({ signal }, 'shutdown already in progress');
        return;
      }
      stopRequested = true;
      logger.info({ signal }, 'shutdown requested');
      const stopping = service === undefined ? Promise.resolve() : options.stop(service);
      stopping.then(
        () => host.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          host.exit(1);
        },
      );
    };
    for (const signal of SIGNALS) host.onSignal(signal, () => stop(signal));
    host.onParentGone?.(() => stop('parent gone'));
    service = await options.start(config, logger);
    return service;
  } catch (error) {
    if (error instanceof ConfigError) {
      host.writeError(`${error.message}\n`);
      host.exit(2);
      return undefined;
    }
    host.writeError(
      `${options.name} failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    host.exit(1);
    return undefined;
  }
}
