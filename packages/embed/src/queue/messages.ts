// What a queue run's coordinator and its workers say to each other through Redis streams: one
// message per file to embed (its bytes included, so workers need no shared file system), and
// one result per file back on the run's own results stream. Plain strings in stream fields,
// checked on the way in: a worker may meet messages from another sluice version.
import type { PrepareProblem, PrepareSettings } from "../workflows/prepare-file.ts";
import type { ErrorEntry } from "../workflows/report.ts";

/** The queue's default name: its streams are `<name>:files`, `<name>:results:<run>`. */
export const DEFAULT_QUEUE_NAME = "sluice";
/** The consumer group every worker of a queue reads the files stream in. */
export const WORKER_GROUP = "sluice-workers";
/** The message format; a worker refuses (and dead-letters) other versions. */
const FORMAT = "1";

/** The streams of a queue. */
export interface QueueStreams {
  /** Where coordinators enqueue files and workers read them. */
  readonly files: string;
  /** Where a worker dead-letters a file that failed on every delivery. */
  readonly dead: string;
  /** Where workers post the results of one run. */
  results(runId: string): string;
}

/** The streams of the queue named `name`. */
export function queueStreams(name: string = DEFAULT_QUEUE_NAME): QueueStreams {
  if (!/^[\w.:-]+$/.test(name)) {
    throw new TypeError(
      `queue name must be letters, digits, "_", ".", ":" or "-", got ${JSON.stringify(name)}`,
    );
  }
  return {
    files: `${name}:files`,
    dead: `${name}:files:dead`,
    results: (runId) => `${name}:results:${runId}`,
  };
}

/** One file for a worker to prepare, embed and store. */
export interface FileMessage {
  readonly runId: string;
  /** The stream the worker posts this file's result to. */
  readonly results: string;
  /** Relative path (POSIX) in the collection. */
  readonly path: string;
  /** The coordinator's settings: chunks come out as a single-process run's would. */
  readonly settings: PrepareSettings;
  /** The version hash the coordinator computed (content hash bound to the config fingerprint). */
  readonly versionHash: string;
  /** The file's raw bytes. */
  readonly content: Buffer;
}

/** A file message as stream fields. */
export function encodeFileMessage(message: FileMessage): Record<string, string> {
  return {
    format: FORMAT,
    run: message.runId,
    results: message.results,
    path: message.path,
    settings: JSON.stringify(message.settings),
    version: message.versionHash,
    content: message.content.toString("base64"),
  };
}

/** A bad message: its fields do not make a file message this version understands. */
export class QueueMessageError extends Error {
  override readonly name = "QueueMessageError";
  readonly code = "BAD_QUEUE_MESSAGE";
}

/** Parses a file message's stream fields; throws a {@link QueueMessageError} naming what is wrong. */
export function decodeFileMessage(fields: Readonly<Record<string, string>>): FileMessage {
  if (fields.format !== FORMAT) {
    throw new QueueMessageError(
      `queue message format ${JSON.stringify(fields.format)} is not ${FORMAT}: a coordinator and worker of different sluice versions`,
    );
  }
  for (const name of ["run", "results", "path", "settings", "version", "content"]) {
    if (typeof fields[name] !== "string" || fields[name] === "") {
      throw new QueueMessageError(`queue message has no ${name}`);
    }
  }
  let settings: PrepareSettings;
  try {
    settings = JSON.parse(fields.settings as string) as PrepareSettings;
  } catch (error) {
    throw new QueueMessageError(`queue message settings are not JSON: ${(error as Error).message}`);
  }
  return {
    runId: fields.run as string,
    results: fields.results as string,
    path: fields.path as string,
    settings,
    versionHash: fields.version as string,
    content: Buffer.from(fields.content as string, "base64"),
  };
}

/** What became of one file, as a worker reports it to the coordinator. */
export type FileResult =
  /** Every chunk stored and the file committed. */
  | { readonly status: "stored"; readonly chunks: number }
  /** The store already held this version. */
  | { readonly status: "unchanged" }
  /** Not embeddable as it is (binary, too large, a parse problem): its stored copy must go. */
  | ({ readonly status: "problem" } & Omit<PrepareProblem, "type">)
  /** Chunks could not be embedded or stored on the last delivery: left uncommitted. */
  | {
      readonly status: "failed";
      readonly chunks: number;
      readonly embedded: number;
      readonly errors: readonly ErrorEntry[];
    };

/** A result as stream fields. */
export function encodeFileResult(path: string, result: FileResult): Record<string, string> {
  return { path, result: JSON.stringify(result) };
}

/** A results-stream entry's path and result, or undefined for an entry that is not one. */
export function decodeFileResult(
  fields: Readonly<Record<string, string>>,
): { readonly path: string; readonly result: FileResult } | undefined {
  if (typeof fields.path !== "string" || typeof fields.result !== "string") return undefined;
  try {
    const result = JSON.parse(fields.result) as FileResult;
    return typeof result?.status === "string" ? { path: fields.path, result } : undefined;
  } catch {
    return undefined;
  }
}
