import { abortableSleep } from "../engine/abortable-sleep.js";
import { now } from "../engine/chunk.js";
import {
  backoffDelay,
  isRetryable,
  type RetryOptions,
  withinRetryBudget,
} from "../errors/retry-policy.js";
import { stepTimer } from "./create-step.js";
import type { Step, StepContext, StepResult } from "./step.js";

// biome-ignore lint/suspicious/noExplicitAny: any step, for the loose implementation signature
type AnyStep = Step<any, any, any, any>;

/**
 * Chains steps left to right: `compose(a, b, c)` runs `a`, hands its output to `b`, then
 * `b`'s to `c`, and is one step from `a`'s input to `c`'s output. Left to right is the
 * order of the JavaScript ecosystem's `pipe` (RxJS, fp-ts, Effect, Node's `pipeline`) and of
 * the pipelines themselves, so a composition reads in the order it runs; for the
 * mathematical right-to-left order, reverse the arguments. Neighbours must fit: a step
 * whose input is not the previous step's output is a compile error.
 *
 * Every step sees the same `state`, `context`, signal and ids. The first failure ends the
 * composition with that step's error. Each step's own `retry` is applied to that step
 * alone (a failure late in the chain does not redo the earlier steps); the composed step
 * has no retry policy of its own. Up to 10 steps per call; nest calls for more.
 *
 * @example
 * ```ts
 * const trim = createStep<string, string>("trim", ({ input }) => input.trim());
 * const parse = createStep<string, number>("parse", ({ input }) => Number(input));
 * const double = createStep<number, number>("double", ({ input }) => input * 2);
 * const parseAndDouble: Step<string, number> = compose(trim, parse, double);
 * ```
 */
export function compose<A, B, S = {}, C = unknown>(s1: Step<A, B, S, C>): Step<A, B, S, C>;
/** Two steps, left to right. */
export function compose<A, B, R, S = {}, C = unknown>(
  s1: Step<A, B, S, C>,
  s2: Step<B, R, S, C>,
): Step<A, R, S, C>;
/** Three steps, left to right. */
export function compose<A, B, D, R, S = {}, C = unknown>(
  s1: Step<A, B, S, C>,
  s2: Step<B, D, S, C>,
  s3: Step<D, R, S, C>,
): Step<A, R, S, C>;
/** Four steps, left to right. */
export function compose<A, B, D, E, R, S = {}, C = unknown>(
  s1: Step<A, B, S, C>,
  s2: Step<B, D, S, C>,
  s3: Step<D, E, S, C>,
  s4: Step<E, R, S, C>,
): Step<A, R, S, C>;
/** Five steps, left to right. */
export function compose<A, B, D, E, F, R, S = {}, C = unknown>(
  s1: Step<A, B, S, C>,
  s2: Step<B, D, S, C>,
  s3: Step<D, E, S, C>,
  s4: Step<E, F, S, C>,
  s5: Step<F, R, S, C>,
): Step<A, R, S, C>;
/** Six steps, left to right. */
export function compose<A, B, D, E, F, G, R, S = {}, C = unknown>(
  s1: Step<A, B, S, C>,
  s2: Step<B, D, S, C>,
  s3: Step<D, E, S, C>,
  s4: Step<E, F, S, C>,
  s5: Step<F, G, S, C>,
  s6: Step<G, R, S, C>,
): Step<A, R, S, C>;
/** Seven steps, left to right. */
export function compose<A, B, D, E, F, G, H, R, S = {}, C = unknown>(
  s1: Step<A, B, S, C>,
  s2: Step<B, D, S, C>,
  s3: Step<D, E, S, C>,
  s4: Step<E, F, S, C>,
  s5: Step<F, G, S, C>,
  s6: Step<G, H, S, C>,
  s7: Step<H, R, S, C>,
): Step<A, R, S, C>;
/** Eight steps, left to right. */
export function compose<A, B, D, E, F, G, H, I, R, S = {}, C = unknown>(
  s1: Step<A, B, S, C>,
  s2: Step<B, D, S, C>,
  s3: Step<D, E, S, C>,
  s4: Step<E, F, S, C>,
  s5: Step<F, G, S, C>,
  s6: Step<G, H, S, C>,
  s7: Step<H, I, S, C>,
  s8: Step<I, R, S, C>,
): Step<A, R, S, C>;
/** Nine steps, left to right. */
export function compose<A, B, D, E, F, G, H, I, J, R, S = {}, C = unknown>(
  s1: Step<A, B, S, C>,
  s2: Step<B, D, S, C>,
  s3: Step<D, E, S, C>,
  s4: Step<E, F, S, C>,
  s5: Step<F, G, S, C>,
  s6: Step<G, H, S, C>,
  s7: Step<H, I, S, C>,
  s8: Step<I, J, S, C>,
  s9: Step<J, R, S, C>,
): Step<A, R, S, C>;
/** Ten steps, left to right. */
export function compose<A, B, D, E, F, G, H, I, J, K, R, S = {}, C = unknown>(
  s1: Step<A, B, S, C>,
  s2: Step<B, D, S, C>,
  s3: Step<D, E, S, C>,
  s4: Step<E, F, S, C>,
  s5: Step<F, G, S, C>,
  s6: Step<G, H, S, C>,
  s7: Step<H, I, S, C>,
  s8: Step<I, J, S, C>,
  s9: Step<J, K, S, C>,
  s10: Step<K, R, S, C>,
): Step<A, R, S, C>;
export function compose(...steps: AnyStep[]): AnyStep {
  if (steps.length === 0) throw new TypeError("compose: give at least one step");
  steps.forEach((s, i) => {
    if (typeof s !== "object" || s === null || typeof s.execute !== "function") {
      throw new TypeError(
        `compose: argument ${i} must be a step (see createStep), got ${typeof s}`,
      );
    }
  });
  const list = [...steps];
  const name = list.map((s) => s.name).join(" | ");
  const execute = async (
    ctx: StepContext<unknown, unknown, unknown>,
  ): Promise<StepResult<unknown>> => {
    const metadata = stepTimer(name, ctx);
    let input: unknown = ctx.input;
    for (const step of list) {
      const r = await runWithRetry(step, { ...ctx, input });
      if (!r.success) return { success: false, error: r.error, metadata: metadata() };
      input = r.data;
    }
    return { success: true, data: input, metadata: metadata() };
  };
  return { name, execute, retry: undefined };
}

/** One step with its own retry policy, its waits ending when the signal aborts. */
async function runWithRetry(
  step: AnyStep,
  ctx: StepContext<unknown, unknown, unknown>,
): Promise<StepResult<unknown>> {
  const retry: RetryOptions | undefined = step.retry;
  let firstFailure = 0;
  for (let attempt = 1; ; attempt++) {
    const r: StepResult<unknown> = await step.execute(ctx);
    if (r.success || retry === undefined || ctx.signal.aborted) return r;
    if (attempt === 1) firstFailure = now();
    if (!isRetryable(r.error, retry, attempt)) return r;
    const delay = backoffDelay(retry, attempt, r.error);
    if (!withinRetryBudget(retry, attempt, now() - firstFailure, delay)) return r;
    try {
      await abortableSleep(delay, ctx.signal);
    } catch {
      return r;
    }
  }
}
