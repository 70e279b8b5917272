import type { Chunk, Lineage, Puller } from "../engine/chunk.js";
import type { StageRuntime } from "../engine/run-env.js";
import { type Source, sourcePuller } from "../engine/sources.js";
import { Stage } from "../engine/stage.js";
import type { StageSpec } from "../engine/stage-spec.js";
import { StreamingError } from "../errors/step-error.js";
import { readCode } from "../errors/to-error.js";
import { positiveInt, requireFunction } from "./options.js";

/**
 * How {@link merge} and `StreamingPipeline.merge` read their sources and what a failing
 * source does.
 *
 * @example
 * ```ts
 * const options: MergeOptions = { readAhead: 2, sourceErrors: "DROP_SOURCE" };
 * ```
 */
export interface MergeOptions {
  /**
   * Most pulls in flight (or chunks read and not yet handed on) per source; default 1. A
   * source never gets further ahead of the consumer than this, however fast it is.
   */
  readAhead?: number;
  /**
   * What a source that throws does: `"FAIL_FAST"` (default) fails the merged stream and
   * closes every other source; `"DROP_SOURCE"` ends that source only, records its error
   * (`MergedSource.errors`, or the run's `metadata().errors` in a pipeline) and goes on.
   */
  sourceErrors?: "FAIL_FAST" | "DROP_SOURCE";
  /** Told about each source dropped under `DROP_SOURCE`, with its name. */
  onSourceDropped?: (error: StreamingError, source: string) => void;
}

/**
 * An item of a tagged {@link merge}: the value and the name of the source it came from.
 *
 * @example
 * ```ts
 * const item: Tagged<number, "a" | "b"> = { source: "a", value: 1 };
 * ```
 */
export interface Tagged<T, N extends string = string> {
  /** The name of the source (its key in the object given to `merge`). */
  readonly source: N;
  /** The item. */
  readonly value: T;
}

/** Settings shared by the standalone merge and the builder's merge stage. */
interface MergeSettings {
  readonly readAhead: number;
  readonly drop: boolean;
  readonly onDropped: ((error: StreamingError, source: string) => void) | undefined;
}

const PULLER: unique symbol = Symbol("sluice.merge.puller");

function isIterableLike(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<PropertyKey, unknown>;
  return (
    typeof v[Symbol.iterator] === "function" ||
    typeof v[Symbol.asyncIterator] === "function" ||
    typeof v.getReader === "function"
  );
}

/** Generators read once: a pipeline (run many times) must be given a function making one. */
export function isOneShot(value: unknown): boolean {
  const tag = Object.prototype.toString.call(value);
  return tag === "[object Generator]" || tag === "[object AsyncGenerator]";
}

function mergeSettings(options: MergeOptions | undefined, where: string): MergeSettings {
  const o = options ?? {};
  if (typeof o !== "object") {
    throw new TypeError(`${where}: the options must be an object, got ${typeof o}`);
  }
  const readAhead = o.readAhead === undefined ? 1 : positiveInt(o.readAhead, "readAhead", where);
  const strategy = o.sourceErrors ?? "FAIL_FAST";
  if (strategy !== "FAIL_FAST" && strategy !== "DROP_SOURCE") {
    throw new TypeError(
      `${where}: sourceErrors must be "FAIL_FAST" or "DROP_SOURCE", got ${String(strategy)}`,
    );
  }
  if (o.onSourceDropped !== undefined) requireFunction(o.onSourceDropped, "onSourceDropped", where);
  return { readAhead, drop: strategy === "DROP_SOURCE", onDropped: o.onSourceDropped };
}

/**
 * The puller of any source, reading a merged source through its chunks rather than one
 * `next()` per item.
 */
export function toPuller<T>(source: Source<T>, where = "executeFrom"): Puller<T> {
  if (source instanceof MergedSource) return source[PULLER]() as Puller<T>;
  return sourcePuller(source, where);
}

