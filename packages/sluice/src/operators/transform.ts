import type { Chunk, Lineage, Puller } from "../engine/chunk.js";
import type { StageRuntime } from "../engine/run-env.js";
import { Stage } from "../engine/stage.js";
import type { StageSpec } from "../engine/stage-spec.js";
import type { StreamingStep } from "../steps/streaming-step.js";

/**
 * Runs a streaming step over the stage's input. Lineage: each output inherits the lineage
 * of the input item the step pulled last before yielding it. That is exact for steps that
 * yield before pulling again (1:1, filters, expansions); for steps that buffer (N:1,
 * reordering) earlier keys describe the most recently pulled input.
 */
export function transformStage(
  key: string,
  step: StreamingStep<unknown, unknown, unknown, unknown>,
): StageSpec {
  return {
    key,
    kind: "transform",
    stepName: step.name,
    readsState: false,
    untraced: true,
    create: (upstream, rt) => new TransformStage(upstream, rt, step),
  };
}

class TransformStage extends Stage {
  private output: AsyncIterator<unknown> | undefined;
  private lastLin: Lineage | null = null;
  private inputValues: unknown[] = [];
  private inputLins: Chunk["lins"];
  private inputPos = 0;
  private inputDone = false;
  private pendingNext: Promise<unknown> | null = null;

  constructor(
    upstream: Puller,
    private readonly rt: StageRuntime,
    private readonly step: StreamingStep<unknown, unknown, unknown, unknown>,
  ) {
    super(upstream, [rt]);
  }

  async pull(_demand: number): Promise<Chunk | null> {
    if (this.closed) return null;
    this.output ??= this.start();
    const next = this.output.next();
    this.pendingNext = next;
    let r: IteratorResult<unknown>;
    try {
      r = await next;
    } finally {
      this.pendingNext = null;
    }
    if (this.closed || r.done) return null;
    const lins = this.rt.track
      ? [{ key: this.rt.key, value: r.value, up: this.lastLin }]
      : undefined;
    return { values: [r.value], lins };
  }

  private start(): AsyncIterator<unknown> {
    const { rt } = this;
    const input: AsyncIterable<unknown> = {
      [Symbol.asyncIterator]: () => ({
        next: () => this.nextInput(),
        return: () => this.stopInput(),
      }),
    };
    const iterable = this.step.transform({
      input,
      state: rt.stateOf(null),
      context: rt.env.context,
      signal: rt.signal,
      traceId: rt.env.traceId,
      spanId: rt.metrics.spanId,
    });
    return iterable[Symbol.asyncIterator]();
  }

  private async nextInput(): Promise<IteratorResult<unknown>> {
    while (this.inputPos >= this.inputValues.length) {
      if (this.inputDone || this.closed) return { value: undefined, done: true };
      const chunk = await this.upstream.pull(64);
      if (chunk === null) {
        this.inputDone = true;
        return { value: undefined, done: true };
      }
      this.inputValues = chunk.values;
      this.inputLins = chunk.lins;
      this.inputPos = 0;
    }
    const i = this.inputPos++;
    this.lastLin = this.inputLins?.[i] ?? null;
    return { value: this.inputValues[i], done: false };
  }

  private async stopInput(): Promise<IteratorResult<unknown>> {
    // The step stopped reading (break / return): upstream can stop too.
    this.inputDone = true;
    await this.upstream.cancel();
    return { value: undefined, done: true };
  }

  /**
   * The step's pending `next()` (upstream is stopped too, which ends the step's input, so a
   * step waiting on it finishes), then the step's own `return()`, so its `finally` runs.
   */
  protected override async settled(): Promise<void> {
    const pending = this.pendingNext;
    if (pending !== null) await pending.then(noop, noop);
    await this.output?.return?.();
  }
}

function noop(): void {}
