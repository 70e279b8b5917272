import type { ItemContext } from "../engine/item-context.js";
import type { Step } from "./step.js";

/**
 * Runs a step on one item inside an item stage: the stage's retry and error strategy see
 * the step's failure as a thrown `StepError` carrying its code, `retryable` and cause.
 */
export async function runStep(
  step: Step<unknown, unknown, unknown, unknown>,
  item: unknown,
  ctx: ItemContext,
): Promise<unknown> {
  const r = await step.execute({
    input: item,
    state: ctx.state,
    context: ctx.context,
    signal: ctx.signal,
    traceId: ctx.traceId,
    spanId: ctx.spanId,
  });
  if (r.success) return r.data;
  throw r.error;
}
