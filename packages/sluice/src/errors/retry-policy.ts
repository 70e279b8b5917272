import { StepError } from "./step-error.js";
import { readCode, unwrapFailure } from "./to-error.js";

/**
 * How a failed call is retried: exponential backoff with full jitter and a cap.
 *
 * @example
 * ```ts
 * const retry: RetryOptions = { maxAttempts: 4, backoffMs: 200, maxBackoffMs: 5_000 };
 * ```
 */
export interface RetryOptions {
  /**
   * Total attempts including the first: a positive integer, or `Infinity` when
   * `maxElapsedMs` bounds the retries instead.
   */
  maxAttempts: number;
  /** Base delay; attempt n waits a random time in [0, min(maxBackoffMs, backoffMs·2^(n-1))]. */
  backoffMs: number;
  /** Cap on a single wait (default 30 000 ms). */
  maxBackoffMs?: number;
  /** Extra error codes to treat as retryable. */
  retryableErrors?: readonly string[];
  /** Overrides the built-in decision: return true to retry. Receives what your code threw. */
  retryIf?: (error: unknown, attempt: number) => boolean;
  /**
   * Time budget for retrying one item, counted from its first failure: a retry is made only
   * if it would start within this many milliseconds of it (the wait before it included).
   * Retries stop at whichever runs out first, `maxAttempts` or this budget, so a run held
   * back by a rate limit keeps going while it makes progress (`maxAttempts: Infinity`
   * with a budget retries for as long as the budget lasts). Default: no time budget.
   */
  maxElapsedMs?: number;
}

/**
 * Network error codes that are transient by nature.
 *
 * @example
 * ```ts
 * TRANSIENT_ERROR_CODES.has("ECONNRESET"); // true
 * ```
 */
export const TRANSIENT_ERROR_CODES: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "ETIMEDOUT",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EAI_AGAIN",
  "EPIPE",
  "ENETUNREACH",
  "ENETDOWN",
  "EHOSTUNREACH",
  "ENOTFOUND",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

const RETRYABLE_STATUS = new Set([408, 425, 429]);

/** Validates retry options, throwing a `RangeError` that names the option and where it was set. */
export function validateRetry(retry: RetryOptions | undefined, where: string): void {
  if (retry === undefined) return;
  if (typeof retry !== "object" || retry === null) {
    throw new TypeError(`${where}: retry must be an object, got ${typeof retry}`);
  }
  const budget = retry.maxElapsedMs;
  if (
    budget !== undefined &&
    (typeof budget !== "number" || !Number.isFinite(budget) || budget < 0)
  ) {
    throw new RangeError(
      `${where}: retry.maxElapsedMs must be a finite number ≥ 0, got ${String(budget)}`,
    );
  }
  const unbounded = retry.maxAttempts === Number.POSITIVE_INFINITY;
  if (unbounded && budget === undefined) {
    throw new RangeError(
      `${where}: retry.maxAttempts may be Infinity only with a retry.maxElapsedMs budget`,
    );
  }
  if (!unbounded && (!Number.isInteger(retry.maxAttempts) || retry.maxAttempts < 1)) {
    throw new RangeError(
      `${where}: retry.maxAttempts must be a positive integer (or Infinity with retry.maxElapsedMs), got ${String(retry.maxAttempts)}`,
    );
  }
  if (!Number.isFinite(retry.backoffMs) || retry.backoffMs < 0) {
    throw new RangeError(
      `${where}: retry.backoffMs must be a non-negative number, got ${String(retry.backoffMs)}`,
    );
  }
  if (
    retry.maxBackoffMs !== undefined &&
    (!Number.isFinite(retry.maxBackoffMs) || retry.maxBackoffMs < 0)
  ) {
    throw new RangeError(
      `${where}: retry.maxBackoffMs must be a non-negative number, got ${String(retry.maxBackoffMs)}`,
    );
  }
}

/**
 * Whether the policy allows another attempt after `attempts` attempts, `elapsedMs` after
 * the item's first failure, with `delayMs` to wait before it: both the attempt count and the
 * time budget must allow it.
 *
 * @example
 * ```ts
 * const retry: RetryOptions = { maxAttempts: Infinity, backoffMs: 100, maxElapsedMs: 60_000 };
 * withinRetryBudget(retry, 12, 59_000, 500); // true: starts 59.5 s after the first failure
 * withinRetryBudget(retry, 12, 59_800, 500); // false: would start past the budget
 * ```
 */
export function withinRetryBudget(
  retry: RetryOptions,
  attempts: number,
  elapsedMs: number,
  delayMs: number,
): boolean {
  if (attempts >= retry.maxAttempts) return false;
  return retry.maxElapsedMs === undefined || elapsedMs + delayMs <= retry.maxElapsedMs;
}