/**
 * Several sources read as one: see {@link merge}. An `AsyncIterable` (read it with
 * `for await`, or hand it to `executeFrom`, which reads it chunk by chunk); it can be read
 * once.
 *
 * @example
 * ```ts
 * const merged: MergedSource<number> = merge([1, 2], [3, 4]);
 * for await (const n of merged) console.log(n);
 * ```
 */
export class MergedSource<T> implements AsyncIterable<T> {
  private used = false;
  private readonly dropped: StreamingError[] = [];

  /** @internal Made by {@link merge}. */
  constructor(
    private readonly sources: readonly Source<unknown>[],
    private readonly names: readonly string[],
    private readonly settings: MergeSettings,
    private readonly tag: boolean,
  ) {}

  /** The errors of sources dropped under `sourceErrors: "DROP_SOURCE"`, in order. */
  get errors(): readonly StreamingError[] {
    return this.dropped;
  }

  /** @internal The merged puller; a merged source is read once. */
  [PULLER](): Puller {
    if (this.used) throw new TypeError("merge: a merged source can be read only once");
    this.used = true;
    const pullers = this.sources.map((s, i) => toPuller(s, `merge (source "${this.names[i]}")`));
    const { onDropped } = this.settings;
    const settings: MergeSettings = {
      ...this.settings,
      onDropped: (error, name) => {
        this.dropped.push(error);
        onDropped?.(error, name);
      },
    };
    const names = this.names;
    const decorate = this.tag
      ? (chunk: Chunk, from: number): Chunk => {
          const source = names[from];
          return { values: chunk.values.map((value) => ({ source, value })), lins: undefined };
        }
      : undefined;
    return new MergePuller(pullers, names, settings, decorate);
  }

