import { type Command, InvalidArgumentError, Option } from "commander";
import type { SearchMode } from "../stores/vector-store.ts";
import type { AskEvent } from "../workflows/ask.ts";
import type { ChatRetry, ChatUsage } from "../workflows/ask-chat.ts";
import type { AskSource } from "../workflows/ask-prompt.ts";
import { handleInterrupts } from "./interrupt.ts";
import { type CliIo, EXIT, openForReading, resolveCollection } from "./main.ts";
import { positiveInt, type StoreFlags, UsageError } from "./options.ts";
import { terminalText } from "./terminal-text.ts";

/** The chat endpoint when `--chat-endpoint` is not given. */
export const DEFAULT_CHAT_ENDPOINT = "https://api.openai.com/v1";
/** The chat model when `--chat-model` is not given. */
export const DEFAULT_CHAT_MODEL = "gpt-4o-mini";

/** Flags of `sluice ask`. */
export interface AskFlags extends StoreFlags {
  k: number;
  mode: SearchMode;
  collection?: string;
  rerank?: boolean;
  chatEndpoint?: string;
  chatModel?: string;
  chatTimeout?: number;
  idleTimeout?: number;
  maxTokens?: number;
  temperature?: number;
  json?: boolean;
}

function temperature(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0 || n > 2) {
    throw new InvalidArgumentError(`expected a number from 0 to 2, got "${value}"`);
  }
  return n;
}

/**
 * Adds `sluice ask "<question>"` to the program; `withStoreFlags` adds the store and embedder
 * flags every store command takes, and `done` receives the exit code.
 */
export function registerAskCommand(
  program: Command,
  io: CliIo,
  withStoreFlags: (command: Command) => Command,
  done: (code: number) => void,
): void {
  withStoreFlags(
    program
      .command("ask")
      .description(
        "answer a question from the store: retrieve sources, stream a chat model's answer, cite them",
      )
      .argument("<question>", "what to ask")
      .option("-k, --k <n>", "sources given to the model", positiveInt, 5)
      .option("--collection <dir|name>", "retrieve from this collection only")
      .addOption(
        new Option("--mode <mode>", "how sources are retrieved (as sluice search ranks)")
          .choices(["vector", "lexical", "hybrid"])
          .default("hybrid"),
      )
      .option("--rerank", "rerank 3k retrieved chunks by question words, dropping overlaps")
      .option(
        "--chat-endpoint <url>",
        `base URL of an OpenAI-compatible API, with /v1 (default ${DEFAULT_CHAT_ENDPOINT}; key from OPENAI_API_KEY)`,
      )
      .option("--chat-model <name>", `chat model (default ${DEFAULT_CHAT_MODEL})`)
      .option(
        "--chat-timeout <ms>",
        "most time until the answer starts, per attempt (60000)",
        positiveInt,
      )
      .option(
        "--idle-timeout <ms>",
        "an answer that sends nothing for this long has stalled (30000)",
        positiveInt,
      )
      .option("--max-tokens <n>", "most tokens in the answer", positiveInt)
      .option("--temperature <t>", "sampling temperature, 0 to 2", temperature)
      .option("--json", 'print { "answer", "sources": [{ "path", "lines", "score" }], "usage" }'),
  ).action(async (question: string, flags: AskFlags) => {
    done(await askCommand(question, flags, io));
  });
}

/** Writes answer text to a terminal safely: control characters escaped, line breaks kept. */
function answerText(text: string): string {
  return text
    .split("\n")
    .map((line) => terminalText(line))
    .join("\n");
}

function sourceLine(s: AskSource): string {
  return (
    `  [${s.n}] ${terminalText(s.path)}:${s.lines.start}-${s.lines.end}` +
    `  (score ${s.score.toFixed(3)}; in ${terminalText(s.collection)})\n`
  );
}

