import type { Chunk, Puller } from "./chunk.js";
import type { StageRuntime } from "./run-env.js";

const resolved = Promise.resolve();

/**
 * The base of every stage: the one owner of stopping and cancelling, so that an operator
 * only writes `pull` (its next chunk) and, when it has them, the hooks below.
 *
 * The stop is synchronous and runs upstream at once (every stage's calls see their signal
 * abort in the same turn), while `cancel()` then waits for in-flight work to settle. Metrics
 * (start, end, in, out, timings of pulls) are the metering wrapper's, not the stage's.
 */
export abstract class Stage implements Puller {
  /** Set at the stop: from then on the stage starts no call and hands on nothing. */
  protected closed = false;
  private cancelling: Promise<void> | undefined;

  constructor(
    protected readonly upstream: Puller,
    /** The runtimes of the stages this puller runs: one, or a fused group's. */
    protected readonly runtimes: readonly StageRuntime[],
  ) {}

  /** The next non-empty chunk, or null at the end (see {@link Puller.pull}). */
  abstract pull(demand: number): Promise<Chunk | null>;

  stop(): void {
    if (this.closed) return;
    this.closed = true;
    for (const rt of this.runtimes) rt.abort();
    this.onStop();
    this.upstream.stop();
  }

  cancel(): Promise<void> {
    this.stop();
    this.cancelling ??= this.drain();
    return this.cancelling;
  }

  /** Called once at the stop: wake a waiting pull, clear timers. */
  protected onStop(): void {}

  /** What to wait for before the stage counts as settled: its in-flight calls. */
  protected settled(): Promise<unknown> | undefined {
    return undefined;
  }

  /** Called once everything in flight settled: drop what the stage still holds. */
  protected release(): void {}

  private async drain(): Promise<void> {
    try {
      // One tick first: a stop raised from inside this stage's own synchronous work (a
      // user call that aborts the run's signal) arrives before that work is recorded.
      await resolved;
      await this.settled()?.then(noop, noop);
      this.release();
    } finally {
      await this.upstream.cancel();
    }
  }
}

/** A stage that waits for its own pull: what settles when the awaited call settles. */
export abstract class PullingStage extends Stage {
  private active: Promise<unknown> | undefined;

  pull(demand: number): Promise<Chunk | null> {
    const p = this.produce(demand);
    this.active = p;
    return p;
  }

  /** The next non-empty chunk or null; never called again while one is pending. */
  protected abstract produce(demand: number): Promise<Chunk | null>;

  protected override settled(): Promise<unknown> | undefined {
    return this.active;
  }
}

function noop(): void {}
