import { StepError } from "../errors/step-error.js";

/**
 * An attempt that ran past its stage's `timeoutMs`: code `TIMEOUT`, retryable, so the
 * stage's retry policy tries the item again.
 *
 * @example
 * ```ts
 * const result = await batchPipeline.execute(rows);
 * if (!result.success && result.error.code === "TIMEOUT") console.warn("an attempt timed out");
 * const timedOut = (e: unknown) => e instanceof CallTimeoutError;
 * ```
 */
export class CallTimeoutError extends StepError {
  /** Always `"CallTimeoutError"`. */
  override name = "CallTimeoutError";
  constructor(
    /** The limit that ran out, in milliseconds. */
    readonly timeoutMs: number,
  ) {
    super(`Call timed out after ${timeoutMs} ms`, { code: "TIMEOUT", retryable: true });
  }
}

/**
 * Runs `fn` with a signal of its own that aborts when `parent` does or when `timeoutMs`
 * passes. On expiry the promise rejects with a {@link CallTimeoutError} at once, whether or
 * not `fn` heeds its signal: a late result is ignored and a late failure swallowed. The
 * timer and the listener on `parent` are removed on every path.
 */
export function callWithTimeout(
  fn: (signal: AbortSignal) => unknown,
  timeoutMs: number,
  parent: AbortSignal,
): Promise<unknown> {
  const controller = new AbortController();
  if (parent.aborted) controller.abort(parent.reason);
  const onParent = () => controller.abort(parent.reason);
  parent.addEventListener("abort", onParent, { once: true });
  return new Promise<unknown>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      parent.removeEventListener("abort", onParent);
      const error = new CallTimeoutError(timeoutMs);
      controller.abort(error);
      reject(error);
    }, timeoutMs);
    const finish = () => {
      done = true;
      clearTimeout(timer);
      parent.removeEventListener("abort", onParent);
    };
    let result: unknown;
    try {
      result = fn(controller.signal);
    } catch (error) {
      finish();
      reject(error);
      return;
    }
    Promise.resolve(result).then(
      (value) => {
        if (done) return;
        finish();
        resolve(value);
      },
      (error: unknown) => {
        if (done) return;
        finish();
        reject(error);
      },
    );
  });
}
