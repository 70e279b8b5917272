import { StepError, StreamingError } from "./step-error.js";

/** Turns any thrown value into an `Error`, keeping the original as `cause` when it was not one. */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  const text = typeof value === "string" ? value : safeString(value);
  return new StepError(`Non-error value thrown: ${text}`, {
    code: "NON_ERROR_THROWN",
    cause: value,
  });
}

function safeString(value: unknown): string {
  try {
    return typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

const WRAPPER = Symbol.for("sluice.wrapper");

/** Marks an error the library made only to carry another one as its `cause`. */
export function markWrapper<E extends Error>(error: E): E {
  Object.defineProperty(error, WRAPPER, { value: true });
  return error;
}

/**
 * What the user's code actually threw: unwraps the library's own wrappers (from
 * `createStep` and the stages), so `retryIf` and Retry-After see the real error.
 */
export function unwrapFailure(error: unknown): unknown {
  let e = error;
  while (e instanceof Error && (e as unknown as Record<symbol, unknown>)[WRAPPER] === true)
    e = e.cause;
  return e;
}

/** Where a failure happened, for wrapping it. */
export interface FailureSite {
  key?: string | undefined;
  stepName?: string | undefined;
  itemIndex?: number | undefined;
  attempts?: number | undefined;
  traceId?: string | undefined;
  spanId?: string | undefined;
}

/**
 * Wraps a thrown value as a `StreamingError`, keeping the cause's `code` and `retryable`
 * so that interop and retry decisions see what the user's code said. An error that is
 * already a `StepError` for the same site is returned as is.
 */
export function wrapFailure(value: unknown, site: FailureSite, retryable: boolean): StreamingError {
  if (value instanceof StreamingError && value.key === site.key) return value;
  const message = value instanceof Error ? value.message : toError(value).message;
  const code = value instanceof Error ? (readCode(value) ?? "STEP_FAILED") : "NON_ERROR_THROWN";
  const where = site.key === undefined ? "" : ` in stage "${site.key}"`;
  const item = site.itemIndex === undefined ? "" : ` (item ${site.itemIndex})`;
  // The cause is what was thrown, as it was: an Error, a StepError, or any other value.
  return markWrapper(
    new StreamingError(`${message}${where}${item}`, { code, retryable, cause: value, ...site }),
  );
}

/** The string `code` an error carries, if any. */
export function readCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" ? code : undefined;
}