/** The HTTP status an error carries (`status`, `statusCode` or `response.status`), if any. */
export function readStatus(error: object): number | undefined {
  const e = error as { status?: unknown; statusCode?: unknown; response?: { status?: unknown } };
  const status = e.status ?? e.statusCode ?? e.response?.status;
  return typeof status === "number" ? status : undefined;
}

/**
 * Whether an error is worth retrying: it says so (`retryable: true`), its code is a transient
 * network code or listed in `retryableErrors`, or its HTTP status is 408, 425, 429 or 5xx.
 * An explicit `retryable: false` wins over everything but `retryIf`, except on a `StepError`,
 * whose cause is consulted too.
 *
 * @example
 * ```ts
 * isRetryable(Object.assign(new Error("reset"), { code: "ECONNRESET" })); // true
 * isRetryable({ status: 503 }); // true
 * isRetryable(new Error("bad input")); // false
 * const busy = Object.assign(new Error("busy"), { code: "SQLITE_BUSY" });
 * isRetryable(busy, { maxAttempts: 3, backoffMs: 50, retryableErrors: ["SQLITE_BUSY"] }); // true
 * ```
 */
export function isRetryable(error: unknown, retry?: RetryOptions, attempt = 1): boolean {
  if (retry?.retryIf) return retry.retryIf(unwrapFailure(error), attempt);
  if (typeof error !== "object" || error === null) return false;
  // A StepError wraps the real failure; its flag was decided without this policy's codes.
  if (error instanceof StepError && error.cause !== undefined && error.cause !== error) {
    return error.retryable || isRetryable(error.cause, retry, attempt);
  }
  const flag = (error as { retryable?: unknown }).retryable;
  if (flag === true) return true;
  if (flag === false) return false;
  const code = readCode(error);
  if (
    code !== undefined &&
    (TRANSIENT_ERROR_CODES.has(code) || retry?.retryableErrors?.includes(code))
  ) {
    return true;
  }
  const status = readStatus(error);
  if (status !== undefined && (RETRYABLE_STATUS.has(status) || (status >= 500 && status < 600))) {
    return true;
  }
  const cause = (error as { cause?: unknown }).cause;
  return cause !== undefined && cause !== error ? isRetryable(cause, retry, attempt) : false;
}

/**
 * The server's requested wait, from `retryAfterMs` or a Retry-After value (seconds or an
 * HTTP date) on the error or its `headers`; undefined when it gave none.
 *
 * @example
 * ```ts
 * retryAfterMs({ headers: new Headers({ "retry-after": "3" }) }); // 3000
 * retryAfterMs({ retryAfterMs: 250 }); // 250
 * retryAfterMs(new Error("no hint")); // undefined
 * ```
 */
export function retryAfterMs(error: unknown, now = Date.now()): number | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const e = error as {
    retryAfterMs?: unknown;
    retryAfter?: unknown;
    headers?: unknown;
    cause?: unknown;
  };
  if (typeof e.retryAfterMs === "number" && e.retryAfterMs >= 0) return e.retryAfterMs;
  const raw = e.retryAfter ?? readHeader(e.headers, "retry-after");
  const parsed = parseRetryAfter(raw, now);
  if (parsed !== undefined) return parsed;
  return e.cause !== undefined && e.cause !== error ? retryAfterMs(e.cause, now) : undefined;
}

function readHeader(headers: unknown, name: string): unknown {
  if (typeof headers !== "object" || headers === null) return undefined;
  const h = headers as { get?: (n: string) => unknown } & Record<string, unknown>;
  if (typeof h.get === "function") return h.get(name);
  return h[name] ?? h[name.toLowerCase()];
}

function parseRetryAfter(raw: unknown, now: number): number | undefined {
  if (typeof raw === "number") return raw >= 0 ? raw * 1000 : undefined;
  if (typeof raw !== "string" || raw.trim() === "") return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Delay before attempt `attempt + 1` (1-based `attempt` just failed): full jitter over the
 * capped exponential, or the server's Retry-After when the error carries one (also capped).
 *
 * @example
 * ```ts
 * const retry: RetryOptions = { maxAttempts: 5, backoffMs: 100 };
 * backoffDelay(retry, 3, new Error("timeout"), () => 0.5); // 200: half of 100·2²
 * backoffDelay(retry, 1, { retryAfter: "2" }); // 2000: the server asked for 2 s
 * ```
 */
export function backoffDelay(
  retry: RetryOptions,
  attempt: number,
  error: unknown,
  random: () => number = Math.random,
): number {
  const cap = retry.maxBackoffMs ?? 30_000;
  const requested = retryAfterMs(error);
  if (requested !== undefined) return Math.min(requested, Math.max(cap, retry.backoffMs));
  const exponential = Math.min(cap, retry.backoffMs * 2 ** (attempt - 1));
  return random() * exponential;
}
