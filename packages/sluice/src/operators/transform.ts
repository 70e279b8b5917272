import type { Chunk, Lineage, Puller } from "../engine/chunk.js";
import type { StageRuntime } from "../engine/run-env.js";
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
    create: (upstream, rt) => new TransformStage(upstream, rt, step),
  };
}

class TransformStage implements Puller {
  private output: AsyncIterator<unknown> | undefined;
  private lastLin: Lineage | null = null;
  private inputValues: unknown[] = [];
  private inputLins: Chunk["lins"];
  private inputPos = 0;
  private inputDone = false;
  private pendingNext: Promise<unknown> | null = null;
  private closed = false;
  private cancelling: Promise<void> | undefined;

  constructor(
    private readonly upstream: Puller,
    private readonly rt: StageRuntime,
    private readonly step: StreamingStep<unknown, unknown, unknown, unknown>,
  ) {}

  async pull(_demand: number): Promise<Chunk | null> {
    const m = this.rt.metrics;
    m.start();
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
    if (this.closed) return null;
    if (r.done) {
      m.end();
      return null;
    }
    m.out++;
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
      this.rt.metrics.in += chunk.values.length;
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

  cancel(): Promise<void> {
    this.cancelling ??= (async () => {
      this.closed = true;
      this.rt.abort();
      this.rt.metrics.end("cancelled");
      // Closing upstream first ends the step's input, so a step waiting on it can finish.
      const upstreamClosed = this.upstream.cancel();
      const pending = this.pendingNext;
      if (pending !== null) await pending.then(noop, noop);
      try {
        await this.output?.return?.();
      } finally {
        await upstreamClosed;
      }
    })();
    return this.cancelling;
  }
}

function noop(): void {}
