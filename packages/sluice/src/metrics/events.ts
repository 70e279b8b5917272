import { AsyncQueue } from "../engine/async-queue.js";
import type { StreamingError } from "../errors/step-error.js";
import type { Logger } from "./logger.js";
import type { RunMetadata, RunStatus, StageMetadata } from "./metadata.js";
import type { Progress } from "./progress.js";

/**
 * What a run reports while it runs, in order. `time` is epoch milliseconds. Per-item
 * `item` events are sent only when the run was started with `itemEvents: true`.
 *
 * @example
 * ```ts
 * const onEvent = (e: RunEvent) => {
 *   if (e.type === "item:error") console.warn(e.key, e.index, e.error.code);
 *   else if (e.type === "run:end") console.log(e.status, e.durationMs);
 * };
 * const run = pipeline.executeFrom(items, { onEvent });
 * ```
 */
export type RunEvent =
  | {
      /** The run started. */
      type: "run:start";
      /** The run's trace id. */
      traceId: string;
      /** When the run started, epoch ms. */
      time: number;
    }
  | {
      /** The run ended: completed, failed or cancelled. */
      type: "run:end";
      /** The run's trace id. */
      traceId: string;
      /** How the run ended. */
      status: RunStatus;
      /** The run's duration in milliseconds. */
      durationMs: number;
      /** When the run ended, epoch ms. */
      time: number;
    }
  | {
      /** A stage was pulled from for the first time. */
      type: "stage:start";
      /** The stage's key. */
      key: string;
      /** The stage's operator (map, filter, batch, …), as in {@link StageMetadata.kind}. */
      kind: string;
      /** The stage's span id. */
      spanId: string;
      /** When the stage started, epoch ms. */
      time: number;
    }
  | {
      /** A stage ended. */
      type: "stage:end";
      /** The stage's key. */
      key: string;
      /** The stage's operator (map, filter, batch, …). */
      kind: string;
      /** The stage's span id. */
      spanId: string;
      /** How the stage ended. */
      status: "completed" | "failed" | "cancelled";
      /** The stage's final figures. */
      stage: StageMetadata;
      /** When the stage ended, epoch ms. */
      time: number;
    }
  | {
      /** An item failed after its last attempt; sent whatever the error strategy. */
      type: "item:error";
      /** The key of the stage the item failed in. */
      key: string;
      /** The item's index in that stage's input. */
      index: number;
      /** The stage's error strategy, which decides what happens next. */
      strategy: string;
      /** The failure, wrapped with key, index and attempts. */
      error: StreamingError;
      /** When the item failed, epoch ms. */
      time: number;
    }
  | {
      /** An item's call failed and will be retried after a delay. */
      type: "retry";
      /** The stage's key. */
      key: string;
      /** The item's index in the stage's input. */
      index: number;
      /** The attempt about to be made: 2 for the first retry. */
      attempt: number;
      /** The backoff delay before that attempt, in milliseconds. */
      delayMs: number;
      /** What the failed attempt threw. */
      error: unknown;
      /** When the retry was scheduled, epoch ms. */
      time: number;
    }
  | {
      /** A call waited for its stage's rate limit before it could start. */
      type: "throttle";
      /** The stage's key. */
      key: string;
      /** The item's index in the stage's input. */
      index: number;
      /** How long the call waited, in milliseconds. */
      waitedMs: number;
      /** The units the call was charged (`weigh`; 0 without). */
      units: number;
      /** When the call was admitted, epoch ms. */
      time: number;
    }
  | {
      /** A stage's adaptive concurrency limit changed (or an overload paused it). */
      type: "concurrency";
      /** The stage's key. */
      key: string;
      /** The limit from now on. */
      limit: number;
      /** The limit before. */
      previous: number;
      /** `overload`: lowered after a 429/503/Retry-After; `probe`: raised after successes. */
      reason: "overload" | "probe";
      /** How long new calls are paused for the server's Retry-After (0 when none). */
      pauseMs: number;
      /** When it changed, epoch ms. */
      time: number;
    }
  | {
      /** One item's call finished (only with `itemEvents: true`). */
      type: "item";
      /** The stage's key. */
      key: string;
      /** The item's index in the stage's input. */
      index: number;
      /**
       * The item's span id (16 hex characters): the same in every stage for an item and what
       * derives from it 1:1 (map, filter, tap, take, scan, …), so spans and logs can follow
       * one item across stages. A flatMap's outputs keep their input's id; an N:1 output (a
       * batch, window, bufferTime or bufferUntil group) gets an id of its own.
       */
      spanId: string;
      /** How long the item's call took, in milliseconds. */
      durationMs: number;
      /** When the call finished, epoch ms. */
      time: number;
    }
  | {
      /** A periodic progress report (every `progressIntervalMs`). */
      type: "progress";
      /** Where the run stands. */
      progress: Progress;
      /** A snapshot of the run's figures. */
      metadata: RunMetadata;
      /** When the report was taken, epoch ms. */
      time: number;
    };