  /** Reads the merged items; breaking out of the loop closes every source. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    const puller = this[PULLER]();
    let buf: unknown[] = [];
    let pos = 0;
    let finished = false;
    const end = async (): Promise<IteratorResult<T>> => {
      finished = true;
      buf = [];
      await puller.cancel();
      return { value: undefined, done: true };
    };
    return {
      next: async () => {
        if (pos < buf.length) return { value: buf[pos++] as T, done: false };
        if (finished) return { value: undefined, done: true };
        let chunk: Chunk | null;
        try {
          chunk = await puller.pull(64);
        } catch (error) {
          // for-await calls no return() after a throwing next(): release the sources here.
          finished = true;
          await puller.cancel().catch(() => {});
          throw error;
        }
        if (chunk === null) return end();
        buf = chunk.values;
        pos = 1;
        return { value: buf[0] as T, done: false };
      },
      return: end,
    };
  }
}

/**
 * Merges sources into one stream, items in the order they arrive. Sources are read fairly
 * (a source's next pull waits until its last chunk was handed on, so ready sources take
 * turns and none starves) and each at most `readAhead` pulls ahead. Sync sources (arrays,
 * iterables) are read in chunks without a promise per item. Ending the stream early (a
 * `break`, a satisfied `take`, a failure, the run's signal) closes every source, so each
 * async generator's `finally` runs.
 *
 * With sources given by name (an object), `tag: true` wraps each item as
 * `{ source, value }`; `StreamingPipeline.merge` gives the name in `state` instead.
 *
 * @example
 * ```ts
 * for await (const n of StreamingPipeline.start<number>().map("x10", (n) => n * 10).executeFrom(merge([1, 2], [3]))) console.log(n);
 * const tagged = merge({ web: [1], disk: [2] }, { tag: true }); // AsyncIterable<Tagged<number, "web" | "disk">>
 * ```
 */
export function merge<T>(...sources: Source<T>[]): MergedSource<T>;
/** Merges named sources; `tag: true` wraps each item with its source's name. */
export function merge<R extends Record<string, Source<unknown>>>(
  sources: R,
  options: MergeOptions & { tag: true },
): MergedSource<Tagged<SourceItem<R[keyof R]>, keyof R & string>>;
/** Merges named sources (names appear in errors), with options. */
export function merge<R extends Record<string, Source<unknown>>>(
  sources: R,
  options?: MergeOptions & { tag?: false },
): MergedSource<SourceItem<R[keyof R]>>;
export function merge(...args: unknown[]): MergedSource<unknown> {
  const [first, options] = args;
  if (args.length <= 2 && isNamed(first)) {
    const named = first as Record<string, Source<unknown>>;
    const o = (options ?? {}) as MergeOptions & { tag?: boolean };
    return new MergedSource(
      Object.values(named),
      Object.keys(named),
      mergeSettings(o, "merge"),
      o.tag === true,
    );
  }
  args.forEach((s, i) => {
    if (!isIterableLike(s)) {
      throw new TypeError(
        `merge: source ${i} must be an Iterable, AsyncIterable or ReadableStream, got ${s === null ? "null" : typeof s}`,
      );
    }
  });
  return new MergedSource(
    args as Source<unknown>[],
    args.map((_, i) => String(i)),
    mergeSettings(undefined, "merge"),
    false,
  );
}

/** Whether `merge`'s first argument is an object of named sources rather than a source. */
function isNamed(value: unknown): boolean {
  return typeof value === "object" && value !== null && !isIterableLike(value);
}

/**
 * The item type of a {@link Source}.
 *
 * @example
 * ```ts
 * type N = SourceItem<AsyncIterable<number>>; // number
 * ```
 */
export type SourceItem<S> =
  S extends Iterable<infer T>
    ? T
    : S extends AsyncIterable<infer T>
      ? T
      : S extends ReadableStream<infer T>
        ? T
        : never;

/**
 * A source of `StreamingPipeline.merge`: a source that can be read again (an array, a
 * re-iterable), or a function that makes a fresh one per run.
 *
 * @example
 * ```ts
 * const live: MergeInput<string> = () => new Blob(["a\nb"]).stream().pipeThrough(new TextDecoderStream());
 * ```
 */
export type MergeInput<T> = Source<T> | (() => Source<T>);

/**
 * The builder's merge: the stream so far (named `inputName`, default `"input"`) merged
 * with other sources, `state[key]` giving the name of the source each item came from.
 * Sources are made per run, since a pipeline runs many times.
 */
export function mergeStage(
  key: string,
  others: Record<string, MergeInput<unknown>>,
  options: (MergeOptions & { inputName?: string }) | undefined,
): StageSpec {
  const where = `Stage "${key}"`;
  if (typeof others !== "object" || others === null || isIterableLike(others)) {
    throw new TypeError(`${where}: merge takes an object of named sources, e.g. { live: feed }`);
  }
  const settings = mergeSettings(options, where);
  const inputName = options?.inputName ?? "input";
  if (typeof inputName !== "string") {
    throw new TypeError(`${where}: inputName must be a string, got ${typeof inputName}`);
  }
  const names = [inputName, ...Object.keys(others)];
  if (new Set(names).size !== names.length) {
    throw new TypeError(`${where}: the source name "${inputName}" is taken by the stream so far`);
  }
  const makers = Object.entries(others).map(([name, s]) => {
    if (isOneShot(s)) {
      throw new TypeError(
        `${where}: source "${name}" is a generator, which can be read once; pass a function that makes one per run, e.g. { ${name}: () => gen() }`,
      );
    }
    if (typeof s !== "function" && !isIterableLike(s)) {
      throw new TypeError(
        `${where}: source "${name}" must be a source or a function returning one, got ${s === null ? "null" : typeof s}`,
      );
    }
    return typeof s === "function" ? (s as () => Source<unknown>) : () => s;
  });
  return {
    key,
    kind: "merge",
    readsState: false,
    create: (upstream, rt) => {
      const pullers = [
        upstream,
        ...makers.map((make, i) => {
          try {
            return toPuller(make(), `${where} (source "${names[i + 1]}")`);
          } catch (error) {
            // Failing to open a source is that source's failure, under the same strategy.
            return failedPuller(error);
          }
        }),
      ];
      const stageSettings: MergeSettings = {
        ...settings,
        onDropped: (error, name) => {
          rt.env.recorded.push(error);
          settings.onDropped?.(error, name);
        },
      };
      const decorate = rt.track
        ? (chunk: Chunk, from: number): Chunk => {
            const value = names[from];
            const lins: Lineage[] = chunk.values.map((_, i) => ({
              key,
              value,
              up: chunk.lins?.[i] ?? null,
            }));
            return { values: chunk.values, lins };
          }
        : undefined;
      return new MergeStage(new MergePuller(pullers, names, stageSettings, decorate, key), rt);
    },
  };
}

/** A source that could not be opened: its first pull fails with why. */
function failedPuller(error: unknown): Puller {
  return {
    pull: () => Promise.reject(error),
    stop: () => {},
    cancel: () => Promise.resolve(),
  };
}

class MergeStage extends Stage {
  constructor(upstream: MergePuller, rt: StageRuntime) {
    super(upstream, [rt]);
  }

