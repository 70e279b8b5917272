import cliProgress from "cli-progress";
import type { ProgressProbe, ProgressSnapshot, StageProgress } from "../workflows/progress.ts";
import { terminalText } from "./terminal-text.ts";

/**
 * Shows a run's progress. It is fed snapshots and knows nothing of where they come from: today a
 * poller over `run.metadata()`, later possibly the library's event stream.
 */
export interface ProgressView {
  update(snapshot: ProgressSnapshot): void;
  /** Draws the last state and releases the terminal; idempotent. */
  stop(): void;
}

/** How progress is shown: live bars (a terminal), periodic log lines (CI, pipes), or not at all. */
export type ProgressViewKind = "tty" | "plain" | "none";

/** Per-stage rates over a sliding window of recent snapshots. */
class Rates {
  private readonly samples: { at: number; out: Map<string, number>; done: number }[] = [];
  constructor(private readonly windowMs = 2_000) {}

  add(s: ProgressSnapshot): void {
    this.samples.push({
      at: s.elapsedMs,
      out: new Map(s.stages.map((st) => [st.key, st.out])),
      done: s.files.done,
    });
    while (this.samples.length > 2 && s.elapsedMs - (this.samples[0]?.at ?? 0) > this.windowMs) {
      this.samples.shift();
    }
  }

  private span():
    | { first: Rates["samples"][number]; last: Rates["samples"][number]; dt: number }
    | undefined {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (first === undefined || last === undefined || last.at - first.at <= 0) return undefined;
    return { first, last, dt: (last.at - first.at) / 1000 };
  }

  stage(key: string): number {
    const span = this.span();
    if (span === undefined) return 0;
    return ((span.last.out.get(key) ?? 0) - (span.first.out.get(key) ?? 0)) / span.dt;
  }

  /** Seconds left for the files, from the recent file rate; undefined when unknown. */
  eta(s: ProgressSnapshot): number | undefined {
    const span = this.span();
    const left = s.files.total - s.files.done;
    if (span === undefined || s.files.total === 0) return undefined;
    if (left <= 0) return 0;
    const rate = (span.last.done - span.first.done) / span.dt;
    return rate > 0 ? left / rate : undefined;
  }
}

function formatRate(perSecond: number): string {
  return perSecond >= 100 ? perSecond.toFixed(0) : perSecond.toFixed(1);
}