/**
 * The type of a {@link RunEvent}.
 *
 * @example
 * ```ts
 * const seen = new Map<RunEventType, number>();
 * const run = pipeline.executeFrom(items, {
 *   onEvent: (e) => seen.set(e.type, (seen.get(e.type) ?? 0) + 1),
 * });
 * ```
 */
export type RunEventType = RunEvent["type"];

/** Delivers a run's events to its callback, its `events()` readers and its logger. */
export class EventSink {
  private queue: AsyncQueue<RunEvent> | undefined;
  private ended = false;
  /** Whether anyone listens: emitters skip building events when nobody does. */
  active: boolean;

  constructor(
    private readonly callback: ((event: RunEvent) => void) | undefined,
    readonly logger: Logger | undefined,
    readonly itemEvents: boolean,
  ) {
    this.active = callback !== undefined || logger !== undefined;
  }

  /** An async iterable of every event from now on; ends when the run ends. */
  stream(): AsyncIterable<RunEvent> {
    if (this.queue === undefined) {
      this.queue = new AsyncQueue<RunEvent>();
      // A reader that comes after the end gets an empty stream, not one that never ends.
      if (this.ended) this.queue.end();
    }
    this.active = true;
    return this.queue;
  }

  emit(event: RunEvent): void {
    if (this.callback !== undefined) {
      try {
        this.callback(event);
      } catch (error) {
        // A listener's bug must not break the run it watches.
        this.logger?.error?.({ error, event: event.type }, "sluice: event listener threw");
      }
    }
    this.queue?.push(event);
    if (this.logger !== undefined) {
      try {
        log(this.logger, event);
      } catch {
        // Nor may a logger's: events are emitted from inside the engine's settle paths.
      }
    }
  }

  end(): void {
    this.ended = true;
    this.queue?.end();
  }
}

function log(logger: Logger, e: RunEvent): void {
  switch (e.type) {
    case "run:start":
      logger.info?.({ traceId: e.traceId }, "sluice: run started");
      return;
    case "run:end":
      (e.status === "failed" ? logger.error : logger.info)?.(
        { traceId: e.traceId, status: e.status, durationMs: e.durationMs },
        `sluice: run ${e.status}`,
      );
      return;
    case "stage:start":
      logger.debug?.({ key: e.key, kind: e.kind, spanId: e.spanId }, "sluice: stage started");
      return;
    case "stage:end":
      logger.debug?.(
        { key: e.key, status: e.status, counts: e.stage.counts, durationMs: e.stage.durationMs },
        "sluice: stage ended",
      );
      return;
    case "item:error":
      logger.warn?.(
        { key: e.key, index: e.index, strategy: e.strategy, code: e.error.code, err: e.error },
        "sluice: item failed",
      );
      return;
    case "retry":
      logger.warn?.(
        { key: e.key, index: e.index, attempt: e.attempt, delayMs: e.delayMs },
        "sluice: retrying item",
      );
      return;
    case "concurrency":
      logger.info?.(
        { key: e.key, limit: e.limit, previous: e.previous, reason: e.reason, pauseMs: e.pauseMs },
        "sluice: concurrency limit changed",
      );
      return;
    default:
      return;
  }
}