  pull(demand: number): Promise<Chunk | null> {
    return this.upstream.pull(demand);
  }

  pullNow(demand: number): Chunk | null | undefined {
    return (this.upstream as MergePuller).pullNow(demand);
  }
}

/**
 * Reads several pullers as one. Each input has at most `readAhead` chunks outstanding
 * (pulls in flight plus chunks waiting to be handed on), and ready chunks leave in arrival
 * order, so a fast input waits for its chunk to be taken before it is pulled again: ready
 * inputs take turns. Inputs that can answer synchronously (`pullNow`) are tried round-robin
 * when no chunk is waiting, so sync sources merge without a promise per chunk.
 */
export class MergePuller implements Puller {
  private readonly outstanding: number[];
  private readonly done: boolean[];
  /** Inputs that cannot answer synchronously (no `pullNow`, or it said `undefined`). */
  private readonly async: boolean[];
  private live: number;
  private readonly queue: { from: number; chunk: Chunk }[] = [];
  private head = 0;
  private cursor = 0;
  private demand = 1;
  private closed = false;
  private failure: { error: unknown } | undefined;
  private wake: (() => void) | undefined;
  private cancelling: Promise<void> | undefined;

  constructor(
    private readonly inputs: readonly Puller[],
    private readonly names: readonly string[],
    private readonly settings: MergeSettings,
    private readonly decorate: ((chunk: Chunk, from: number) => Chunk) | undefined,
    private readonly key?: string,
  ) {
    this.outstanding = inputs.map(() => 0);
    this.done = inputs.map(() => false);
    this.async = inputs.map((p) => p.pullNow === undefined);
    this.live = inputs.length;
  }

  pull(demand: number): Promise<Chunk | null> {
    let chunk: Chunk | null | undefined;
    try {
      chunk = this.pullNow(demand);
    } catch (error) {
      return Promise.reject(error);
    }
    return chunk === undefined ? this.wait(demand) : Promise.resolve(chunk);
  }

