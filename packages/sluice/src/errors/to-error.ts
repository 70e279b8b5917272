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
  const cause = toError(value);
  const code = readCode(cause) ?? "STEP_FAILED";
  const where = site.key === undefined ? "" : ` in stage "${site.key}"`;
  const item = site.itemIndex === undefined ? "" : ` (item ${site.itemIndex})`;
  return new StreamingError(`${cause.message}${where}${item}`, {
    code,
    retryable,
    cause: value instanceof StepError && !(value instanceof StreamingError) ? value : cause,
    ...site,
  });
}

/** The string `code` an error carries, if any. */
export function readCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" ? code : undefined;
}
