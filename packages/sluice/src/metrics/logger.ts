/**
 * A log method in pino's shape: an object of fields, then a message.
 *
 * @example
 * ```ts
 * const warn: LogMethod = (fields, message) => console.warn(message, JSON.stringify(fields));
 * const run = pipeline.executeFrom(items, { logger: { warn, error: warn } });
 * ```
 */
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
  /** Stage start and end. */
  debug?: LogMethod;
  /** Run start and a run's successful or cancelled end. */
  info?: LogMethod;
  /** Item errors and retries. */
  warn?: LogMethod;
  /** A failed run, and an event listener that threw. */
  error?: LogMethod;
}
