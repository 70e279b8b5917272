// Markdown parsing off the main thread. remark/micromark has super-linear cases (100 KB of `*a_`
// takes minutes, 1 MB of blank lines gigabytes) and is synchronous: on the main thread one such
// file holds the event loop, so nothing is stored, no progress is drawn and Ctrl-C waits. In a
// worker thread it only costs that worker: a deadline terminates it, a heap limit bounds it.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { EmbedConfig } from "../config.ts";
import type { CleanBlock, CleanOptions } from "../steps/clean.ts";
import type { ParseReply, ParseRequest } from "./parse-protocol.ts";

/**
 * Why a parse did not produce blocks:
 * - `PARSE_TIMEOUT`: past the per-file deadline (the worker is terminated);
 * - `PARSE_TOO_LARGE`: the worker ran out of its heap;
 * - `PARSE_TOO_DEEP`: the markdown nests deeper than the parser's stack;
 * - `PARSE_WORKER_FAILED`: a worker could not start or died for another reason;
 * - `PARSE_POOL_CLOSED`: the pool was closed while the file waited.
 */
export type ParseErrorCode =
  | "PARSE_TIMEOUT"
  | "PARSE_TOO_LARGE"
  | "PARSE_TOO_DEEP"
  | "PARSE_WORKER_FAILED"
  | "PARSE_POOL_CLOSED";

/** A file the pool could not parse; `code` says why. */
export class ParseError extends Error {
  override readonly name = "ParseError";
  constructor(
    readonly code: ParseErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Options of {@link ParsePool}. */
export interface ParsePoolOptions {
  /** Worker threads at most; default `defaultParseThreads()`. */
  readonly threads?: number;
  /** Per-file deadline, from the moment a worker takes the file; default 10 s. */
  readonly timeoutMs?: number;
  /** Old-generation heap limit of each worker, in MB; default 256. */
  readonly maxHeapMb?: number;
  /** Aborting it rejects every pending parse with its reason and terminates the workers. */
  readonly signal?: AbortSignal;
}

/**
 * One fewer thread than the machine has cores (the main thread needs one), and at least two: with
 * a single worker, one file that runs to its parse deadline would hold up every other file's
 * parsing for that long.
 */
export function defaultParseThreads(): number {
  return Math.max(2, availableParallelism() - 1);
}

const ENTRY = new URL("./parse-worker-entry.js", import.meta.url);

interface Job {
  readonly request: ParseRequest;
  readonly resolve: (blocks: CleanBlock[]) => void;
  readonly reject: (error: unknown) => void;
}

interface Slot {
  readonly worker: Worker;
  ready: boolean;
  job: Job | undefined;
  timer: NodeJS.Timeout | undefined;
  /** Why the worker is going away, when the pool knows before its exit event. */
  failure: ParseError | undefined;
}

/**
 * A small pool of worker threads that clean markdown (`cleanMarkdown`), each file under a
 * deadline and each worker under a heap limit. A file past its deadline rejects with
 * `PARSE_TIMEOUT` and its worker is terminated (a fresh one takes the next file); a worker out of
 * memory rejects its file with `PARSE_TOO_LARGE`. Workers start on first use, and an idle worker
 * never keeps the process alive; `close()` terminates them all.
 */
export class ParsePool {
  readonly threads: number;
  readonly timeoutMs: number;
  readonly maxHeapMb: number;
  private readonly queue: Job[] = [];
  private readonly slots = new Set<Slot>();
  private readonly exiting = new Set<Promise<unknown>>();
  private readonly signal: AbortSignal | undefined;
  private closedBy: unknown;
  private nextId = 0;

  constructor(options: ParsePoolOptions = {}) {
    this.threads = options.threads ?? defaultParseThreads();
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.maxHeapMb = options.maxHeapMb ?? 256;
    for (const [name, value] of [
      ["threads", this.threads],
      ["timeoutMs", this.timeoutMs],
      ["maxHeapMb", this.maxHeapMb],
    ] as const) {
      if (!(Number.isInteger(value) && value > 0)) {
        throw new RangeError(`ParsePool: ${name} must be a positive integer, got ${value}`);
      }
    }
    this.signal = options.signal;
    if (this.signal?.aborted) this.closedBy = this.signal.reason;
    this.signal?.addEventListener("abort", this.onAbort, { once: true });
  }

  /**
   * Cleans `markdown` in a worker: the blocks `cleanMarkdown` would return. Rejects with a
   * {@link ParseError} when the pool gave up on the file, with the parser's message (a plain
   * `Error`) when the parser threw, and with the signal's reason once it is aborted.
   */
  clean(markdown: string, options: CleanOptions = {}): Promise<CleanBlock[]> {
    if (this.closedBy !== undefined) return Promise.reject(this.closedBy);
    return new Promise((resolve, reject) => {
      this.queue.push({
        request: {
          id: this.nextId++,
          markdown,
          lineOffset: options.lineOffset ?? 0,
          removeSections: options.removeSections ?? [],
        },
        resolve,
        reject,
      });
      this.pump();
    });
  }

  /**
   * Starts a worker now, if none is running, so that its start-up (loading the TypeScript
   * loader and the markdown parser: about half a second) overlaps the run's own start rather
   * than delaying the first file. An idle worker never keeps the process alive.
   */
  warmUp(): void {
    if (this.closedBy === undefined && this.slots.size === 0) this.spawn();
  }

  /** Workers started and not yet retired. */
  get workers(): number {
    return this.slots.size;
  }

  /** Rejects whatever is pending and terminates every worker; resolves once they have exited. */
  async close(): Promise<void> {
    this.shutdown(new ParseError("PARSE_POOL_CLOSED", "the parse pool was closed"));
    this.signal?.removeEventListener("abort", this.onAbort);
    await Promise.all([...this.exiting]);
  }

  private readonly onAbort = () => this.shutdown(this.signal?.reason);

  private shutdown(reason: unknown): void {
    if (this.closedBy === undefined) this.closedBy = reason;
    for (const job of this.queue.splice(0)) job.reject(this.closedBy);
    for (const slot of [...this.slots]) this.retire(slot, this.closedBy);
  }

  /** Hands waiting files to idle workers, and starts workers while files wait for one. */
  private pump(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.ready && slot.job === undefined) this.dispatch(slot, this.queue.shift() as Job);
    }
    let starting = [...this.slots].filter((s) => !s.ready).length;
    while (this.queue.length > starting && this.slots.size < this.threads) {
      this.spawn();
      starting += 1;
    }
  }

