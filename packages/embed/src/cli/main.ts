#!/usr/bin/env node
import { access, writeFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import { Command, CommanderError, Option } from "commander";
import { ConfigError, parseEmbedConfig } from "../config.ts";
import type { EmbedSummary } from "../workflows/session.ts";
import { capHeapGrowth } from "./heap-growth.ts";
import {
  configFromFlags,
  type EmbedFlags,
  nonNegativeInt,
  positiveInt,
  type StoreFlags,
  UsageError,
} from "./options.ts";
import { createProgressView, formatSeconds, pollProgress } from "./progress-view.ts";

/** Where the CLI writes; tests and embedding callers can swap these. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly cwd: string;
}

/** Exit codes: 0 all good, 1 something failed (what succeeded is stored), 2 bad usage or config. */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

function addStoreFlags(command: Command): Command {
  return command
    .option(
      "--store <location>",
      "a folder (PGlite), a postgres:// URL, or a .jsonl file (default: .sluice/store)",
    )
    .addOption(
      new Option("--embedder <kind>", "embedder").choices(["hash", "openai", "transformers"]),
    )
    .option("--endpoint <url>", "base URL of an OpenAI-compatible API, with /v1")
    .option("--model <name>", "embedding model name (openai)")
    .option("--model-path <dir>", "local ONNX model folder (transformers; never downloads)")
    .option("--dimensions <n>", "vector length", positiveInt)
    .option("--config <file.json>", "a JSON workflow config; flags override it");
}

/** Runs the CLI over `argv` (without node and the script) and resolves with the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let code: number = EXIT.ok;
  const program = new Command("sluice")
    .description("Embed a folder of markdown into a vector store and search it.")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .showHelpAfterError("(run with --help for usage)");

  addStoreFlags(
    program
      .command("embed")
      .description("embed the markdown files under <dir>, incrementally")
      .argument("<dir>", "folder to embed")
      .option("--pattern <glob>", 'files to embed, relative to <dir> (default: "**/*.md")')
      .addOption(
        new Option("--mode <mode>", "pipeline builder")
          .choices(["streaming", "batch"])
          .default("streaming"),
      )
      .option("--batch-size <n>", "most chunks per embedding request", positiveInt)
      .option("--batch-tokens <n>", "most tokens per embedding request", positiveInt)
      .option("--concurrency <n>", "files read, cleaned and split at once", positiveInt)
      .option("--embed-concurrency <n>", "embedding requests at once", positiveInt)
      .option("--max-chunk-size <n>", "largest chunk (characters)", positiveInt)
      .option("--min-chunk-size <n>", "smaller chunks merge into a neighbour", nonNegativeInt)
      .option("--chunk-overlap <n>", "repeated text between cut chunks", nonNegativeInt)
      .option("--error-report <file>", "write the JSON error report to this file")
      .option("--json", "print one JSON object (the summary) and nothing else")
      .option("-q, --quiet", "no progress and no summary; the exit code tells"),
  ).action(async (dir: string, flags: EmbedFlags) => {
    code = await embedCommand(dir, flags, io);
  });

  addStoreFlags(
    program
      .command("search")
      .description("find the chunks closest to a query")
      .argument("<query>", "text to search for")
      .option("-k, --k <n>", "number of results", positiveInt, 5)
      .option("--json", 'print { "results": [{ "path", "lines", "score", "text" }] }'),
  ).action(async (query: string, flags: StoreFlags & { k: number; json?: boolean }) => {
    code = await searchCommand(query, flags, io);
  });

  addStoreFlags(
    program
      .command("stats")
      .description("count the chunks and files in a store")
      .option("--json", "print JSON"),
  ).action(async (flags: StoreFlags & { json?: boolean }) => {
    code = await statsCommand(flags, io);
  });

  try {
    await program.parseAsync([...argv], { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    return reportFatal(error, io);
  }
  return code;
}

/** Prints a fatal error; bad values (config, folder, store identity) exit 2, the rest 1. */
function reportFatal(error: unknown, io: CliIo): number {
  const message = error instanceof Error ? error.message : String(error);
  io.stderr.write(`sluice: ${message}\n`);
  // By name: the modules that define these load lazily, only for the command that needs them.
  const name = error instanceof Error ? error.name : "";
  const code = (error as { code?: unknown } | null)?.code;
  const usage =
    error instanceof ConfigError ||
    error instanceof UsageError ||
    name === "DiscoverError" ||
    name === "EmbedderConfigError" ||
    (name === "VectorStoreError" && (code === "identity-mismatch" || code === "invalid-argument"));
  return usage ? EXIT.usage : EXIT.failed;
}

async function embedCommand(dir: string, flags: EmbedFlags, io: CliIo): Promise<number> {
  const input = await configFromFlags(flags, dir);
  // Validate up front: a bad value fails before anything is opened.
  const config = parseEmbedConfig(input, { cwd: io.cwd });
  const kind = flags.json || flags.quiet ? "none" : io.stderr.isTTY ? "tty" : "plain";
  const view = createProgressView(kind, io.stderr);
  let poller: ReturnType<typeof pollProgress> | undefined;
  const controller = new AbortController();
  const onSignal = () => controller.abort(new Error("interrupted"));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  // Loaded here so that --help and bad flags answer without loading the whole workflow.
  const run =
    flags.mode === "batch"
      ? (await import("../workflows/embed-documents.ts")).embedDocuments
      : (await import("../workflows/embed-documents-streaming.ts")).embedDocumentsStreaming;
  const { errorReport } = await import("../workflows/session.ts");
  let summary: EmbedSummary;
  try {
    summary = await run(config, {
      cwd: io.cwd,
      signal: controller.signal,
      onStart: (probe) => {
        poller = pollProgress(probe, view, kind === "tty" ? 150 : 200);
      },
    });
  } catch (error) {
    if (controller.signal.aborted) {
      poller?.stop();
      io.stderr.write("sluice: interrupted; what was stored stays stored, re-run to resume\n");
      return EXIT.interrupted;
    }
    throw error;
  } finally {
    poller?.stop();
    view.stop();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  if (flags.errorReport !== undefined) {
    await writeFile(flags.errorReport, `${JSON.stringify(errorReport(summary), null, 2)}\n`);
  }
  if (flags.json) io.stdout.write(`${JSON.stringify(summary)}\n`);
  else if (!flags.quiet) {
    const where = await displayLocation(config.store);
    io.stdout.write(humanSummary(summary, `${where} (${config.store.kind})`));
  }
  return summary.errors.length > 0 ? EXIT.failed : EXIT.ok;
}

/** The store's location for output: a Postgres URL without its password. */
async function displayLocation(store: { kind: string; location: string }): Promise<string> {
  if (store.kind !== "postgres") return store.location;
  const { redactUrl } = await import("../stores/postgres.ts");
  return redactUrl(store.location);
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}

/** The end-of-run summary for people. */
export function humanSummary(s: EmbedSummary, store: string): string {
  const lines = [
    `Embedded ${s.files} files (${s.mode}) into ${store}`,
    `  files      ${s.files} found, ${s.unchanged} unchanged, ${s.committed} stored, ${s.removed} removed`,
    `  chunks     ${s.chunks} produced, ${s.embedded} embedded`,
    `  skipped    ${s.skipped} files`,
    `  failed     ${s.failed} files (${s.failedChunks} chunks)`,
    `  duration   ${formatSeconds(s.durationMs / 1000)} (${s.durationMs.toFixed(0)} ms)`,
    `  throughput ${s.throughput.toFixed(1)} chunks/s`,
    `  first stored chunk after ${s.timeToFirstStoredChunkMs === null ? "-" : `${s.timeToFirstStoredChunkMs.toFixed(0)} ms`}`,
    `  peak memory ${mib(s.peakRssBytes)} RSS`,
  ];
  if (s.errors.length > 0) {
    lines.push("", "Problems:");
    const shown = s.errors.slice(0, 20);
    for (const e of shown) {
      const where = e.chunkId === undefined ? e.path : `${e.path} (chunk ${e.chunkId.slice(0, 8)})`;
      lines.push(`  ${e.kind} ${where} at ${e.stage}: ${e.code}: ${e.message}`);
    }
    if (s.errors.length > shown.length) {
      lines.push(`  … and ${s.errors.length - shown.length} more (use --json or --error-report)`);
    }
  }
  return `${lines.join("\n")}\n`;
}

async function openForReading(flags: StoreFlags, io: CliIo) {
  const config = parseEmbedConfig(await configFromFlags(flags), { cwd: io.cwd });
  if (config.store.kind !== "postgres") {
    const exists = await access(config.store.location).then(
      () => true,
      () => false,
    );
    if (!exists) {
      throw new UsageError(
        `--store ${config.store.location}: no store there; run "sluice embed <dir>" first`,
      );
    }
  }
  const { createEmbedder } = await import("../embedders/create.ts");
  const { openVectorStore } = await import("../stores/open.ts");
  const embedder = createEmbedder(config.embedder);
  try {
    const store = await openVectorStore(config.store, {
      embedderId: embedder.id,
      dimensions: embedder.dimensions,
    });
    return { config, embedder, store };
  } catch (error) {
    await embedder.close?.();
    throw error;
  }
}

function snippet(text: string, max = 160): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

async function searchCommand(
  query: string,
  flags: StoreFlags & { k: number; json?: boolean },
  io: CliIo,
): Promise<number> {
  const { embedder, store } = await openForReading(flags, io);
  try {
    const [vector] = await embedder.embed([query]);
    const hits = await store.search(vector ?? [], flags.k);
    if (flags.json) {
      const results = hits.map((h) => ({
        path: h.path,
        lines: { start: h.startLine, end: h.endLine },
        score: h.score,
        text: h.text,
      }));
      io.stdout.write(`${JSON.stringify({ results })}\n`);
    } else if (hits.length === 0) {
      io.stdout.write("No results.\n");
    } else {
      io.stdout.write(
        hits
          .map(
            (h, i) =>
              `${i + 1}. ${h.path}:${h.startLine}-${h.endLine}  (score ${h.score.toFixed(3)})\n   ${snippet(h.text)}\n`,
          )
          .join(""),
      );
    }
    return EXIT.ok;
  } finally {
    await store.close();
    await embedder.close?.();
  }
}

async function statsCommand(flags: StoreFlags & { json?: boolean }, io: CliIo): Promise<number> {
  const { config, embedder, store } = await openForReading(flags, io);
  try {
    const stats = await store.stats();
    const location = await displayLocation(config.store);
    const out = { store: location, kind: config.store.kind, ...stats };
    if (flags.json) io.stdout.write(`${JSON.stringify(out)}\n`);
    else {
      io.stdout.write(
        `${location} (${out.kind})\n  chunks     ${out.chunks}\n  files      ${out.files}\n` +
          `  embedder   ${out.embedderId}\n  dimensions ${out.dimensions}\n`,
      );
    }
    return EXIT.ok;
  } finally {
    await store.close();
    await embedder.close?.();
  }
}

/** Entry point when run as a program. */
export async function main(): Promise<void> {
  capHeapGrowth();
  const code = await runCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    cwd: process.cwd(),
  });
  process.exitCode = code;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  await main();
}
