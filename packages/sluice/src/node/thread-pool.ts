/**
 * A pool of worker threads that runs one exported function of a module, so that CPU-heavy
 * per-item work (parsing, tokenizing) uses more than one core. `pool.task` is an ordinary
 * async item function: in a parallel stage it inherits the stage's ordering, backpressure,
 * retry and error strategies, and the stage's concurrency bounds what the pool holds.
 */
import { availableParallelism } from "node:os";
import { isAbsolute } from "node:path";
import { pathToFileURL } from "node:url";
import { type TransferListItem, Worker } from "node:worker_threads";
import {
  BOOTSTRAP,
  type BootstrapData,
  type CallMessage,
  type EncodedThrown,
  TRANSFER_KEY,
  type WorkerMessage,
} from "./thread-bootstrap.js";

/**
 * Any function of one argument that a worker can call: its parameter type is the pool's input
 * type, its (awaited) return type the pool's output type.
 *
 * @example
 * ```ts
 * const tokenize = (text: string) => text.split(/\s+/);
 * const fits: ThreadTask = tokenize;
 * ```
 */
export type ThreadTask = (input: never) => unknown;

/**
 * Why the pool itself failed a call (a task's own error is passed on as it was thrown):
 * - `THREAD_TIMEOUT`: the call ran past `timeoutMs`; its worker was terminated;
 * - `THREAD_OUT_OF_MEMORY`: the worker ran out of its `maxHeapMb` heap;
 * - `THREAD_START_FAILED`: a worker could not load the module, or the export is missing or not
 *   a function; everything waiting is rejected and the pool stays failed;
 * - `THREAD_EXITED`: the worker died otherwise (`process.exit` in the task, an uncaught error
 *   outside the call);
 * - `THREAD_POOL_CLOSED`: the pool was closed before the call finished.
 *
 * @example
 * ```ts
 * const code: ThreadPoolErrorCode = "THREAD_TIMEOUT";
 * ```
 */
export type ThreadPoolErrorCode =
  | "THREAD_TIMEOUT"
  | "THREAD_OUT_OF_MEMORY"
  | "THREAD_START_FAILED"
  | "THREAD_EXITED"
  | "THREAD_POOL_CLOSED";

/**
 * A call the pool gave up on; `code` says why. None of the codes counts as retryable for the
 * stages' retry policy (a task that timed out is likely to time out again); list one in
 * `retry.retryableErrors` to retry it.
 *
 * @example
 * ```ts
 * try {
 *   await threadPool(new URL("./parse.mjs", import.meta.url), "parse").run(input);
 * } catch (error) {
 *   if (error instanceof ThreadPoolError && error.code === "THREAD_TIMEOUT") console.warn(error.message);
 * }
 * ```
 */