  private spawn(): void {
    // A clean slate: the parent's loader flags (tsx's, Vitest's) are not for a plain worker;
    // the entry registers tsx itself.
    const worker = new Worker(ENTRY, {
      execArgv: [],
      resourceLimits: { maxOldGenerationSizeMb: this.maxHeapMb },
      stdout: false,
      stderr: false,
    });
    const slot: Slot = {
      worker,
      ready: false,
      job: undefined,
      timer: undefined,
      failure: undefined,
    };
    this.slots.add(slot);
    worker.on("message", (reply: ParseReply) => this.onReply(slot, reply));
    worker.on("error", (error: Error & { code?: string }) => {
      slot.failure ??=
        error.code === "ERR_WORKER_OUT_OF_MEMORY"
          ? new ParseError(
              "PARSE_TOO_LARGE",
              `parsing needs more than the parse worker's ${this.maxHeapMb} MB heap`,
              { cause: error },
            )
          : new ParseError("PARSE_WORKER_FAILED", `parse worker failed: ${error.message}`, {
              cause: error,
            });
    });
    worker.on("exit", (code) => this.onExit(slot, code));
  }

  private onReply(slot: Slot, reply: ParseReply): void {
    if (reply.type === "ready") {
      slot.ready = true;
      slot.worker.unref();
      this.pump();
      return;
    }
    const job = slot.job;
    if (job === undefined || job.request.id !== reply.id) return;
    clearTimeout(slot.timer);
    slot.job = undefined;
    slot.timer = undefined;
    slot.worker.unref();
    if (reply.type === "done") job.resolve(reply.blocks as CleanBlock[]);
    else if (reply.tooDeep) {
      job.reject(new ParseError("PARSE_TOO_DEEP", `markdown nested too deep: ${reply.message}`));
    } else job.reject(new Error(reply.message));
    this.pump();
  }

  private dispatch(slot: Slot, job: Job): void {
    slot.job = job;
    // Busy, the worker keeps the process alive until it answers; idle, it never does.
    slot.worker.ref();
    slot.timer = setTimeout(() => {
      this.retire(
        slot,
        new ParseError("PARSE_TIMEOUT", `parsing took longer than ${this.timeoutMs} ms`),
      );
      this.pump();
    }, this.timeoutMs);
    slot.worker.postMessage(job.request);
  }

  /** Rejects the slot's file with `reason` and terminates its worker. */
  private retire(slot: Slot, reason: unknown): void {
    if (!this.slots.delete(slot)) return;
    clearTimeout(slot.timer);
    const job = slot.job;
    slot.job = undefined;
    job?.reject(reason);
    const exited = slot.worker.terminate().catch(() => undefined);
    this.exiting.add(exited);
    void exited.finally(() => this.exiting.delete(exited));
  }

  private onExit(slot: Slot, code: number): void {
    if (!this.slots.has(slot)) return; // retired: its file is settled already
    const failure =
      slot.failure ??
      new ParseError("PARSE_WORKER_FAILED", `parse worker exited unexpectedly (code ${code})`);
    const started = slot.ready;
    this.retire(slot, failure);
    if (!started) {
      // A worker that cannot even start will not start on a second try either: fail what
      // waits instead of spawning workers in a loop.
      for (const job of this.queue.splice(0)) job.reject(failure);
      return;
    }
    this.pump();
  }
}

/** The pool a run parses in: the config's threads, deadline and heap limit, and the run's signal. */
export function parsePoolFor(
  config: Pick<EmbedConfig, "parseThreads" | "parseTimeoutMs" | "parseHeapMb">,
  signal?: AbortSignal,
): ParsePool {
  return new ParsePool({
    threads: config.parseThreads,
    timeoutMs: config.parseTimeoutMs,
    maxHeapMb: config.parseHeapMb,
    ...(signal ? { signal } : {}),
  });
}
