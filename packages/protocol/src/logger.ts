/**
 * The logging seam: the subset of pino's API this package calls. Apps pass their pino logger; the
 * library default is silent so embedding the client never prints on its own.
 */
export interface Logger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

const ignore = (): void => {};

export const silentLogger: Logger = { debug: ignore, info: ignore, warn: ignore, error: ignore };
