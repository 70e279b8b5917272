#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import { Command, CommanderError, Option } from "commander";
import { ConfigError, type EmbedConfig, parseEmbedConfig } from "../config.ts";
import type { Embedder } from "../embedders/embedder.ts";
import { DEFAULT_QUEUE_NAME } from "../queue/messages.ts";
import type { SearchHit, SearchMode, StoreIdentity, VectorStore } from "../stores/vector-store.ts";
import { preparePoolFor } from "../workflows/prepare-pool.ts";
import type { EmbedSummary, EmbedWorkflowOptions } from "../workflows/session.ts";
import { registerAskCommand } from "./ask-command.ts";
import { capHeapGrowth, capYoungGeneration } from "./heap-growth.ts";
import { handleInterrupts } from "./interrupt.ts";
import {
  choosesEmbedder,
  collect,
  configFromFlags,
  type EmbedFlags,
  nonNegativeInt,
  positiveInt,
  type StoreFlags,
  UsageError,
  withStoreEmbedder,
} from "./options.ts";
import { createProgressView, formatSeconds, pollProgress } from "./progress-view.ts";
import { registerReembedCommand } from "./reembed-command.ts";
import { checkStoreLocation, legacyStoreNote } from "./store-location.ts";
import { terminalText } from "./terminal-text.ts";

/** Where the CLI writes; tests and embedding callers can swap these. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly cwd: string;
}

/** Exit codes: 0 all good, 1 something failed (what succeeded is stored), 2 bad usage or config. */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

/** The package's version, for `--version`. */
function packageVersion(): string {
  const file = new URL("../../package.json", import.meta.url);
  return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
}

/**
 * The flags that tune a run's stages, shared by `embed` and `worker`: one definition, so a
 * worker takes every limit a single-process run does (`--rpm`/`--tpm` included).
 */
function addRunFlags(command: Command): Command {
  return command
    .option("--batch-size <n>", "most chunks per embedding request", positiveInt)
    .option("--batch-tokens <n>", "most tokens per embedding request", positiveInt)
    .option("--concurrency <n>", "files read, cleaned and split at once", positiveInt)
    .option("--embed-concurrency <n>", "embedding requests at once", positiveInt)
    .option("--rpm <n>", "requests per minute the embedding API allows (openai)", positiveInt)
    .option("--tpm <n>", "tokens per minute the embedding API allows (openai)", positiveInt)
    .option(
      "--threads <n>",
      "worker threads that read, parse and split files (default: cores - 1, at least 1; 0: none)",
      nonNegativeInt,
    )
    .option(
      "--parse-timeout <ms>",
      "a file whose markdown takes longer to parse is skipped (PARSE_TIMEOUT; default 10000)",
      positiveInt,
    );
}

