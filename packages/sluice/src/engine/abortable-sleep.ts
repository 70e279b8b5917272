/**
 * Waits `ms` milliseconds; rejects with the signal's reason as soon as it aborts, clearing
 * the timer so that nothing is left scheduled. The wait the retry policy uses.
 *
 * @example
 * ```ts
 * // A hand-written retry loop whose waits end as soon as the signal aborts.
 * const retry: RetryOptions = { maxAttempts: 5, backoffMs: 100 };
 * for (let attempt = 1; ; attempt++) {
 *   try {
 *     await send("payload", { signal });
 *     break;
 *   } catch (error) {
 *     if (attempt === retry.maxAttempts || !isRetryable(error, retry)) throw error;
 *     await abortableSleep(backoffDelay(retry, attempt, error), signal);
 *   }
 * }
 * ```
 */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
