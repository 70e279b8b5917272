import type { StreamingRun } from "sluice";

/**
 * Runs a workflow's streaming pipeline to its end, its outputs unused (the store stage does
 * the work): failures routed to `run.errors` (SPLIT_ERRORS) go to `onError` as they come, and
 * when the session stopped the run for a failure every later item would meet too (its
 * `fatal`), that failure is what this throws, not the abort it caused.
 */
export async function drainRun(
  run: StreamingRun<unknown>,
  session: { readonly fatal: Error | undefined },
  onError: (error: unknown, stageKey: string) => void,
): Promise<void> {
  const errors = (async () => {
    for await (const record of run.errors) onError(record.error, record.key);
  })();
  try {
    for await (const _ of run) {
      // Stored counts and commits happen in the store stage.
    }
  } catch (error) {
    throw session.fatal ?? error;
  } finally {
    await errors;
  }
  if (session.fatal) throw session.fatal;
}