  pullNow(demand: number): Chunk | null | undefined {
    if (this.closed) return null;
    if (this.failure !== undefined) throw this.failure.error;
    this.demand = demand;
    if (this.head < this.queue.length) {
      const { from, chunk } = this.queue[this.head] as { from: number; chunk: Chunk };
      this.queue[this.head++] = undefined as never;
      if (this.head === this.queue.length) {
        this.queue.length = 0;
        this.head = 0;
      }
      this.outstanding[from] = (this.outstanding[from] ?? 1) - 1;
      // An input that answered asynchronously keeps a pull in flight while this chunk is used.
      this.startPull(from);
      return this.out(from, chunk);
    }
    const n = this.inputs.length;
    // Async inputs keep a pull in flight while sync ones are served: an endless sync source
    // must not keep them from being read at all.
    for (let i = 0; i < n; i++) if (this.async[i]) this.startPull(i);
    for (let k = 0; k < n; k++) {
      const i = (this.cursor + k) % n;
      const input = this.inputs[i] as Puller;
      if (this.done[i] || this.async[i] || (this.outstanding[i] ?? 0) > 0) continue;
      let chunk: Chunk | null | undefined;
      try {
        chunk = input.pullNow?.(demand);
      } catch (error) {
        this.failed(i, error);
        const failure = this.failure as { error: unknown } | undefined;
        if (failure !== undefined) throw failure.error;
        continue;
      }
      if (chunk === undefined) {
        this.async[i] = true;
        this.startPull(i);
        continue;
      }
      if (chunk === null) {
        this.finish(i);
        continue;
      }
      this.cursor = i + 1;
      return this.out(i, chunk);
    }
    return this.live === 0 ? null : undefined;
  }

  stop(): void {
    if (this.closed) return;
    this.closed = true;
    for (const input of this.inputs) input.stop();
    this.queue.length = 0;
    this.head = 0;
    this.wake?.();
  }

  cancel(): Promise<void> {
    this.stop();
    this.cancelling ??= Promise.allSettled(this.inputs.map((p) => p.cancel())).then((rs) => {
      for (const r of rs) if (r.status === "rejected") throw r.reason;
    });
    return this.cancelling;
  }

  private out(from: number, chunk: Chunk): Chunk {
    return this.decorate === undefined ? chunk : this.decorate(chunk, from);
  }

  private async wait(demand: number): Promise<Chunk | null> {
    for (;;) {
      const chunk = this.pullNow(demand);
      if (chunk !== undefined) return chunk;
      for (let i = 0; i < this.inputs.length; i++) this.startPull(i);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
  }

  /** Starts an async pull of input `i` if it has room under `readAhead`. */
  private startPull(i: number): void {
    if (this.closed || this.done[i] || (this.outstanding[i] ?? 0) >= this.settings.readAhead) {
      return;
    }
    const input = this.inputs[i] as Puller;
    this.outstanding[i] = (this.outstanding[i] ?? 0) + 1;
    let p: Promise<Chunk | null>;
    try {
      p = input.pull(this.demand);
    } catch (error) {
      p = Promise.reject(error);
    }
    p.then(
      (chunk) => this.arrived(i, chunk),
      (error: unknown) => {
        this.outstanding[i] = (this.outstanding[i] ?? 1) - 1;
        if (!this.closed) this.failed(i, error);
        this.wake?.();
      },
    );
  }

  private arrived(i: number, chunk: Chunk | null): void {
    if (this.closed) return;
    if (chunk === null) {
      this.outstanding[i] = (this.outstanding[i] ?? 1) - 1;
      this.finish(i);
    } else this.queue.push({ from: i, chunk });
    this.wake?.();
  }

  private finish(i: number): void {
    if (this.done[i]) return;
    this.done[i] = true;
    this.live--;
  }

  /** A source threw: drop it and go on, or fail and close every other source now. */
  private failed(i: number, error: unknown): void {
    this.finish(i);
    const name = this.names[i] ?? String(i);
    const message = error instanceof Error ? error.message : String(error);
    const wrapped = new StreamingError(`merge: source "${name}" failed: ${message}`, {
      code: readCode(error) ?? "SOURCE_FAILED",
      cause: error,
      key: this.key,
    });
    if (this.settings.drop) {
      this.inputs[i]?.stop();
      this.settings.onDropped?.(wrapped, name);
      return;
    }
    this.failure = { error: wrapped };
    // Outside a run (a plain for-await) nobody else would close the other sources.
    for (const input of this.inputs) input.stop();
  }
}
