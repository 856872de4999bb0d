/** The subset of a pino logger the cluster map uses; pino loggers fit it as they are. */
export interface ClusterMapLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = (): void => {};

export const SILENT_LOGGER: ClusterMapLogger = Object.freeze({ info: noop, warn: noop, error: noop });
