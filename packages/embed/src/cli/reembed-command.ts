import { writeFile } from "node:fs/promises";
import { type Command, Option } from "commander";
import { parseEmbedConfig } from "../config.ts";
import type { StoreLocation } from "../stores/open.ts";
import type { ReembedSummary } from "../workflows/reembed.ts";
import { handleInterrupts } from "./interrupt.ts";
import { type CliIo, displayLocation, EXIT } from "./main.ts";
import {
  choosesEmbedder,
  configFromFlags,
  positiveInt,
  type StoreFlags,
  UsageError,
  withStoreEmbedder,
} from "./options.ts";
import { createProgressView, formatSeconds, pollProgress } from "./progress-view.ts";
import { checkStoreLocation } from "./store-location.ts";
import { terminalText } from "./terminal-text.ts";

type StoreKindFlag = NonNullable<StoreFlags["storeKind"]>;

/** Flags of `sluice reembed`. */
export interface ReembedFlags {
  from: string;
  fromKind?: StoreKindFlag;
  to: string;
  toKind?: StoreKindFlag;
  embedder?: StoreFlags["embedder"];
  endpoint?: string;
  model?: string;
  modelPath?: string;
  dimensions?: number;
  config?: string;
  batchSize?: number;
  batchTokens?: number;
  embedConcurrency?: number;
  json?: boolean;
  quiet?: boolean;
  errorReport?: string;
}

const KINDS = ["sqlite", "jsonl", "postgres", "pglite"];

/** Adds `sluice reembed --from <store> --to <store>` to the program; `done` gets the exit code. */
export function registerReembedCommand(
  program: Command,
  io: CliIo,
  done: (code: number) => void,
): void {
  program
    .command("reembed")
    .description(
      "copy every chunk of one store into another, re-embedding it (new embedder and/or store kind); resumable",
    )
    .requiredOption("--from <store>", "the store to read: an SQLite file, a .jsonl, postgres://")
    .addOption(new Option("--from-kind <kind>", "kind of the --from store").choices(KINDS))
    .requiredOption("--to <store>", "the store to write (created if missing; resumed if partial)")
    .addOption(new Option("--to-kind <kind>", "kind of the --to store").choices(KINDS))
    .addOption(
      new Option(
        "--embedder <kind>",
        "embedder of the new vectors (default: the --to store's, else the --from store's)",
      ).choices(["hash", "openai", "transformers"]),
    )
    .option("--endpoint <url>", "base URL of an OpenAI-compatible API, with /v1")
    .option("--model <name>", "embedding model name (openai)")
    .option("--model-path <dir>", "local ONNX model folder (transformers; never downloads)")
    .option("--dimensions <n>", "vector length", positiveInt)
    .option("--config <file.json>", "a JSON workflow config (embedder, batch); flags override it")
    .option("--batch-size <n>", "most chunks per embedding request", positiveInt)
    .option("--batch-tokens <n>", "most tokens per embedding request", positiveInt)
    .option("--embed-concurrency <n>", "embedding requests at once", positiveInt)
    .option("--error-report <file>", "write the JSON error report to this file")
    .option("--json", "print one JSON object (the summary) and nothing else")
    .option("-q, --quiet", "no progress and no summary; the exit code tells")
    .action(async (flags: ReembedFlags) => {
      done(await reembedCommand(flags, io));
    });
}

