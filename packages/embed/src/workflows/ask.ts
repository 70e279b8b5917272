// The ask workflow: retrieve → (rerank) → prompt → answer, over an embedded store. The same
// steps run in both builders: `askStreaming` (a StreamingPipeline whose output is the answer's
// tokens, as the chat endpoint streams them) and `ask` (the batch Pipeline, one whole answer).
import {
  createStep,
  createStreamingStep,
  Pipeline,
  type Step,
  StreamingPipeline,
  type StreamingRun,
  type StreamingStep,
} from "sluice";
import type { Embedder } from "../embedders/embedder.ts";
import type { Collection, SearchHit, SearchMode, VectorStore } from "../stores/vector-store.ts";
import {
  ChatError,
  type ChatMessage,
  type ChatOptions,
  type ChatUsage,
  checkChatOptions,
  streamChatCompletion,
} from "./ask-chat.ts";
import { type AskSource, buildPrompt, sourcesOf } from "./ask-prompt.ts";
import { rerankHits, rerankWindow } from "./ask-rerank.ts";

/** Options of {@link ask} and {@link askStreaming}. */
export interface AskOptions {
  /** The store to retrieve from; read mode is enough. The caller opens and closes it. */
  readonly store: VectorStore;
  /**
   * The embedder of the store's vectors, for the question's vector; without one, retrieval is
   * lexical only. The caller closes it.
   */
  readonly embedder?: Embedder;
  /** The chat completions endpoint that writes the answer. */
  readonly chat: ChatOptions;
  /** Sources given to the model; default 5. */
  readonly k?: number;
  /** Rerank a wider set of hits (see `rerankHits`) before keeping `k`; default false. */
  readonly rerank?: boolean;
  /** Retrieve from this collection only; default every collection. */
  readonly collection?: Collection;
  /** Default `hybrid` with an embedder, `lexical` without. */
  readonly mode?: SearchMode;
  /** Stops the run at once: retrieval and the HTTP request are aborted. */
  readonly signal?: AbortSignal;
}

/** Thrown when the store holds no chunk to answer from (in the collection asked for). */
export class EmptyStoreError extends Error {
  override readonly name = "EmptyStoreError";
  readonly code = "empty-store";
  constructor(collection: Collection | undefined) {
    super(
      `the store holds no chunks${collection === undefined ? "" : ` in collection ${collection}`}: ` +
        "embed some documents first (sluice embed <dir>), then ask",
    );
  }
}

/** What the run knows about a question once its sources are chosen. */
export interface Retrieval {
  readonly question: string;
  readonly hits: readonly SearchHit[];
}

/** A question with its numbered sources and the chat messages that ask it. */
export interface PromptedQuestion {
  readonly question: string;
  readonly sources: readonly AskSource[];
  readonly messages: readonly ChatMessage[];
}

/** What the streaming workflow yields: the sources first, then each token, then the end. */
export type AskEvent =
  | { readonly type: "sources"; readonly question: string; readonly sources: readonly AskSource[] }
  | { readonly type: "token"; readonly text: string }
  | {
      readonly type: "end";
      readonly finishReason: string | null;
      readonly usage: ChatUsage | undefined;
    };

/** A whole answer with its sources. */
export interface AskAnswer {
  readonly question: string;
  readonly answer: string;
  readonly sources: readonly AskSource[];
  readonly finishReason: string | null;
  readonly usage: ChatUsage | undefined;
}

/** The run's context: what every step of either builder sees. */
export interface AskContext {
  readonly options: AskOptions;
  readonly k: number;
}

/** Checks the options before anything runs: a bad `k` or chat setting throws here. */
function contextOf(options: AskOptions): AskContext {
  const k = options.k ?? 5;
  if (!Number.isInteger(k) || k < 1) {
    throw new RangeError(`ask: k must be a positive integer, got ${k}`);
  }
  checkChatOptions(options.chat);
  return { options, k };
}

/**
 * retrieve: the question's best chunks, searched as `sluice search` does (hybrid by default).
 * With `rerank`, a wider window is retrieved for the rerank to choose from.
 */
export async function retrieve(
  question: string,
  context: AskContext,
  signal?: AbortSignal,
): Promise<Retrieval> {
  const { store, embedder, collection, rerank } = context.options;
  const mode = context.options.mode ?? (embedder === undefined ? "lexical" : "hybrid");
  const vector =
    mode === "lexical" || embedder === undefined
      ? undefined
      : (await embedder.embed([question], signal))[0];
  signal?.throwIfAborted();
  const hits = await store.search({
    text: question,
    k: rerank ? rerankWindow(context.k) : context.k,
    mode,
    ...(vector === undefined ? {} : { vector }),
    ...(collection === undefined ? {} : { collection }),
  });
  if (hits.length === 0) {
    const chunks =
      collection === undefined
        ? (await store.stats()).chunks
        : ((await store.collections()).find((c) => c.collection === collection)?.chunks ?? 0);
    if (chunks === 0) throw new EmptyStoreError(collection);
  }
  return { question, hits };
}

