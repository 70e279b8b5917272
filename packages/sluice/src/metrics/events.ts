import { AsyncQueue } from "../engine/async-queue.js";
import type { StreamingError } from "../errors/step-error.js";
import type { Logger } from "./logger.js";
import type { RunMetadata, RunStatus, StageMetadata } from "./metadata.js";
import type { Progress } from "./progress.js";

/**
 * What a run reports while it runs, in order. `time` is epoch milliseconds. Per-item
 * `item` events are sent only when the run was started with `itemEvents: true`.
 */
export type RunEvent =
  | { type: "run:start"; traceId: string; time: number }
  | { type: "run:end"; traceId: string; status: RunStatus; durationMs: number; time: number }
  | { type: "stage:start"; key: string; kind: string; spanId: string; time: number }
  | {
      type: "stage:end";
      key: string;
      kind: string;
      spanId: string;
      status: "completed" | "failed" | "cancelled";
      stage: StageMetadata;
      time: number;
    }
  | {
      type: "item:error";
      key: string;
      index: number;
      strategy: string;
      error: StreamingError;
      time: number;
    }
  | {
      type: "retry";
      key: string;
      index: number;
      attempt: number;
      delayMs: number;
      error: unknown;
      time: number;
    }
  | { type: "item"; key: string; index: number; durationMs: number; time: number }
  | { type: "progress"; progress: Progress; metadata: RunMetadata; time: number };

/** The type of a {@link RunEvent}. */
export type RunEventType = RunEvent["type"];

/** Delivers a run's events to its callback, its `events()` readers and its logger. */
export class EventSink {
  private queue: AsyncQueue<RunEvent> | undefined;
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
    this.queue ??= new AsyncQueue<RunEvent>();
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
    if (this.logger !== undefined) log(this.logger, event);
  }

  end(): void {
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
    default:
      return;
  }
}