/** `sluice reembed`: see {@link registerReembedCommand}. */
export async function reembedCommand(flags: ReembedFlags, io: CliIo): Promise<number> {
  const storeFlags: StoreFlags = {
    store: flags.to,
    ...(flags.toKind === undefined ? {} : { storeKind: flags.toKind }),
    ...(flags.config === undefined ? {} : { config: flags.config }),
    ...(flags.embedder === undefined ? {} : { embedder: flags.embedder }),
    ...(flags.endpoint === undefined ? {} : { endpoint: flags.endpoint }),
    ...(flags.model === undefined ? {} : { model: flags.model }),
    ...(flags.modelPath === undefined ? {} : { modelPath: flags.modelPath }),
    ...(flags.dimensions === undefined ? {} : { dimensions: flags.dimensions }),
  };
  const input = (await configFromFlags(storeFlags, undefined, io.cwd)) as Record<string, unknown>;
  const batch = { ...((input.batch as object | undefined) ?? {}) } as Record<string, unknown>;
  if (flags.batchSize !== undefined) batch.size = flags.batchSize;
  if (flags.batchTokens !== undefined) batch.maxTokens = flags.batchTokens;
  const embedderSection = { ...((input.embedder as object | undefined) ?? {}) } as Record<
    string,
    unknown
  >;
  if (flags.embedConcurrency !== undefined) embedderSection.concurrency = flags.embedConcurrency;
  let toInput = { ...input, batch, embedder: embedderSection };
  let config = parseEmbedConfig(toInput, { cwd: io.cwd });
  // --from is a location like --store: resolved from the working folder, kind inferred.
  const fromConfig = parseEmbedConfig(
    { store: { location: flags.from, ...(flags.fromKind ? { kind: flags.fromKind } : {}) } },
    { cwd: io.cwd },
  );
  const from: StoreLocation = fromConfig.store;
  await checkStoreLocation(from);
  await checkStoreLocation(config.store);
  const { readStoreIdentity } = await import("../stores/open.ts");
  const source = await readStoreIdentity(from);
  if (source === undefined) {
    throw new UsageError(
      `--from ${terminalText(await displayLocation(from))}: no store there; nothing to re-embed`,
    );
  }
  // No embedder chosen: keep the target's (a resumed run), else the source's (a kind move).
  if (!choosesEmbedder(toInput as never)) {
    const recorded = (await readStoreIdentity(config.store))?.embedder ?? source.embedder;
    if (recorded !== undefined) {
      toInput = withStoreEmbedder(toInput as never, recorded) as typeof toInput;
      config = parseEmbedConfig(toInput, { cwd: io.cwd });
    }
  }
  const kind = flags.json || flags.quiet ? "none" : io.stderr.isTTY ? "tty" : "plain";
  const view = createProgressView(kind, io.stderr);
  let poller: ReturnType<typeof pollProgress> | undefined;
  const interrupts = handleInterrupts({ stderr: io.stderr });
  let summary: ReembedSummary;
  try {
    const { reembedStore } = await import("../workflows/reembed.ts");
    summary = await reembedStore(from, config, {
      cwd: io.cwd,
      signal: interrupts.signal,
      onStart: (probe) => {
        poller = pollProgress(probe, view, kind === "tty" ? 150 : 200);
      },
    });
  } catch (error) {
    if (interrupts.signal.aborted) {
      poller?.stop();
      io.stderr.write(
        "sluice: interrupted; what was committed stays, re-run the same command to resume\n",
      );
      return EXIT.interrupted;
    }
    throw error;
  } finally {
    poller?.stop();
    view.stop();
    interrupts.dispose();
  }
  if (flags.errorReport !== undefined) {
    const { errors, failed, failedChunks } = summary;
    await writeFile(
      flags.errorReport,
      `${JSON.stringify({ skipped: 0, failed, failedChunks, errors }, null, 2)}\n`,
    );
  }
  if (flags.json) io.stdout.write(`${JSON.stringify(summary)}\n`);
  else if (!flags.quiet) {
    const where = `${terminalText(await displayLocation(config.store))} (${config.store.kind})`;
    io.stdout.write(reembedText(summary, where));
  }
  return summary.errors.length > 0 ? EXIT.failed : EXIT.ok;
}

/** The end-of-run summary for people; the first line says what happened. */
export function reembedText(s: ReembedSummary, target: string): string {
  const lines = [
    `Re-embedded ${s.files} files of ${s.collections} collection${s.collections === 1 ? "" : "s"} into ${target}: ` +
      `${s.committed} stored, ${s.unchanged} already there` +
      `${s.failed > 0 ? `, ${s.failed} failed` : ""}${s.removed > 0 ? `, ${s.removed} removed` : ""}`,
    `  chunks     ${s.chunks} read, ${s.embedded} embedded`,
    `  vectors    ${s.sameEmbedder ? "same embedder as the source (file hashes kept)" : "a new embedder"}`,
    `  duration   ${formatSeconds(s.durationMs / 1000)} (${s.durationMs.toFixed(0)} ms)`,
    `  throughput ${s.throughput.toFixed(1)} chunks/s`,
    `  peak memory ${(s.peakRssBytes / 1024 / 1024).toFixed(0)} MiB RSS`,
  ];
  if (s.errors.length > 0) {
    lines.push("", "Problems (re-run to retry):");
    for (const e of s.errors.slice(0, 20)) {
      const where = e.chunkId === undefined ? e.path : `${e.path} (chunk ${e.chunkId.slice(0, 8)})`;
      lines.push(
        `  ${e.kind} ${terminalText(where)} at ${e.stage}: ${e.code}: ${terminalText(e.message)}`,
      );
    }
    if (s.errors.length > 20) {
      lines.push(`  … and ${s.errors.length - 20} more (use --json or --error-report)`);
    }
  }
  return `${lines.join("\n")}\n`;
}