export class ThreadPoolError extends Error {
  /** Always `"ThreadPoolError"`. */
  override readonly name = "ThreadPoolError";
  /**
   * @param code Why the call failed.
   * @param message Names the task's export and module.
   * @param options The underlying error, when there is one.
   */
  constructor(
    readonly code: ThreadPoolErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Options of {@link threadPool}.
 *
 * @example
 * ```ts
 * const options: ThreadPoolOptions = { threads: 2, timeoutMs: 10_000, maxHeapMb: 256, signal };
 * ```
 */
export interface ThreadPoolOptions {
  /** Worker threads at most (default: one fewer than the cores, at least 1). */
  readonly threads?: number;
  /**
   * Per-call deadline in ms, counted from when a worker takes the call (time spent queued does
   * not count). Past it the worker is terminated: a synchronous loop cannot be stopped otherwise.
   * Default: none.
   */
  readonly timeoutMs?: number;
  /** Old-generation heap limit of each worker, in MB (`resourceLimits.maxOldGenerationSizeMb`). */
  readonly maxHeapMb?: number;
  /**
   * A module each worker imports before the task module: a URL, or an absolute path. For a
   * TypeScript task module, a loader such as `import.meta.resolve("tsx/esm")`.
   */
  readonly preload?: URL | string;
  /** Node flags of the workers (default `[]`: the parent's loader flags are not for them). */
  readonly execArgv?: readonly string[];
  /** Aborting it closes the pool: pending and later calls reject with its reason. */
  readonly signal?: AbortSignal;
  /**
   * Calls sent ahead to a busy worker (default 1), so that it starts its next call as soon as
   * it finishes one, not once this thread has read its answer and sent another: a busy main
   * thread would otherwise leave the workers idle in between. 0 hands a worker a call only when
   * it is idle. A sent-ahead call's deadline starts when the call before it ends; aborting it
   * settles it at once, and its worker runs it anyway and drops the result.
   */
  readonly prefetch?: number;
}

/**
 * Options of {@link ThreadPool.run}.
 *
 * @example
 * ```ts
 * const options: ThreadRunOptions = { signal, transfer: [new ArrayBuffer(1024)] };
 * ```
 */
export interface ThreadRunOptions {
  /** Aborting it rejects the call with its reason; a running call's worker is terminated. */
  readonly signal?: AbortSignal;
  /**
   * Objects moved to the worker instead of copied (ArrayBuffers, MessagePorts): they become
   * unusable (detached) here. They must be reachable from the input.
   */
  readonly transfer?: readonly TransferListItem[];
}

/**
 * A pool of worker threads calling one export of one module. See {@link threadPool}.
 *
 * @example
 * ```ts
 * const pool: ThreadPool<string, string[]> = threadPool<(text: string) => string[]>(
 *   new URL("./tokenize.mjs", import.meta.url),
 *   "tokenize",
 * );
 * const tokens = StreamingPipeline.start<string>().map("tokens", pool.task, { concurrency: pool.threads });
 * ```
 */
export interface ThreadPool<In, Out> {
  /** Worker threads at most. */
  readonly threads: number;
  /** Workers started and not yet retired (idle, starting or busy). */
  readonly workers: number;
  /** Workers running a call. */
  readonly busy: number;
  /** Calls waiting for a worker. */
  readonly queued: number;
  /**
   * Runs the task on `input` in a worker. Input and output cross by structured clone: plain
   * data, arrays, Maps, Sets, Dates, typed arrays survive; functions and class instances
   * (beyond their own data) do not. Rejects with the task's error (name, message, stack and
   * data properties such as `code` kept), a {@link ThreadPoolError}, or the signal's reason.
   */
  run(input: In, options?: ThreadRunOptions): Promise<Out>;
  /**
   * `run` as a per-item function: `(input, ctx) => pool.run(input, { signal: ctx.signal })`,
   * bound to the pool, for `map("key", pool.task, { concurrency: pool.threads })`.
   */
  readonly task: (input: In, ctx?: { readonly signal?: AbortSignal }) => Promise<Out>;
  /** Starts one worker now, if none runs, so its start-up overlaps other work. */
  warmUp(): void;
  /**
   * Rejects pending calls with `THREAD_POOL_CLOSED`, terminates every worker and resolves once
   * they have exited. Later calls reject the same way; calling it again is harmless.
   */
  close(): Promise<void>;
  /** `close()`, for `await using pool = threadPool(…)`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * The key under which a task's result lists objects to transfer back instead of copying:
 * `Symbol.for("sluice.threadPool.transfer")`, so that a task module needs no import. The list
 * itself does not reach the caller.
 *
 * @example
 * ```ts
 * // In the task module (exported there); the bytes' buffer is moved back, not copied.
 * function encode(text: string) {
 *   const bytes = new TextEncoder().encode(text);
 *   return Object.assign(bytes, { [THREAD_TRANSFER]: [bytes.buffer] });
 * }
 * ```
 */
export const THREAD_TRANSFER: unique symbol = Symbol.for(TRANSFER_KEY);

/**
 * Starts a pool of worker threads that call `exportName` of the module at `module` (a URL, or
 * an absolute path). The task's type, given as the type argument, types the calls. Workers
 * start on demand (or with `warmUp()`), one call at a time each; an idle worker never keeps the
 * process alive. Workers load the module as plain JavaScript: for a TypeScript module, pass a
 * loader as `preload`.
 *
 * @example
 * ```ts
 * // tokenize.mjs: export function tokenize(text) { return text.split(/\s+/); }
 * type Tokenize = (text: string) => string[]; // or typeof import("./tokenize.mjs").tokenize
 * const pool = threadPool<Tokenize>(new URL("./tokenize.mjs", import.meta.url), "tokenize", {
 *   threads: 2,
 *   timeoutMs: 10_000,
 * });
 * try {
 *   for await (const tokens of pipeline.map("tokens", pool.task, { concurrency: pool.threads }).executeFrom(lines)) {
 *     console.log(tokens.length);
 *   }
 * } finally {
 *   await pool.close();
 * }
 * ```
 *
 * @typeParam F The task function's type (`typeof import("./task.mjs").fn`): the pool's input
 *   type is its parameter, its output type its awaited return.
 */
export function threadPool<F extends ThreadTask = (input: unknown) => unknown>(
  module: URL | string,
  exportName: string,
  options: ThreadPoolOptions = {},
): ThreadPool<Parameters<F>[0], Awaited<ReturnType<F>>> {
  return new Pool(module, exportName, options);
}

interface Call {
  readonly input: unknown;
  readonly transfer: readonly TransferListItem[] | undefined;
  readonly resolve: (value: never) => void;
  readonly reject: (reason: unknown) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  slot: Slot | undefined;
  id: number;
  /** Settled by an abort while sent ahead: its worker still runs it, and its answer is dropped. */
  dropped: boolean;
}

interface Slot {
  readonly worker: Worker;
  ready: boolean;
  /** Calls sent to the worker, in the order it runs them: the first is running. */
  readonly calls: Call[];
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Why the worker is going away, when its `error` event came before its `exit`. */
  failure: ThreadPoolError | undefined;
}

/** The longest delay `setTimeout` takes; a longer one fires at once. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

class Pool<In, Out> implements ThreadPool<In, Out> {
  readonly threads: number;
  readonly task: (input: In, ctx?: { readonly signal?: AbortSignal }) => Promise<Out>;
  private readonly timeoutMs: number | undefined;
  private readonly prefetch: number;
  private readonly data: BootstrapData;
  private readonly resourceLimits: { maxOldGenerationSizeMb: number } | undefined;
  private readonly execArgv: string[];
  private readonly what: string;
  private readonly signal: AbortSignal | undefined;
  private readonly queue: Call[] = [];
  private readonly slots = new Set<Slot>();
  private readonly exiting = new Set<Promise<unknown>>();
  private closed = false;
  private closedBy: unknown;
  private nextId = 0;

  constructor(module: URL | string, exportName: string, options: ThreadPoolOptions) {
    const url = toUrl(module, "module");
    if (typeof exportName !== "string" || exportName === "") {
      throw new TypeError(
        `threadPool: exportName must be a non-empty string, got ${String(exportName)}`,
      );
    }
    this.what = `"${exportName}" of ${url}`;
    this.threads = options.threads ?? Math.max(1, availableParallelism() - 1);
    positiveInteger(this.threads, "threads");
    if (options.timeoutMs !== undefined) {
      const t = options.timeoutMs;
      if (typeof t !== "number" || !(t > 0 && t <= MAX_TIMEOUT_MS)) {
        throw new RangeError(
          `threadPool: timeoutMs must be a number in (0, ${MAX_TIMEOUT_MS}], got ${String(t)}`,
        );
      }
    }
    this.timeoutMs = options.timeoutMs;
    this.prefetch = options.prefetch ?? 1;
    if (!(Number.isInteger(this.prefetch) && this.prefetch >= 0)) {
      throw new RangeError(
        `threadPool: prefetch must be a non-negative integer, got ${String(options.prefetch)}`,
      );
    }
    if (options.maxHeapMb !== undefined) positiveInteger(options.maxHeapMb, "maxHeapMb");
    this.resourceLimits =
      options.maxHeapMb === undefined ? undefined : { maxOldGenerationSizeMb: options.maxHeapMb };
    if (
      options.execArgv !== undefined &&
      !(Array.isArray(options.execArgv) && options.execArgv.every((a) => typeof a === "string"))
    ) {
      throw new TypeError("threadPool: execArgv must be an array of strings");
    }
    this.execArgv = [...(options.execArgv ?? [])];
    this.data = {
      module: url,
      exportName,
      preload: options.preload === undefined ? undefined : toUrl(options.preload, "preload"),
    };
    this.task = (input, ctx) => this.run(input, ctx?.signal ? { signal: ctx.signal } : undefined);
    this.signal = options.signal;
    if (this.signal?.aborted) this.shutdown(this.signal.reason);
    else this.signal?.addEventListener("abort", this.onPoolAbort, { once: true });
  }

  get workers(): number {
    return this.slots.size;
  }

  get busy(): number {
    let n = 0;
    for (const slot of this.slots) if (slot.calls.length > 0) n++;
    return n;
  }

  get queued(): number {
    return this.queue.length;
  }

  run(input: In, options?: ThreadRunOptions): Promise<Out> {
    if (this.closed) return Promise.reject(this.closedBy);
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<Out>((resolve, reject) => {
      const call: Call = {
        input,
        transfer: options?.transfer,
        resolve: resolve as (value: never) => void,
        reject,
        signal,
        onAbort: undefined,
        slot: undefined,
        id: -1,
        dropped: false,
      };
      this.listenForAbort(call);
      this.queue.push(call);
      this.pump();
    });
  }

  warmUp(): void {
    if (!this.closed && this.slots.size === 0) this.spawn();
    this.updateRefs();
  }

  async close(): Promise<void> {
    if (!this.closed) {
      this.shutdown(new ThreadPoolError("THREAD_POOL_CLOSED", `the pool of ${this.what} closed`));
    }
    await Promise.all([...this.exiting]);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private readonly onPoolAbort = () => this.shutdown(this.signal?.reason);

  /** Rejects whatever is pending with `reason` and terminates every worker; for good. */
  private shutdown(reason: unknown): void {
    if (this.closed) return;
    this.closed = true;
    this.closedBy = reason;
    this.signal?.removeEventListener("abort", this.onPoolAbort);
    for (const slot of [...this.slots]) this.retire(slot, reason);
    for (const call of this.queue.splice(0)) this.settle(call, false, reason);
  }

  private settle(call: Call, ok: boolean, value: unknown): void {
    if (call.onAbort !== undefined) call.signal?.removeEventListener("abort", call.onAbort);
    call.onAbort = undefined;
    call.slot = undefined;
    if (ok) call.resolve(value as never);
    else call.reject(value);
  }

  private abortCall(call: Call, reason: unknown): void {
    const slot = call.slot;
    if (slot !== undefined && slot.calls[0] === call) {
      // A call cannot be interrupted inside the worker (a synchronous loop never yields), so
      // the worker goes with it; a fresh one starts when a call needs it.
      this.retire(slot, reason);
      this.pump();
      return;
    }
    if (slot !== undefined) {
      // Sent ahead, not started: the worker's calls behind it need not go with it.
      call.dropped = true;
      this.settle(call, false, reason);
      return;
    }
    const at = this.queue.indexOf(call);
    if (at >= 0) this.queue.splice(at, 1);
    this.settle(call, false, reason);
  }

  /**
   * Hands waiting calls to idle workers and starts workers while calls wait for one. Once every
   * worker runs and is busy, it sends calls ahead (up to `prefetch` each); a worker that goes
   * idle with nothing waiting takes over a call sent ahead to another.
   */
  private pump(): void {
    if (this.closed) return;
    this.fill(1);
    let starting = 0;
    for (const slot of this.slots) if (!slot.ready) starting++;
    while (this.queue.length > starting && this.slots.size < this.threads && !this.closed) {
      this.spawn();
      starting++;
    }
    // Sent ahead only when no worker could start and take the call at once.
    if (starting === 0 && this.slots.size === this.threads) {
      for (let depth = 2; depth <= 1 + this.prefetch; depth++) this.fill(depth);
      this.rebalance();
    }
    this.updateRefs();
  }

  /** Sends waiting calls to ready workers that hold fewer than `depth` calls. */
  private fill(depth: number): void {
    for (const slot of this.slots) {
      // A call whose input cannot be cloned is not sent: the worker takes the next one.
      while (slot.ready && slot.calls.length < depth && this.queue.length > 0) {
        this.dispatch(slot, this.queue.shift() as Call);
      }
    }
  }

  /**
   * Moves calls sent ahead to a busy worker (behind a long call, say) to idle workers. The busy
   * worker still gets to them and its answers are dropped: a sent message cannot be taken back.
   * Calls with a transfer list stay, as what they moved is gone from this thread.
   */
  private rebalance(): void {
    if (this.queue.length > 0) return;
    for (const idle of this.slots) {
      if (!idle.ready || idle.calls.length > 0) continue;
      const call = this.lastSentAhead();
      if (call === undefined) return;
      call.dropped = true;
      if (call.onAbort !== undefined) call.signal?.removeEventListener("abort", call.onAbort);
      call.onAbort = undefined;
      const moved: Call = { ...call, slot: undefined, id: -1, onAbort: undefined, dropped: false };
      this.listenForAbort(moved);
      this.dispatch(idle, moved);
    }
  }

  /** The last call sent ahead to any worker that can still be moved, if there is one. */
  private lastSentAhead(): Call | undefined {
    for (const slot of this.slots) {
      for (let i = slot.calls.length - 1; i >= 1; i--) {
        const call = slot.calls[i] as Call;
        if (!call.dropped && call.transfer === undefined) return call;
      }
    }
    return undefined;
  }

  /** Aborting the call's signal (if it has one) aborts the call. */
  private listenForAbort(call: Call): void {
    const signal = call.signal;
    if (signal === undefined) return;
    call.onAbort = () => this.abortCall(call, signal.reason);
    signal.addEventListener("abort", call.onAbort, { once: true });
  }

  /**
   * A worker keeps the process alive only while a call depends on it: busy, or starting while
   * calls wait. Idle (or warming up for no one), it never does.
   */
  private updateRefs(): void {
    const waiting = this.queue.length > 0;
    for (const slot of this.slots) {
      if (slot.calls.length > 0 || (!slot.ready && waiting)) slot.worker.ref();
      else slot.worker.unref();
    }
  }

  private spawn(): void {
    let worker: Worker;
    try {
      worker = new Worker(BOOTSTRAP, {
        eval: true,
        workerData: this.data,
        execArgv: this.execArgv,
        ...(this.resourceLimits ? { resourceLimits: this.resourceLimits } : {}),
      });
    } catch (error) {
      this.shutdown(
        this.startFailure(error instanceof Error ? error.message : String(error), error),
      );
      return;
    }
    const slot: Slot = {
      worker,
      ready: false,
      calls: [],
      timer: undefined,
      failure: undefined,
    };
    this.slots.add(slot);
    worker.on("message", (message: WorkerMessage) => this.onMessage(slot, message));
    worker.on("error", (error: Error & { code?: unknown }) => {
      slot.failure ??=
        error.code === "ERR_WORKER_OUT_OF_MEMORY"
          ? new ThreadPoolError(
              "THREAD_OUT_OF_MEMORY",
              `${this.what} ran out of its worker's ${this.resourceLimits ? `${this.resourceLimits.maxOldGenerationSizeMb} MB ` : ""}heap`,
              { cause: error },
            )
          : new ThreadPoolError("THREAD_EXITED", `${this.what}: worker failed: ${error.message}`, {
              cause: error,
            });
    });
    worker.on("exit", (code) => this.onExit(slot, code));
  }

  private startFailure(why: string, cause: unknown): ThreadPoolError {
    return new ThreadPoolError("THREAD_START_FAILED", `cannot start ${this.what}: ${why}`, {
      cause,
    });
  }

  private onMessage(slot: Slot, message: WorkerMessage): void {
    if (!this.slots.has(slot)) return;
    switch (message.type) {
      case "ready":
        slot.ready = true;
        this.pump();
        return;
      case "start-failed": {
        const cause = revive(message.error);
        const why = cause instanceof Error ? cause.message : String(cause);
        // The next worker would load the same module and fail the same way: fail everything
        // now rather than start workers in a loop.
        this.shutdown(this.startFailure(why, cause));
        return;
      }
      default: {
        // A worker answers its calls in the order it was sent them.
        const call = slot.calls[0];
        if (call === undefined || call.id !== message.id) return;
        clearTimeout(slot.timer);
        slot.timer = undefined;
        slot.calls.shift();
        // The next call sent ahead has started now.
        if (slot.calls.length > 0) this.startDeadline(slot);
        if (!call.dropped) {
          if (message.type === "done") this.settle(call, true, message.value);
          else this.settle(call, false, revive(message.error));
        }
        this.pump();
      }
    }
  }

  private dispatch(slot: Slot, call: Call): void {
    call.id = this.nextId++;
    try {
      const message: CallMessage = { id: call.id, input: call.input };
      slot.worker.postMessage(message, call.transfer);
    } catch (error) {
      // The input could not be cloned (or a listed object transferred): nothing was sent, and
      // the worker stays idle for the next call.
      this.settle(call, false, error);
      return;
    }
    slot.calls.push(call);
    call.slot = slot;
    if (slot.calls.length === 1) this.startDeadline(slot);
  }

  /** Starts the deadline of the slot's running call, if the pool has one. */
  private startDeadline(slot: Slot): void {
    if (this.timeoutMs === undefined) return;
    const ms = this.timeoutMs;
    slot.timer = setTimeout(() => {
      this.retire(
        slot,
        new ThreadPoolError(
          "THREAD_TIMEOUT",
          `${this.what} took longer than ${ms} ms; its worker was terminated`,
        ),
      );
      this.pump();
    }, ms);
  }

  /**
   * Rejects the slot's running call with `reason` and terminates its worker. The calls sent
   * ahead to it never started: they go back to the front of the queue (or, once the pool is
   * closed, reject with `reason` too).
   */
  private retire(slot: Slot, reason: unknown): void {
    if (!this.slots.delete(slot)) return;
    clearTimeout(slot.timer);
    slot.timer = undefined;
    const [running, ...ahead] = slot.calls.splice(0);
    if (running !== undefined && !running.dropped) this.settle(running, false, reason);
    const waiting = ahead.filter((call) => !call.dropped);
    for (const call of waiting) call.slot = undefined;
    if (this.closed) for (const call of waiting) this.settle(call, false, reason);
    else this.queue.unshift(...waiting);
    const exited = slot.worker.terminate().catch(() => undefined);
    this.exiting.add(exited);
    void exited.finally(() => this.exiting.delete(exited));
  }

  private onExit(slot: Slot, code: number): void {
    if (!this.slots.has(slot)) return; // retired: its call is settled already
    if (!slot.ready) {
      const why = slot.failure?.message ?? `its worker exited with code ${code} while starting`;
      this.shutdown(this.startFailure(why, slot.failure?.cause));
      return;
    }
    this.retire(
      slot,
      slot.failure ??
        new ThreadPoolError("THREAD_EXITED", `${this.what}: worker exited with code ${code}`),
    );
    this.pump();
  }
}

function positiveInteger(value: unknown, option: string): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new RangeError(`threadPool: ${option} must be a positive integer, got ${String(value)}`);
  }
}

