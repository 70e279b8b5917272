import { type Chunk, isThenable, type Lineage, newChunk, now, type Puller } from "./chunk.js";
import { emitOne } from "./emit.js";
import type { ItemContextImpl } from "./item-context.js";
import { type ItemOp, ItemRecovery, SKIPPED } from "./item-worker.js";
import { idleRuntime, type StageRuntime } from "./run-env.js";
import { idleItemOp, idlePuller, keepShape } from "./shapes.js";
import { Stage } from "./stage.js";

/** Concurrency settings of a parallel item stage. */
export interface ParallelSettings {
  /** Most items whose function runs at once. */
  concurrency: number;
  /** Deliver in input order (true) or completion order (false). */
  ordered: boolean;
  /** Extra finished-but-undelivered items allowed beyond `concurrency`. */
  buffer: number;
}

interface Waiter {
  resolve: (chunk: Chunk | null) => void;
  reject: (error: unknown) => void;
}

const resolved = Promise.resolve();

/** A finished item waiting for delivery: its input, lineage and result. */
interface Done {
  item: unknown;
  lin: Lineage | null;
  value: unknown;
}

/** An item whose failure was absorbed, or whose stage stopped: it delivers nothing. */
type Settled = Done | typeof SKIPPED;

/**
 * A per-item stage with up to `concurrency` items in flight, ordered or not.
 *
 * Memory bound: items taken from upstream and not yet delivered (waiting to start, in
 * flight, finished and waiting for their turn, or handed downstream in a chunk not yet
 * consumed) never exceed `concurrency + buffer`, plus the excess of one upstream chunk when
 * an upstream flatMap expanded past the demand. A chunk handed downstream is paid back only
 * when downstream asks again.
 * A slow head item in ordered mode therefore stalls intake instead of growing a queue.
 * Completion wakes a single waiter: there is no `Promise.race` over the in-flight set.
 */
export class ParallelItemStage extends Stage {
  private vals: unknown[] = [];
  private lins: (Lineage | null)[] | undefined;
  private pos = 0;
  private nextIndex = 0;
  private deliverIndex = 0;
  private readonly finished = new Map<number, Settled>();
  private queue: Done[] = [];
  private readyCount = 0;
  /** Input items of the last chunk handed downstream: theirs until downstream asks again. */
  private outstanding = 0;
  /** Items whose function (or its retries) has not settled yet. */
  private running = 0;
  private upstreamDone = false;
  private pulling = false;
  private failure: { error: unknown } | null = null;
  /** The pending `pull`, settled by the completion or upstream chunk that answers it. */
  private waiter: Waiter | null = null;
  /** Resolves `cancel()`'s wait once the last running item settles. */
  private drained: (() => void) | null = null;
  private readonly limit: number;
  private readonly recovery: ItemRecovery;

  constructor(
    upstream: Puller,
    private readonly rt: StageRuntime,
    private readonly op: ItemOp,
    private readonly settings: ParallelSettings,
  ) {
    super(upstream, [rt]);
    this.recovery = new ItemRecovery(rt, op);
    this.limit = settings.concurrency + settings.buffer;
    rt.metrics.busyFromInFlight = true;
    rt.metrics.buffered = () => this.readyCount + Math.max(0, this.vals.length - this.pos);
  }

