/**
 * Waits `ms` milliseconds; rejects with the signal's reason as soon as it aborts, clearing
 * the timer so that nothing is left scheduled. The wait the retry policy uses.
 *
 * @example
 * ```ts
 * await abortableSleep(backoffDelay(retry, attempt, error), ctx.signal);
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
