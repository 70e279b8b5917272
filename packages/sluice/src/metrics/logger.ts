/** A log method in pino's shape: an object of fields, then a message. */
export type LogMethod = (fields: Record<string, unknown>, message: string) => void;

/**
 * The logger a run can be given (pino, or anything with the same shape). The library logs
 * nothing unless one is passed: run start and end at `info`, stage start and end at
 * `debug`, absorbed item errors and retries at `warn`, a failed run at `error`.
 *
 * @example
 * ```ts
 * const logger: Logger = { info: (fields, msg) => console.log(msg, fields) };
 * ```
 */
export interface Logger {
  debug?: LogMethod;
  info?: LogMethod;
  warn?: LogMethod;
  error?: LogMethod;
}