  pull(_demand: number): Promise<Chunk | null> {
    this.outstanding = 0;
    // Not an async function: a completion settles the waiting pull directly, without the
    // extra promise and microtask hops of an await loop.
    let answer: Chunk | null | undefined;
    try {
      answer = this.poll();
    } catch (error) {
      return Promise.reject(error);
    }
    if (answer !== undefined) return Promise.resolve(answer);
    return new Promise<Chunk | null>((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  protected override onStop(): void {
    this.notify();
  }

  protected override settled(): Promise<void> | undefined {
    if (this.running === 0) return undefined;
    return new Promise<void>((resolve) => {
      this.drained = resolve;
    });
  }

  protected override release(): void {
    this.finished.clear();
    this.queue = [];
    this.vals = [];
  }

  /** What a pull can answer now: a chunk, null at the end, undefined to wait; throws a failure. */
  private poll(): Chunk | null | undefined {
    this.throwIfFailed();
    if (this.closed) return null;
    const out = this.takeReady();
    // No refill after a chunk: it is still downstream's to deliver, and counts against
    // the bound until downstream asks again.
    if (out !== null) return out;
    this.pump(); // may fail the stage: an upstream that throws when read in place
    this.throwIfFailed();
    if (this.upstreamDone && this.running === 0 && this.pos >= this.vals.length) return null;
    return undefined;
  }

  private throwIfFailed(): void {
    if (this.failure !== null) throw this.failure.error;
  }

  /** Answers the pending pull if there is now something to answer it with. */
  private notify(): void {
    const waiter = this.waiter;
    if (waiter === null) return;
    // Cleared first: poll may fail the stage, which notifies again.
    this.waiter = null;
    let answer: Chunk | null | undefined;
    try {
      answer = this.poll();
    } catch (error) {
      waiter.reject(error);
      return;
    }
    if (answer === undefined) this.waiter = waiter;
    else waiter.resolve(answer);
  }

  /** Starts what the bounds allow and asks upstream for more when the input runs dry. */
  private pump(): void {
    if (this.closed || this.failure !== null) return;
    const { concurrency } = this.settings;
    for (;;) {
      // `closed` again: a call can stop the run (by aborting its signal) as it starts.
      while (
        !this.closed &&
        this.pos < this.vals.length &&
        this.running < concurrency &&
        this.running + this.readyCount + this.outstanding < this.limit
      ) {
        this.startOne();
      }
      if (this.closed || this.pos < this.vals.length || this.upstreamDone || this.pulling) return;
      const room = this.limit - this.running - this.readyCount - this.outstanding;
      if (room <= 0) return;
      // A source that can answer at once (an array, a sync iterable) is read in place.
      let chunk: Chunk | null | undefined;
      try {
        chunk = this.upstream.pullNow?.(room);
      } catch (error) {
        this.upstreamDone = true;
        this.failWith(error);
        return;
      }
      if (chunk === undefined) {
        this.fetch(room);
        return;
      }
      this.accept(chunk);
    }
  }

  private fetch(room: number): void {
    this.pulling = true;
    this.upstream.pull(room).then(
      (chunk) => {
        this.pulling = false;
        this.accept(chunk);
        this.pump();
        this.notify();
      },
      (error: unknown) => {
        this.pulling = false;
        this.upstreamDone = true;
        this.failWith(error);
      },
    );
  }

  private accept(chunk: Chunk | null): void {
    if (chunk === null) this.upstreamDone = true;
    else if (!this.closed) {
      this.vals = chunk.values;
      this.lins = chunk.lins;
      this.pos = 0;
    }
  }

  private startOne(): void {
    const i = this.pos++;
    const item = this.vals[i];
    // The chunk array would otherwise pin items that already left for downstream.
    this.vals[i] = undefined;
    const lin = this.lins === undefined ? null : (this.lins[i] ?? null);
    const index = this.nextIndex++;
    const m = this.rt.metrics;
    this.running++;
    m.enter();
    const t0 = m.timed ? now() : 0;
    const ctx = this.recovery.ctx(index, 1, lin);
    let value: unknown;
    try {
      value = this.op.invoke(item, ctx);
    } catch (error) {
      ctx?.release();
      this.recoverOne(item, index, lin, t0, error).then((d) => this.complete(index, d));
      return;
    }
    if (!isThenable(value)) {
      ctx?.release();
      // Settled a microtask later, like an async result: settling now would re-enter pump.
      const d = this.succeeded(item, lin, value, index, t0);
      resolved.then(() => this.complete(index, d));
      return;
    }
    void this.track(value, item, index, lin, t0, ctx);
  }

  /**
   * Completes an item once its function's promise settles. A method rather than reaction
   * closures made per item: V8 holds a closure's optimized code only through live closures,
   * so after a full GC between runs every per-item closure (and the completion path inlined
   * into it) ran unoptimized again and was recompiled, each run. Never rejects.
   */
  private async track(
    value: PromiseLike<unknown>,
    item: unknown,
    index: number,
    lin: Lineage | null,
    t0: number,
    ctx: ItemContextImpl | undefined,
  ): Promise<void> {
    let v: unknown;
    try {
      v = await value;
    } catch (error) {
      ctx?.release();
      this.complete(index, await this.recoverOne(item, index, lin, t0, error));
      return;
    }
    ctx?.release();
    this.complete(index, this.succeeded(item, lin, v, index, t0));
  }

  /** One item settled: its slot frees, and `cancel()` stops waiting after the last. */
  private complete(index: number, done: Settled): void {
    this.running--;
    this.rt.metrics.leave();
    this.settle(index, done);
    if (this.running === 0 && this.drained !== null) this.drained();
  }

  private succeeded(
    item: unknown,
    lin: Lineage | null,
    value: unknown,
    index: number,
    t0: number,
  ): Done {
    const rt = this.rt;
    rt.metrics.succeeded++;
    if (rt.metrics.timed) rt.itemDone(index, now() - t0, lin);
    return { item, lin, value };
  }

  /** Retry and error strategy for a failed item; never rejects (FAIL_FAST fails the stage). */
  private async recoverOne(
    item: unknown,
    index: number,
    lin: Lineage | null,
    t0: number,
    error: unknown,
  ): Promise<Settled> {
    if (this.closed) return SKIPPED;
    try {
      const recovered = await this.recovery.recover(item, index, lin, error);
      if (this.rt.metrics.timed) this.rt.itemDone(index, now() - t0, lin);
      return recovered === SKIPPED ? SKIPPED : { item, lin, value: recovered.value };
    } catch (fatal) {
      this.failWith(fatal);
      return SKIPPED;
    }
  }

  private settle(index: number, done: Settled): void {
    if (!this.closed && this.failure === null) {
      if (this.settings.ordered) {
        this.finished.set(index, done);
        this.readyCount++;
      } else if (done !== SKIPPED) {
        this.queue.push(done);
        this.readyCount++;
      }
    }
    this.pump();
    this.notify();
  }

  /** FAIL_FAST: no new item starts, and the items in flight see their signal abort. */
  private failWith(error: unknown): void {
    if (this.failure === null) {
      this.failure = { error };
      this.rt.abort(error);
      this.rt.fail(error);
    }
    this.notify();
  }

  private takeReady(): Chunk | null {
    if (this.readyCount === 0) return null;
    const { mode } = this.op;
    const key = this.rt.key;
    const acks = this.rt.env.acks;
    const out = newChunk(this.rt.track);
    if (this.settings.ordered) {
      for (;;) {
        const done = this.finished.get(this.deliverIndex);
        if (done === undefined) break;
        this.finished.delete(this.deliverIndex++);
        this.readyCount--;
        if (
          done !== SKIPPED &&
          emitOne(mode, key, done.item, done.value, done.lin, out, acks) > 0
        ) {
          this.outstanding++;
        }
      }
    } else {
      for (const done of this.queue) {
        if (emitOne(mode, key, done.item, done.value, done.lin, out, acks) > 0) this.outstanding++;
      }
      this.queue = [];
      this.readyCount = 0;
    }
    return out.values.length > 0 ? out : null;
  }
}

keepShape(
  new ParallelItemStage(idlePuller, idleRuntime(), idleItemOp, {
    concurrency: 1,
    ordered: true,
    buffer: 0,
  }),
);
