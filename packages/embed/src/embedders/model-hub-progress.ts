/**
 * Shows a model download on stderr: a bar per file on a terminal, a plain line now and then
 * elsewhere (CI, pipes), nothing with `--json` or `--quiet`.
 */
import cliProgress from "cli-progress";
import type { ProgressViewKind } from "../cli/progress-view.ts";
import { terminalText } from "../cli/terminal-text.ts";
import type { EmbedConfig } from "../config.ts";
import { type ModelDownloadProgress, resolveModelHost } from "./model-hub.ts";
import { prepareTransformersModel } from "./transformers-model.ts";

/** A view of one model's download, fed its progress events. */
export interface ModelDownloadView {
  update(progress: ModelDownloadProgress): void;
  /** Ends the current bar, if any; idempotent. */
  stop(): void;
}

/** "22.7 MB", "812 kB", "96 B". */
export function formatBytes(bytes: number): string {
  if (bytes >= 1_000_000) return `${(bytes / 1_000_000).toFixed(1)} MB`;
  if (bytes >= 1_000) return `${Math.round(bytes / 1_000)} kB`;
  return `${bytes} B`;
}

function amount(p: ModelDownloadProgress): string {
  if (p.total === undefined) return formatBytes(p.received);
  const percent = p.total === 0 ? 100 : Math.floor((p.received / p.total) * 100);
  return `${percent}% (${formatBytes(p.received)} of ${formatBytes(p.total)})`;
}

/** A bar per file, left on screen once the file is done. */
class TtyDownloadView implements ModelDownloadView {
  private bar: cliProgress.SingleBar | undefined;

  constructor(private readonly stream: NodeJS.WritableStream) {}

  update(p: ModelDownloadProgress): void {
    if (p.phase === "start") {
      this.stop();
      this.bar = new cliProgress.SingleBar({
        stream: this.stream,
        hideCursor: true,
        clearOnComplete: false,
        gracefulExit: false,
        fps: 10,
        format: (options, params, payload: { line?: string }) => {
          const size = options.barsize ?? 30;
          const filled = Math.round(params.progress * size);
          return `  [${"█".repeat(filled)}${"░".repeat(size - filled)}] ${payload.line ?? ""}`;
        },
      });
      this.bar.start(Math.max(1, p.total ?? 1), 0, { line: line(p) });
      return;
    }
    if (this.bar === undefined) return;
    if (p.total !== undefined) this.bar.setTotal(Math.max(1, p.total));
    this.bar.update(p.total === undefined ? 0 : p.received, { line: line(p) });
    if (p.phase === "done") this.stop();
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}

function line(p: ModelDownloadProgress): string {
  return `${terminalText(p.file)} ${p.phase === "done" ? `done (${formatBytes(p.received)})` : amount(p)}`;
}

/** Lines for logs: a file's start and end, and at most one line per `intervalMs` between. */
class PlainDownloadView implements ModelDownloadView {
  private lastAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly stream: NodeJS.WritableStream,
    private readonly intervalMs: number,
    private readonly now: () => number,
  ) {}

  update(p: ModelDownloadProgress): void {
    const file = terminalText(p.file);
    if (p.phase === "start") {
      this.lastAt = this.now();
      const resumed = p.received > 0 ? `, resuming at ${formatBytes(p.received)}` : "";
      const size = p.total === undefined ? "size unknown" : formatBytes(p.total);
      this.stream.write(`[sluice]   ${file} (${size}${resumed})\n`);
    } else if (p.phase === "done") {
      this.stream.write(`[sluice]   ${file} done (${formatBytes(p.received)}, verified)\n`);
    } else if (this.now() - this.lastAt >= this.intervalMs) {
      this.lastAt = this.now();
      this.stream.write(`[sluice]   ${file} ${amount(p)}\n`);
    }
  }

  stop(): void {}
}

/** Makes the download view of a kind; `plainIntervalMs` spaces plain lines (default 2 s). */
export function createModelDownloadView(
  kind: ProgressViewKind,
  stream: NodeJS.WritableStream,
  options: { plainIntervalMs?: number; now?: () => number } = {},
): ModelDownloadView {
  switch (kind) {
    case "tty":
      return new TtyDownloadView(stream);
    case "plain":
      return new PlainDownloadView(
        stream,
        options.plainIntervalMs ?? 2_000,
        options.now ?? (() => performance.now()),
      );
    case "none":
      return { update() {}, stop() {} };
  }
}

/**
 * The CLI's step before a run with a `transformers` hub model: makes sure the model is cached
 * (downloading it unless offline), showing the download on `stream`. Does nothing for another
 * embedder or a `--model-path`, and prints nothing when the model is already cached.
 */
export async function prepareModelWithProgress(
  embedder: EmbedConfig["embedder"],
  options: { kind: ProgressViewKind; stream: NodeJS.WritableStream; signal?: AbortSignal },
): Promise<void> {
  const view = createModelDownloadView(options.kind, options.stream);
  const quiet = options.kind === "none";
  let announced = false;
  try {
    const model = await prepareTransformersModel(embedder, {
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      onProgress: (p) => {
        if (!announced && !quiet) {
          announced = true;
          const host = resolveModelHost(embedder.modelHost);
          options.stream.write(
            `[sluice] downloading model ${terminalText(p.model)} from ${terminalText(host)} (once; later runs use the cache)\n`,
          );
        }
        view.update(p);
      },
    });
    if (announced && model !== undefined) {
      options.stream.write(
        `[sluice] model ${terminalText(embedder.model)} ready in ${terminalText(model.path)} ` +
          `(${formatBytes(model.downloadedBytes)} downloaded)\n`,
      );
    }
  } finally {
    view.stop();
  }
}
