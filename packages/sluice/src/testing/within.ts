/**
 * Test helper: `p`, or a rejection naming `what` when it has not settled within `boundMs`,
 * so that a hang fails its test with a message instead of timing out the suite.
 */
export async function within<T>(p: Promise<T>, what: string, boundMs: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not settle within ${boundMs} ms`)),
      boundMs,
    );
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