/** rerank: keeps the `k` best hits by `rerankHits`, or the first `k` without `rerank`. */
export function rerank(retrieval: Retrieval, context: AskContext): Retrieval {
  const hits = context.options.rerank
    ? rerankHits(retrieval.question, retrieval.hits, context.k)
    : retrieval.hits.slice(0, context.k);
  return { question: retrieval.question, hits };
}

/** prompt: numbers the sources and builds the chat messages. */
export function prompt(retrieval: Retrieval): PromptedQuestion {
  const sources = sourcesOf(retrieval.hits);
  return {
    question: retrieval.question,
    sources,
    messages: buildPrompt(retrieval.question, sources),
  };
}

/** answer: the sources, then the answer's tokens as the endpoint streams them, then the end. */
export async function* answer(
  prompted: PromptedQuestion,
  context: AskContext,
  signal?: AbortSignal,
): AsyncGenerator<AskEvent> {
  yield { type: "sources", question: prompted.question, sources: prompted.sources };
  for await (const delta of streamChatCompletion(prompted.messages, context.options.chat, signal)) {
    yield delta;
  }
}

/** The workflow's stages as steps, for either builder. */
export interface AskSteps {
  readonly retrieve: Step<string, Retrieval, {}, AskContext>;
  readonly rerank: Step<Retrieval, Retrieval, {}, AskContext>;
  readonly prompt: Step<Retrieval, PromptedQuestion, {}, AskContext>;
  /** Streaming builder: every question's events, tokens as they come. */
  readonly answer: StreamingStep<PromptedQuestion, AskEvent, unknown, AskContext>;
  /** Batch builder: the whole answer once it is complete. */
  readonly complete: Step<PromptedQuestion, AskAnswer, {}, AskContext>;
}

/** Builds the steps. Retries live in the chat client (before the first token only). */
export function askSteps(): AskSteps {
  return {
    retrieve: createStep("retrieve", ({ input, context, signal }) =>
      retrieve(input, context, signal),
    ),
    rerank: createStep("rerank", ({ input, context }) => rerank(input, context)),
    prompt: createStep("prompt", ({ input }) => prompt(input)),
    answer: createStreamingStep("answer", async function* ({ input, context, signal }) {
      for await (const prompted of input) yield* answer(prompted, context, signal);
    }),
    complete: createStep("complete", ({ input, context, signal }) =>
      collectAnswer(answer(input, context, signal)),
    ),
  };
}

/** Gathers a question's events into one {@link AskAnswer}. */
export async function collectAnswer(events: AsyncIterable<AskEvent>): Promise<AskAnswer> {
  let question = "";
  let sources: readonly AskSource[] = [];
  let text = "";
  let finishReason: string | null = null;
  let usage: ChatUsage | undefined;
  for await (const event of events) {
    if (event.type === "sources") ({ question, sources } = event);
    else if (event.type === "token") text += event.text;
    else ({ finishReason, usage } = event);
  }
  return { question, answer: text, sources, finishReason, usage };
}

/** The streaming pipeline: questions in, {@link AskEvent}s out, tokens as they arrive. */
export function askPipeline(context: AskContext) {
  const steps = askSteps();
  return StreamingPipeline.start<string, AskContext>(() => context)
    .map("retrieve", steps.retrieve)
    .map("rerank", steps.rerank)
    .map("prompt", steps.prompt)
    .add("answer", steps.answer);
}

/** The batch pipeline: one question through each stage in turn, one whole answer out. */
export function askBatchPipeline(context: AskContext) {
  const steps = askSteps();
  return Pipeline.start<string, AskContext>(() => context)
    .add("retrieve", steps.retrieve)
    .add("rerank", steps.rerank)
    .add("prompt", steps.prompt)
    .add("answer", steps.complete);
}

/**
 * Answers a question from the store with a `StreamingPipeline`: its events are the numbered
 * sources, then each token of the answer as the chat endpoint streams it, then the end (finish
 * reason, usage). Breaking out of the loop, or `signal`, aborts the HTTP request at once. A
 * failure ends the run with its error in the cause chain (see {@link askFailure}).
 */
export function askStreaming(question: string, options: AskOptions): StreamingRun<AskEvent> {
  const context = contextOf(options);
  return askPipeline(context).execute(question, options.signal ? { signal: options.signal } : {});
}

/**
 * Answers a question from the store with the batch `Pipeline`: the same steps as
 * {@link askStreaming}, with the answer returned whole once it is complete.
 */
export async function ask(question: string, options: AskOptions): Promise<AskAnswer> {
  const context = contextOf(options);
  const result = await askBatchPipeline(context).execute(
    question,
    options.signal ? { signal: options.signal } : {},
  );
  if (!result.success) throw askFailure(result.error) ?? result.error;
  return result.data;
}

/** The workflow's own error (a {@link ChatError} or {@link EmptyStoreError}) inside what a run threw. */
export function askFailure(error: unknown): ChatError | EmptyStoreError | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 10 && current !== null && typeof current === "object"; depth++) {
    if (current instanceof ChatError || current instanceof EmptyStoreError) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