/** A module reference as the URL a worker imports. */
function toUrl(value: unknown, option: string): string {
  if (typeof value === "string") {
    // Before URL parsing: a Windows path `C:\x` would parse as a URL of scheme `c:`.
    if (isAbsolute(value)) return pathToFileURL(value).href;
    if (URL.canParse(value)) return value;
  } else if (typeof value === "object" && value !== null) {
    const href = (value as { href?: unknown }).href;
    if (typeof href === "string") return href;
  }
  throw new TypeError(
    `threadPool: ${option} must be a URL or an absolute path, got ${String(value)}`,
  );
}

const BUILT_IN_ERRORS: Record<string, ErrorConstructor> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

/** A worker's thrown value, rebuilt: an Error keeps its name, message, stack and data. */
function revive(encoded: EncodedThrown): unknown {
  if (!encoded.error) return encoded.value;
  const Ctor = BUILT_IN_ERRORS[encoded.name] ?? Error;
  const error = new Ctor(
    encoded.message,
    encoded.cause === undefined ? undefined : { cause: revive(encoded.cause) },
  );
  if (error.name !== encoded.name) {
    Object.defineProperty(error, "name", {
      value: encoded.name,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
  if (encoded.stack !== undefined) error.stack = encoded.stack;
  return Object.assign(error, encoded.props);
}