/** "1m 05s", "12s", or "?" when unknown. */
export function formatSeconds(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

/** One stage's line: counts, rate, in-flight over concurrency, errors. */
export function stageLine(stage: StageProgress, rate: number, width = 11): string {
  const flight =
    stage.concurrency === undefined
      ? `${stage.inFlight}`
      : `${stage.inFlight}/${stage.concurrency}`;
  const retried = stage.retried > 0 ? ` retried ${stage.retried}` : "";
  return (
    `${terminalText(stage.key).padEnd(width)} in ${String(stage.in).padStart(6)}  out ${String(stage.out).padStart(6)}` +
    `  ${formatRate(rate).padStart(7)}/s  in flight ${flight.padEnd(5)}  errors ${stage.failed}${retried}`
  );
}

function overallLine(s: ProgressSnapshot, eta: number | undefined): string {
  const total = s.files.total === 0 ? "?" : String(s.files.total);
  return (
    `${s.mode}: ${s.files.done}/${total} files, ${s.embedded} chunks stored, ${s.errors} errors, ` +
    `${formatSeconds(s.elapsedMs / 1000)} elapsed, ETA ${formatSeconds(eta)}`
  );
}

/** Live bars on a terminal: one line per stage and an overall bar with the ETA. */
class TtyView implements ProgressView {
  private readonly bars: cliProgress.MultiBar;
  private readonly stageBars = new Map<string, cliProgress.SingleBar>();
  private overall: cliProgress.SingleBar | undefined;
  private readonly rates = new Rates();
  private stopped = false;

  constructor(stream: NodeJS.WritableStream) {
    this.bars = new cliProgress.MultiBar({
      stream,
      hideCursor: true,
      clearOnComplete: false,
      gracefulExit: false,
      fps: 10,
      format: (_options, _params, payload: { line?: string }) => payload.line ?? "",
    });
  }

  update(s: ProgressSnapshot): void {
    if (this.stopped) return;
    this.rates.add(s);
    const width = Math.max(...s.stages.map((st) => st.key.length), 8) + 1;
    for (const stage of s.stages) {
      let bar = this.stageBars.get(stage.key);
      if (bar === undefined) {
        bar = this.bars.create(1, 0, { line: "" });
        this.stageBars.set(stage.key, bar);
      }
      bar.update(0, { line: `  ${stageLine(stage, this.rates.stage(stage.key), width)}` });
    }
    const eta = this.rates.eta(s);
    if (this.overall === undefined) {
      this.overall = this.bars.create(
        Math.max(1, s.files.total),
        0,
        { line: "" },
        {
          format: (options, params, payload: { line?: string }) =>
            `  [${"█".repeat(Math.round(params.progress * (options.barsize ?? 30)))}${"░".repeat(
              (options.barsize ?? 30) - Math.round(params.progress * (options.barsize ?? 30)),
            )}] ${payload.line ?? ""}`,
        },
      );
    }
    this.overall.setTotal(Math.max(1, s.files.total));
    this.overall.update(Math.min(s.files.done, Math.max(1, s.files.total)), {
      line: overallLine(s, eta),
    });
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.bars.stop();
  }
}

/** Plain lines for logs: at most one every `intervalMs`, plus a last one at stop. */
class PlainView implements ProgressView {
  private readonly rates = new Rates();
  private lastAt = Number.NEGATIVE_INFINITY;
  private last: ProgressSnapshot | undefined;
  private stopped = false;

  constructor(
    private readonly stream: NodeJS.WritableStream,
    private readonly intervalMs: number,
  ) {}

  update(s: ProgressSnapshot): void {
    if (this.stopped) return;
    this.rates.add(s);
    this.last = s;
    if (s.elapsedMs - this.lastAt < this.intervalMs) return;
    this.lastAt = s.elapsedMs;
    this.write(s);
  }

  private write(s: ProgressSnapshot): void {
    const stages = s.stages
      .filter((st) => st.key !== "changed")
      .map(
        (st) =>
          `${terminalText(st.key)} in ${st.in} out ${st.out}${st.failed ? ` failed ${st.failed}` : ""}`,
      )
      .join(", ");
    this.stream.write(`[sluice] ${overallLine(s, this.rates.eta(s))} | ${stages}\n`);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.last !== undefined && this.last.elapsedMs !== this.lastAt) this.write(this.last);
  }
}

/** Makes the view of a kind; `plainIntervalMs` spaces plain lines (default 2 s). */
export function createProgressView(
  kind: ProgressViewKind,
  stream: NodeJS.WritableStream,
  options: { plainIntervalMs?: number } = {},
): ProgressView {
  switch (kind) {
    case "tty":
      return new TtyView(stream);
    case "plain":
      return new PlainView(stream, options.plainIntervalMs ?? 2_000);
    case "none":
      return { update() {}, stop() {} };
  }
}

/** A running poll of a probe into a view; `stop()` takes a last snapshot and clears the timer. */
export interface ProgressPoller {
  stop(): void;
}

/** Feeds `view` from `probe` every `intervalMs` (default 150 ms). */
export function pollProgress(
  probe: ProgressProbe,
  view: ProgressView,
  intervalMs = 150,
): ProgressPoller {
  const tick = () => {
    try {
      view.update(probe());
    } catch {
      // A snapshot is best effort; the run's own outcome is reported elsewhere.
    }
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  // Never the reason the process stays alive.
  timer.unref();
  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      tick();
      view.stop();
    },
  };
}
