import { StepError } from "../errors/step-error.js";
import { wrapFailure } from "../errors/to-error.js";
import type { StageMetrics } from "../metrics/stage-metrics.js";
import { type Chunk, now, type Puller } from "./chunk.js";
import { keepShape } from "./shapes.js";

/**
 * Wraps every stage and the source: the one place that keeps a stage's lifecycle and flow
 * figures. It marks the stage started at its first pull and ended when it returns null
 * (completed), throws (failed) or is stopped (cancelled); it counts what the stage hands
 * downstream (the stage's `out`, the downstream stage's `in`); it reports an error the
 * stage throws to the run at once (a stage busy downstream would otherwise only see it at
 * its next pull). With metrics on, it also measures the stage from the outside, per chunk:
 * time waiting on upstream (charged to the stage that asked), time blocked until downstream
 * asks again, time to first output, and busy time for stages that do not count it from
 * their in-flight items.
 */
export class MeteredPuller implements Puller {
  private lastReturn = 0;
  private started = false;
  /** When the pending timed pull started, and the first stage's upstream wait by then. */
  private pullStart = 0;
  private waitedBefore = 0;
  /** How long the last timed pull took: the run sizes its chunks by it without its own clock. */
  lastPullMs = 0;
  /**
   * The first and last of `own`, kept apart: the source owns no stage, and reading index -1
   * of an empty array is a slow lookup through the prototype chain, on every pull.
   */
  private readonly first: StageMetrics | undefined;
  private readonly last: StageMetrics | undefined;

  constructor(
    private readonly inner: Puller,
    /** The stages this puller runs (one, or a fused group; none for the source). */
    private readonly own: readonly StageMetrics[],
    /** The stage that pulls from this one. */
    private readonly downstream: StageMetrics | undefined,
    /** Whether to read clocks (metrics on). */
    readonly timed: boolean,
    /** Told about an error a stage throws, so the whole run stops at once. */
    private readonly onFatal: (error: unknown) => void,
    private readonly traceId: string,
  ) {
    this.first = own.length > 0 ? own[0] : undefined;
    this.last = own.length > 0 ? own[own.length - 1] : undefined;
  }

  pull(demand: number): Promise<Chunk | null> {
    // Plain reactions rather than an async wrapper, which would add a promise and a
    // microtask hop to every pull (a parallel stage's consumer pulls once per completion).
    return this.pullInner(demand).then(this.settled, this.rethrow);
  }

  /**
   * `pull` in two halves, for the run's loop, which awaits the inner pull itself and so
   * saves the reaction's promise and microtask hop per pull: this starts the pull, and the
   * caller hands what it settles with to `pulled` or `pullFailed`.
   */
  pullInner(demand: number): Promise<Chunk | null> {
    if (!this.started) this.start();
    if (this.timed) {
      const t = now();
      this.chargeBlocked(t);
      // Pulls never overlap: the start lives in fields.
      this.pullStart = t;
      this.waitedBefore = this.waitedSoFar();
    }
    return this.inner.pull(demand);
  }

  /** Records a chunk `pullInner`'s promise resolved with, and returns it. */
  pulled(chunk: Chunk | null): Chunk | null {
    if (this.timed) this.after(this.pullStart, this.waitedBefore, chunk);
    return this.count(chunk);
  }

  /** Ends the stage as failed for an error `pullInner`'s promise rejected with: what to throw. */
  pullFailed(error: unknown): unknown {
    return this.failed(error);
  }

  pullNow(demand: number): Chunk | null | undefined {
    const inner = this.inner;
    if (inner.pullNow === undefined) return undefined;
    if (!this.started) this.start();
    const timed = this.timed;
    const t = timed ? now() : 0;
    const waitedBefore = timed ? this.waitedSoFar() : 0;
    let chunk: Chunk | null | undefined;
    try {
      chunk = inner.pullNow(demand);
    } catch (error) {
      throw this.failed(error);
    }
    // Nothing is charged when the inner puller could not answer: the `pull` that follows
    // measures the same interval.
    if (chunk === undefined) return chunk;
    if (timed) {
      this.chargeBlocked(t);
      this.after(t, waitedBefore, chunk);
    }
    return this.count(chunk);
  }

  stop(): void {
    for (const m of this.own) m.end("cancelled");
    this.inner.stop();
  }

  cancel(): Promise<void> {
    this.stop();
    return this.inner.cancel();
  }

  private start(): void {
    this.started = true;
    for (const m of this.own) m.start();
  }

  // Reactions are prototype methods bound per instance, not arrow fields: V8 keeps the
  // optimized code of a method alive with the method, but an arrow's only while some
  // closure from it lives, so a full GC between runs would send it back to the interpreter.
  private readonly settled = this.pulled.bind(this);
  private readonly rethrow = this.onRejected.bind(this);

  /** Counts a chunk out of the stage and into the next; null ends the stage as completed. */
  private count(chunk: Chunk | null): Chunk | null {
    if (chunk === null) {
      for (const m of this.own) m.end();
      return chunk;
    }
    const n = chunk.values.length;
    const last = this.last;
    if (last !== undefined) last.out += n;
    if (this.downstream !== undefined) this.downstream.in += n;
    return chunk;
  }

  private onRejected(error: unknown): never {
    throw this.failed(error);
  }

  /** Charges the time since the last chunk left to the last stage's downstream blocking. */
  private chargeBlocked(t: number): void {
    const last = this.last;
    if (last !== undefined && this.lastReturn !== 0)
      last.blockedDownstreamMs += t - this.lastReturn;
  }

  /** The first stage's upstream wait so far, to tell its busy time from its waiting. */
  private waitedSoFar(): number {
    return this.first?.waitingUpstreamMs ?? 0;
  }

  private after(t: number, waitedBefore: number, chunk: Chunk | null): void {
    const t2 = now();
    this.lastReturn = t2;
    this.lastPullMs = t2 - t;
    if (this.downstream !== undefined) this.downstream.waitingUpstreamMs += t2 - t;
    const first = this.first;
    if (first !== undefined && !first.busyFromInFlight) {
      const busy = t2 - t - (first.waitingUpstreamMs - waitedBefore);
      for (const m of this.own) m.busyMs += busy;
    }
    if (chunk !== null) this.last?.firstOutput();
  }

  /**
   * An error from a stage that is not already a `StepError` (a source that threw, a
   * streaming step, a predicate or `weigh`) gets the stage's key and a code, its original
   * kept as the cause, so every error out of a run is a `StreamingError`.
   */
  private failed(error: unknown): unknown {
    for (const m of this.own) m.end("failed");
    const last = this.last;
    const wrapped =
      error instanceof StepError
        ? error
        : wrapFailure(error, { key: last?.key ?? "source", traceId: this.traceId }, false);
    this.onFatal(wrapped);
    return wrapped;
  }
}

keepShape(
  new MeteredPuller(
    {
      pull: () => new Promise<never>(() => {}),
      stop: () => {},
      cancel: () => Promise.resolve(),
    },
    [],
    undefined,
    false,
    () => {},
    "",
  ),
);