/** `sluice ask`: see {@link registerAskCommand}. */
export async function askCommand(question: string, flags: AskFlags, io: CliIo): Promise<number> {
  if (question.trim() === "") throw new UsageError("the question is empty");
  const { askStreaming, askFailure, collectAnswer } = await import("../workflows/ask.ts");
  const { citedNumbers } = await import("../workflows/ask-prompt.ts");
  const { ChatError, checkChatOptions } = await import("../workflows/ask-chat.ts");
  const chat = {
    baseUrl: flags.chatEndpoint ?? DEFAULT_CHAT_ENDPOINT,
    model: flags.chatModel ?? DEFAULT_CHAT_MODEL,
    ...(flags.chatTimeout === undefined ? {} : { timeoutMs: flags.chatTimeout }),
    ...(flags.idleTimeout === undefined ? {} : { idleTimeoutMs: flags.idleTimeout }),
    ...(flags.maxTokens === undefined ? {} : { maxTokens: flags.maxTokens }),
    ...(flags.temperature === undefined ? {} : { temperature: flags.temperature }),
    // A failed attempt can cost the whole --chat-timeout: say so, or the wait looks like a hang.
    onRetry: (retry: ChatRetry) => {
      const wait = (retry.delayMs / 1000).toFixed(1).replace(/\.0$/, "");
      io.stderr.write(
        `sluice: note: ${terminalText(retry.reason)}; trying again in ${wait} s ` +
          `(attempt ${retry.attempt + 1} of ${retry.maxAttempts})\n`,
      );
    },
  };
  // A missing key or a bad endpoint is reported before the store is opened.
  try {
    checkChatOptions(chat);
  } catch (error) {
    throw error instanceof ChatError ? new UsageError(error.message) : error;
  }
  const reading = await openForReading(flags, io, flags.mode !== "lexical");
  const interrupts = handleInterrupts({ stderr: io.stderr });
  let answered = "";
  let streaming = false;
  try {
    const collection =
      flags.collection === undefined
        ? undefined
        : await resolveCollection(reading.store, flags.collection, io);
    const run = askStreaming(question, {
      store: reading.store,
      ...(reading.embedder === undefined ? {} : { embedder: reading.embedder }),
      chat,
      k: flags.k,
      rerank: flags.rerank === true,
      mode: flags.mode,
      signal: interrupts.signal,
      ...(collection === undefined ? {} : { collection }),
    });
    let sources: readonly AskSource[] = [];
    let usage: ChatUsage | undefined;
    let finishReason: string | null = null;
    // Tokens go out as they arrive; --json gathers them into one object at the end.
    const shown = (async function* (): AsyncGenerator<AskEvent> {
      for await (const event of run) {
        if (event.type === "sources") sources = event.sources;
        if (event.type === "token") {
          answered += event.text;
          if (!flags.json) {
            streaming = true;
            io.stdout.write(answerText(event.text));
          }
        }
        if (event.type === "end") ({ usage, finishReason } = event);
        yield event;
      }
    })();
    await collectAnswer(shown);
    const cited = new Set(citedNumbers(answered, sources.length));
    if (flags.json) {
      io.stdout.write(
        `${JSON.stringify({
          question,
          answer: answered,
          sources: sources.map((s) => ({
            n: s.n,
            collection: s.collection,
            path: s.path,
            lines: s.lines,
            score: s.score,
            cited: cited.has(s.n),
          })),
          usage: usage ?? null,
          finishReason,
        })}\n`,
      );
      return EXIT.ok;
    }
    const listed = sources.filter((s) => cited.has(s.n));
    const heading =
      listed.length > 0 ? "Sources:" : "Sources (retrieved; the answer cites none of them):";
    io.stdout.write(`\n\n${heading}\n`);
    for (const s of listed.length > 0 ? listed : sources) io.stdout.write(sourceLine(s));
    if (usage !== undefined) {
      io.stdout.write(`  tokens: ${usage.promptTokens} prompt, ${usage.completionTokens} answer\n`);
    }
    if (finishReason !== null && finishReason !== "stop") {
      io.stderr.write(`sluice: note: the answer ended early (finish reason ${finishReason})\n`);
    }
    return EXIT.ok;
  } catch (error) {
    // What was streamed stays on screen; the message goes below it.
    if (streaming) io.stdout.write("\n");
    if (interrupts.signal.aborted) {
      io.stderr.write("sluice: interrupted; the answer was cut off\n");
      return EXIT.interrupted;
    }
    const failure = askFailure(error);
    if (failure === undefined) throw error;
    const partial =
      answered === "" ? "" : ` (the answer so far, ${answered.length} characters, stays above)`;
    io.stderr.write(`sluice: ${terminalText(failure.message)}${flags.json ? "" : partial}\n`);
    return failure.name === "EmptyStoreError" ? EXIT.usage : EXIT.failed;
  } finally {
    await reading.close();
    interrupts.dispose();
  }
}