function addStoreFlags(command: Command): Command {
  return command
    .option(
      "--store <location>",
      "an SQLite file, a .jsonl file, or a postgres:// URL (default: .sluice/store.db)",
    )
    .addOption(
      new Option(
        "--store-kind <kind>",
        "store kind, instead of inferring it from the location",
      ).choices(["sqlite", "jsonl", "postgres", "pglite"]),
    )
    .addOption(
      new Option("--embedder <kind>", "embedder").choices(["hash", "openai", "transformers"]),
    )
    .option("--endpoint <url>", "base URL of an OpenAI-compatible API, with /v1")
    .option(
      "--model <name>",
      "embedding model: a model name (openai), or a hub model id such as Xenova/all-MiniLM-L6-v2 (transformers; downloaded once into the cache)",
    )
    .option("--model-path <dir>", "local ONNX model folder (transformers; never downloads)")
    .option(
      "--cache-dir <dir>",
      "model cache for --model (transformers; default: $XDG_CACHE_HOME/sluice/models or ~/.cache/sluice/models)",
    )
    .option(
      "--model-host <url>",
      "hub to download --model from (default: $SLUICE_MODEL_HOST or https://huggingface.co)",
    )
    .option("--offline", "never download: a --model not in the cache is an error")
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
    .showHelpAfterError("(run with --help for usage)")
    .version(packageVersion(), "--version", "print the version");

  addStoreFlags(
    addRunFlags(program.command("embed"))
      .description("embed the markdown files under <dir>, incrementally")
      .argument("<dir>", "folder to embed")
      .option("--pattern <glob>", 'files to embed, relative to <dir> (default: "**/*.md")')
      .option(
        "--collection <name>",
        "the collection to write (default: the real path of <dir>); other collections are never touched",
      )
      .option(
        "--ignore <glob>",
        "leave out matching files (repeatable; adds to the defaults)",
        collect,
      )
      .option("--no-default-ignores", "do not leave out node_modules and .git folders")
      .option("--include-hidden", "include files and folders whose names start with a dot")
      .option("--follow-symlinks", "follow links that point outside <dir> (default: skip them)")
      .addOption(
        new Option("--mode <mode>", "pipeline builder")
          .choices(["streaming", "batch"])
          .default("streaming"),
      )
      .option("--max-chunk-size <n>", "largest chunk (characters)", positiveInt)
      .option("--min-chunk-size <n>", "smaller chunks merge into a neighbour", nonNegativeInt)
      .option("--chunk-overlap <n>", "repeated text between cut chunks", nonNegativeInt)
      .option("--error-report <file>", "write the JSON error report to this file")
      .option("--json", "print one JSON object (the summary) and nothing else")
      .option("-q, --quiet", "no progress and no summary; the exit code tells")
      .option(
        "--queue <redis-url>",
        "enqueue the new and changed files on this Redis (redis://host:port[/db]) for `sluice worker`s, and wait for their results (needs a postgres:// store)",
      )
      .option(
        "--queue-name <name>",
        `the queue's name, the prefix of its Redis keys (default "${DEFAULT_QUEUE_NAME}")`,
      ),
  ).action(async (dir: string, flags: EmbedFlags) => {
    code = await embedCommand(dir, flags, io);
  });

  addStoreFlags(
    addRunFlags(program.command("worker"))
      .description(
        "embed the files that `sluice embed --queue` enqueues, into the shared postgres:// store, until stopped",
      )
      .requiredOption("--queue <redis-url>", "the queue's Redis: redis://host:port[/db]")
      .option(
        "--queue-name <name>",
        `the queue's name, the prefix of its Redis keys (default "${DEFAULT_QUEUE_NAME}")`,
      )
      .option(
        "--exit-when-idle",
        "exit once the queue is drained (nothing new, nothing pending); started on an empty queue, wait for its first file",
      )
      .option("--consumer <name>", "this worker's name in the group (default: host:pid)")
      .option(
        "--claim-idle <ms>",
        "take over files another worker left pending this long (a dead worker's; default 60000)",
        positiveInt,
      )
      .option(
        "--max-deliveries <n>",
        "a file that failed this many times is reported failed and dead-lettered (default 5)",
        positiveInt,
      )
      .option("--json", "print one JSON object (what this worker did) when it stops")
      .option("-q, --quiet", "print nothing; the exit code tells"),
  ).action(async (flags: WorkerFlags) => {
    code = await workerCommand(flags, io);
  });

  addStoreFlags(
    program
      .command("search")
      .description("find the chunks that best match a query, in every collection of the store")
      .argument("<query>", "text to search for")
      .option("-k, --k <n>", "number of results", positiveInt, 5)
      .option("--collection <dir|name>", "search only this collection (a folder or a name)")
      .addOption(
        new Option("--mode <mode>", "rank by vector similarity, by words (BM25), or both fused")
          .choices(["vector", "lexical", "hybrid"])
          .default("hybrid"),
      )
      .option(
        "--json",
        'print { "results": [{ "collection", "path", "lines", "score", "signals", "text" }] }',
      ),
  ).action(async (query: string, flags: SearchFlags) => {
    code = await searchCommand(query, flags, io);
  });

  registerAskCommand(program, io, addStoreFlags, (c) => {
    code = c;
  });
  registerReembedCommand(program, io, (c) => {
    code = c;
  });

  addStoreFlags(
    program
      .command("collections")
      .description("list the collections (embedded folders) in a store, with their counts")
      .option("--json", "print JSON"),
  ).action(async (flags: StoreFlags & { json?: boolean }) => {
    code = await collectionsCommand(flags, io);
  });

  addStoreFlags(
    program
      .command("remove")
      .description("delete a collection (an embedded folder, or a --collection name) from a store")
      .argument("<collection>", "the folder that was embedded, or the collection's name"),
  ).action(async (name: string, flags: StoreFlags) => {
    code = await removeCommand(name, flags, io);
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

/** Store errors that the user can fix by what they type: they exit 2. */
const USAGE_STORE_CODES = new Set([
  "locked",
  "identity-mismatch",
  "invalid-argument",
  "not-found",
  "old-schema",
]);

/**
 * Prints a fatal error; bad values (config, folder, no files, store identity, a locked or old
 * store) exit 2, the rest 1.
 */
function reportFatal(error: unknown, io: CliIo): number {
  const message = error instanceof Error ? error.message : String(error);
  io.stderr.write(`sluice: ${terminalText(message)}\n`);
  // By name: the modules that define these load lazily, only for the command that needs them.
  const name = error instanceof Error ? error.name : "";
  const code = (error as { code?: unknown } | null)?.code;
  const usage =
    error instanceof ConfigError ||
    error instanceof UsageError ||
    name === "DiscoverError" ||
    name === "NoFilesError" ||
    name === "EmbedderConfigError" ||
    (name === "ModelDownloadError" && (code === "not-found" || code === "unauthorized")) ||
    (name === "VectorStoreError" && typeof code === "string" && USAGE_STORE_CODES.has(code));
  return usage ? EXIT.usage : EXIT.failed;
}

async function embedCommand(dir: string, flags: EmbedFlags, io: CliIo): Promise<number> {
  const input = await configFromFlags(flags, dir, io.cwd);
  // Validate up front: a bad value, a missing folder or a store path of the wrong kind fails
  // before anything is opened or created.
  let config = parseEmbedConfig(input, { cwd: io.cwd });
  const { collectionOf } = await import("../workflows/session.ts");
  await collectionOf(config);
  await checkStoreLocation(config.store);
  const note = flags.quiet ? undefined : await legacyStoreNote(config.store, io.cwd);
  if (note !== undefined) io.stderr.write(`sluice: note: ${note}\n`);
  // An existing store names its embedder: flags and config only override it.
  const { readStoreIdentity } = await import("../stores/open.ts");
  const recorded = (await readStoreIdentity(config.store))?.embedder;
  if (recorded !== undefined) {
    config = parseEmbedConfig(withStoreEmbedder(input, recorded), { cwd: io.cwd });
  }
  if (flags.queue !== undefined) checkQueueStore(config, "sluice embed --queue", flags.mode);
  const kind = flags.json || flags.quiet ? "none" : io.stderr.isTTY ? "tty" : "plain";
  const view = createProgressView(kind, io.stderr);
  let poller: ReturnType<typeof pollProgress> | undefined;
  // Ctrl-C: the first stops the run within a second (exit 130), a second exits at once.
  const interrupts = handleInterrupts({ stderr: io.stderr });
  // Prepare workers take a few hundred ms to start: started now, that overlaps loading the
  // workflow and opening the store, rather than delaying the first file. A queue run prepares
  // nothing itself: its workers do.
  const pool = flags.queue === undefined ? preparePoolFor(config, interrupts.signal) : undefined;
  pool?.warmUp();
  let summary: EmbedSummary;
  let errorReport: typeof import("../workflows/session.ts")["errorReport"];
  try {
    // Loaded here so that --help and bad flags answer without loading the whole workflow.
    const queue = flags.queue;
    const run =
      queue !== undefined
        ? await queuedRun(queue, flags.queueName)
        : flags.mode === "batch"
          ? (await import("../workflows/embed-documents.ts")).embedDocuments
          : (await import("../workflows/embed-documents-streaming.ts")).embedDocumentsStreaming;
    ({ errorReport } = await import("../workflows/session.ts"));
    // A hub model is downloaded (once) before the run, with its own progress.
    const { prepareModelWithProgress } = await import("../embedders/model-hub-progress.ts");
    await prepareModelWithProgress(config.embedder, {
      kind,
      stream: io.stderr,
      signal: interrupts.signal,
    });
    summary = await run(config, {
      cwd: io.cwd,
      signal: interrupts.signal,
      ...(pool ? { pool } : {}),
      onStart: (probe) => {
        poller = pollProgress(probe, view, kind === "tty" ? 150 : 200);
      },
    });
  } catch (error) {
    if (interrupts.signal.aborted) {
      poller?.stop();
      io.stderr.write(
        flags.queue === undefined
          ? "sluice: interrupted; what was stored stays stored, re-run to resume\n"
          : "sluice: interrupted; the files already enqueued stay queued and the workers still store them, but this run no longer waits for them: re-run to prune and to report\n",
      );
      return EXIT.interrupted;
    }
    throw error;
  } finally {
    poller?.stop();
    view.stop();
    await pool?.close();
    interrupts.dispose();
  }
  if (flags.errorReport !== undefined) {
    await writeFile(flags.errorReport, `${JSON.stringify(errorReport(summary), null, 2)}\n`);
  }
  if (flags.json) io.stdout.write(`${JSON.stringify(summary)}\n`);
  else if (!flags.quiet) {
    const where = await displayLocation(config.store);
    io.stdout.write(humanSummary(summary, `${terminalText(where)} (${config.store.kind})`));
  }
  return summary.errors.length > 0 ? EXIT.failed : EXIT.ok;
}

/** The queue run as a workflow function of the same shape as the single-process ones. */
async function queuedRun(queue: string, queueName: string | undefined) {
  const { embedDocumentsQueued } = await import("../queue/coordinator.ts");
  return (
    config: EmbedConfig,
    options: { cwd: string; signal: AbortSignal; onStart: EmbedWorkflowOptions["onStart"] },
  ) =>
    embedDocumentsQueued(config, {
      ...options,
      queue,
      ...(queueName === undefined ? {} : { queueName }),
    });
}

/**
 * A queue run's processes share one store from many machines: only Postgres can be that (the
 * local stores are files one process writes). Checked before anything is opened.
 */
function checkQueueStore(config: EmbedConfig, command: string, mode?: string): void {
  if (config.store.kind !== "postgres") {
    throw new UsageError(
      `${command} needs a postgres:// store that every worker can reach; ${terminalText(config.store.location)} is a ${config.store.kind} store, which only one process on one machine can write`,
    );
  }
  if (mode === "batch") {
    throw new UsageError(`${command} runs no pipeline of its own: leave out --mode batch`);
  }
}

/** Flags of `sluice worker`. */
interface WorkerFlags extends StoreFlags {
  queue: string;
  queueName?: string;
  exitWhenIdle?: boolean;
  consumer?: string;
  claimIdle?: number;
  maxDeliveries?: number;
  concurrency?: number;
  embedConcurrency?: number;
  batchSize?: number;
  batchTokens?: number;
  rpm?: number;
  tpm?: number;
  threads?: number;
  parseTimeout?: number;
  json?: boolean;
  quiet?: boolean;
}

/**
 * `sluice worker`: embeds queued files until stopped. SIGTERM or Ctrl-C stop reading and let
 * the files read finish and be acknowledged (exit 0); a second signal abandons them (they stay
 * pending, for other workers) and exits 130.
 */
async function workerCommand(flags: WorkerFlags, io: CliIo): Promise<number> {
  const input = await configFromFlags({ ...flags, mode: "streaming" }, undefined, io.cwd);
  let config = parseEmbedConfig(input, { cwd: io.cwd });
  checkQueueStore(config, "sluice worker");
  await checkStoreLocation(config.store);
  // The store names its embedder, as for `sluice embed`: flags only override it.
  const { readStoreIdentity } = await import("../stores/open.ts");
  const recorded = (await readStoreIdentity(config.store))?.embedder;
  if (recorded !== undefined) {
    config = parseEmbedConfig(withStoreEmbedder(input, recorded), { cwd: io.cwd });
  }
  const { runQueueWorker } = await import("../queue/worker.ts");
  const { redactRedisUrl } = await import("@sluice/redis");
  const end = new AbortController();
  const abort = new AbortController();
  let signals = 0;
  const onSignal = () => {
    signals += 1;
    if (signals === 1) {
      if (!flags.quiet) {
        io.stderr.write(
          "sluice worker: stopping: finishing the files in hand (again to abandon them)\n",
        );
      }
      end.abort();
    } else abort.abort(new Error("interrupted"));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    if (!flags.quiet && !flags.json) {
      io.stderr.write(
        `sluice worker: taking files from ${terminalText(redactRedisUrl(flags.queue))} into ${terminalText(await displayLocation(config.store))}\n`,
      );
    }
    const summary = await runQueueWorker(config, {
      cwd: io.cwd,
      queue: flags.queue,
      ...(flags.queueName === undefined ? {} : { queueName: flags.queueName }),
      ...(flags.consumer === undefined ? {} : { consumer: flags.consumer }),
      ...(flags.claimIdle === undefined ? {} : { claimIdleMs: flags.claimIdle }),
      ...(flags.maxDeliveries === undefined ? {} : { maxDeliveries: flags.maxDeliveries }),
      exitWhenIdle: flags.exitWhenIdle === true,
      endSignal: end.signal,
      signal: abort.signal,
    });
    if (flags.json) io.stdout.write(`${JSON.stringify(summary)}\n`);
    else if (!flags.quiet) {
      io.stderr.write(
        `sluice worker ${terminalText(summary.consumer)}: ${summary.files} files (${summary.stored} stored, ${summary.unchanged} unchanged, ${summary.skipped} skipped, ${summary.failed} failed; ${summary.retried} deliveries left for a retry), ${summary.embedded} chunks in ${formatSeconds(summary.durationMs / 1000)}\n`,
      );
    }
    return EXIT.ok;
  } catch (error) {
    if (abort.signal.aborted) {
      io.stderr.write(
        "sluice worker: interrupted; the files in hand stay pending for other workers\n",
      );
      return EXIT.interrupted;
    }
    throw error;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** The store's location for output: a Postgres URL without its password. */
export async function displayLocation(store: { kind: string; location: string }): Promise<string> {
  if (store.kind !== "postgres") return store.location;
  const { redactUrl } = await import("../stores/postgres.ts");
  return redactUrl(store.location);
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}

/**
 * The end-of-run summary for people. Its first line says what happened (found, stored,
 * unchanged, not stored), so a run that stored nothing never reads as a success story.
 */
export function humanSummary(s: EmbedSummary, store: string): string {
  const notStored = s.skipped + s.failed;
  const lines = [
    `Found ${s.files} files: ${s.committed} stored, ${s.unchanged} unchanged` +
      `${notStored > 0 ? `, ${notStored} not stored (${s.skipped} skipped, ${s.failed} failed)` : ""}` +
      `${s.removed > 0 ? `, ${s.removed} removed` : ""} (${s.mode}) into ${store}`,
    `  collection ${terminalText(s.collection)}`,
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
      const path = terminalText(e.path);
      const where = e.chunkId === undefined ? path : `${path} (chunk ${e.chunkId.slice(0, 8)})`;
      lines.push(`  ${e.kind} ${where} at ${e.stage}: ${e.code}: ${terminalText(e.message)}`);
    }
    if (s.errors.length > shown.length) {
      lines.push(`  … and ${s.errors.length - shown.length} more (use --json or --error-report)`);
    }
  }
  if (s.warnings.length > 0) {
    lines.push("", "Warnings (nothing lost):");
    for (const w of s.warnings) lines.push(`  ${terminalText(w)}`);
  }
  return `${lines.join("\n")}\n`;
}

/** Flags of `sluice search`. */
interface SearchFlags extends StoreFlags {
  k: number;
  mode: SearchMode;
  collection?: string;
  json?: boolean;
}

/** A store opened to read, and (unless `needsEmbedder` is false) the embedder its vectors need. */
export interface Reading {
  readonly config: EmbedConfig;
  readonly store: VectorStore;
  readonly embedder: Embedder | undefined;
  close(): Promise<void>;
}

/**
 * Opens a store in read mode: nothing is created or written, a read-only file works, and a
 * writer at work is not disturbed. The embedder is the one the store records; flags only
 * override it, and a flag that contradicts the store is a usage error naming the flags to pass.
 */
export async function openForReading(
  flags: StoreFlags,
  io: CliIo,
  needsEmbedder = true,
): Promise<Reading> {
  const input = await configFromFlags(flags, undefined, io.cwd);
  let config = parseEmbedConfig(input, { cwd: io.cwd });
  await checkStoreLocation(config.store);
  const { openVectorStore, readStoreIdentity } = await import("../stores/open.ts");
  const identity = await readStoreIdentity(config.store);
  if (identity === undefined) {
    const where = await displayLocation(config.store);
    throw new UsageError(`--store ${where}: no store there; run "sluice embed <dir>" first`);
  }
  if (identity.embedder !== undefined) {
    config = parseEmbedConfig(withStoreEmbedder(input, identity.embedder), { cwd: io.cwd });
  }
  let embedder: Embedder | undefined;
  if (needsEmbedder) {
    const { prepareModelWithProgress } = await import("../embedders/model-hub-progress.ts");
    const quiet = (flags as { json?: boolean }).json === true;
    await prepareModelWithProgress(config.embedder, {
      kind: quiet ? "none" : io.stderr.isTTY ? "tty" : "plain",
      stream: io.stderr,
    });
    const { createEmbedder } = await import("../embedders/create.ts");
    embedder = createEmbedder(config.embedder);
    if (embedder.id !== identity.embedderId || embedder.dimensions !== identity.dimensions) {
      await embedder.close?.();
      throw await embedderContradiction(config, identity, embedder, choosesEmbedder(input));
    }
  }
  let store: VectorStore;
  try {
    store = await openVectorStore(config.store, { mode: "read" });
  } catch (error) {
    await embedder?.close?.();
    throw error;
  }
  return {
    config,
    store,
    embedder,
    async close() {
      try {
        await store.close();
      } finally {
        await embedder?.close?.();
      }
    },
  };
}

/** The usage error for embedder flags (or defaults) that do not match what a store holds. */
async function embedderContradiction(
  config: EmbedConfig,
  identity: StoreIdentity,
  embedder: Embedder,
  flagsGiven: boolean,
): Promise<UsageError> {
  const { embedderFlags } = await import("../stores/store-identity.ts");
  const where = terminalText(await displayLocation(config.store));
  return new UsageError(
    `store ${where} holds vectors of ${identity.embedderId} (${identity.dimensions} dimensions), ` +
      `but ${flagsGiven ? "the embedder flags give" : "the default embedder is"} ${embedder.id} ` +
      `(${embedder.dimensions} dimensions): pass ${embedderFlags(identity)}` +
      (flagsGiven ? ", or leave the embedder flags out" : ""),
  );
}

/**
 * The collection a `--collection` or `remove` argument names: a collection of that exact name,
 * or else the folder it names (its real path). Unknown names are a usage error listing the
 * collections there are.
 */
export async function resolveCollection(
  store: VectorStore,
  given: string,
  io: CliIo,
): Promise<string> {
  const known = (await store.collections()).map((c) => c.collection);
  if (known.includes(given)) return given;
  const { realpath } = await import("node:fs/promises");
  const { resolve } = await import("node:path");
  const real = await realpath(resolve(io.cwd, given)).then(
    (path) => path.replace(/\\/g, "/"),
    () => undefined,
  );
  if (real !== undefined && known.includes(real)) return real;
  const list = known.length === 0 ? "it holds none" : `it holds: ${known.join(", ")}`;
  throw new UsageError(
    terminalText(
      `no collection ${JSON.stringify(given)} in this store (${list}); see "sluice collections"`,
    ),
  );
}

function snippet(text: string, max = 160): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return terminalText(flat.length > max ? `${flat.slice(0, max - 1)}…` : flat);
}

/** Which rankings found a hit, for people: "vector #2 (0.812), lexical #1 (3.104)". */
function signalsText(hit: SearchHit): string {
  const parts: string[] = [];
  const { vector, lexical } = hit.signals;
  if (vector) parts.push(`vector #${vector.rank} (${vector.score.toFixed(3)})`);
  if (lexical) parts.push(`lexical #${lexical.rank} (${lexical.score.toFixed(3)})`);
  return parts.join(", ");
}

async function searchCommand(query: string, flags: SearchFlags, io: CliIo): Promise<number> {
  // A lexical search needs no embedder: no model to load, no API key.
  const reading = await openForReading(flags, io, flags.mode !== "lexical");
  const { store, embedder } = reading;
  try {
    const collection =
      flags.collection === undefined
        ? undefined
        : await resolveCollection(store, flags.collection, io);
    const vector = embedder === undefined ? undefined : (await embedder.embed([query]))[0];
    const hits = await store.search({
      text: query,
      k: flags.k,
      mode: flags.mode,
      ...(vector === undefined ? {} : { vector }),
      ...(collection === undefined ? {} : { collection }),
    });
    if (flags.json) {
      const results = hits.map((h) => ({
        collection: h.collection,
        path: h.path,
        lines: { start: h.startLine, end: h.endLine },
        score: h.score,
        signals: h.signals,
        text: h.text,
      }));
      io.stdout.write(`${JSON.stringify({ mode: flags.mode, results })}\n`);
    } else if (hits.length === 0) {
      io.stdout.write("No results.\n");
    } else {
      io.stdout.write(
        hits
          .map(
            (h, i) =>
              `${i + 1}. ${terminalText(h.path)}:${h.startLine}-${h.endLine}  ` +
              `(score ${h.score.toFixed(3)}: ${signalsText(h)})\n` +
              `   in ${terminalText(h.collection)}\n   ${snippet(h.text)}\n`,
          )
          .join(""),
      );
    }
    return EXIT.ok;
  } finally {
    await reading.close();
  }
}

async function statsCommand(flags: StoreFlags & { json?: boolean }, io: CliIo): Promise<number> {
  const reading = await openForReading(flags, io, false);
  const { config, store } = reading;
  try {
    const stats = await store.stats();
    const location = await displayLocation(config.store);
    const out = { store: location, kind: config.store.kind, ...stats };
    if (flags.json) io.stdout.write(`${JSON.stringify(out)}\n`);
    else {
      io.stdout.write(
        `${terminalText(location)} (${out.kind})\n  collections ${out.collections}\n` +
          `  chunks      ${out.chunks}\n  files       ${out.files}\n` +
          `  embedder    ${terminalText(out.embedderId)}\n  dimensions  ${out.dimensions}\n`,
      );
    }
    return EXIT.ok;
  } finally {
    await reading.close();
  }
}

async function collectionsCommand(
  flags: StoreFlags & { json?: boolean },
  io: CliIo,
): Promise<number> {
  const reading = await openForReading(flags, io, false);
  try {
    const collections = await reading.store.collections();
    if (flags.json) io.stdout.write(`${JSON.stringify({ collections })}\n`);
    else if (collections.length === 0) io.stdout.write("No collections.\n");
    else {
      io.stdout.write(
        collections
          .map((c) => `${terminalText(c.collection)}  ${c.files} files, ${c.chunks} chunks\n`)
          .join(""),
      );
    }
    return EXIT.ok;
  } finally {
    await reading.close();
  }
}

/** `sluice remove`: the one way a whole collection leaves a store. */
async function removeCommand(name: string, flags: StoreFlags, io: CliIo): Promise<number> {
  const config = parseEmbedConfig(await configFromFlags(flags, undefined, io.cwd), {
    cwd: io.cwd,
  });
  await checkStoreLocation(config.store);
  const { openVectorStore, readStoreIdentity } = await import("../stores/open.ts");
  const identity = await readStoreIdentity(config.store);
  if (identity === undefined) {
    const where = await displayLocation(config.store);
    throw new UsageError(`--store ${where}: no store there; nothing to remove`);
  }
  // Written with the identity the store records: removing needs no embedder.
  const store = await openVectorStore(config.store, { mode: "write", identity });
  try {
    const collection = await resolveCollection(store, name, io);
    const files = await store.deleteCollection(collection);
    io.stdout.write(`Removed collection ${terminalText(collection)} (${files} files)\n`);
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

/** Entry point when run as a program. */
export async function main(): Promise<void> {
  capHeapGrowth();
  capYoungGeneration();
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
