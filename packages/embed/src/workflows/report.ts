import { isRetryable } from "sluice";
import { compareCodeUnits } from "../steps/code-unit-order.ts";

/** Whether an entry of the error report is a file left out on purpose or a failure. */
export type ErrorKind = "skipped" | "failed";

/** One line of the machine-readable error report: a file, or one chunk of a file. */
export interface ErrorEntry {
  readonly kind: ErrorKind;
  /** Relative path of the file, POSIX separators (as stored). */
  readonly path: string;
  /** Set when the entry is one chunk of the file rather than the whole file. */
  readonly chunkId?: string;
  /** The stage that gave up: read, frontmatter, clean, split, embed, store or commit. */
  readonly stage: string;
  /** A stable code, e.g. BINARY_FILE, FILE_TOO_LARGE, INVALID_UTF8, EMBED_FAILED. */
  readonly code: string;
  readonly message: string;
  /** Attempts made, when the stage retries. */
  readonly attempts?: number;
}

/** What a failure is about: a file, or one of its chunks. */
export interface FailureSubject {
  readonly path: string;
  readonly chunkId?: string;
}

/**
 * The error the workflow's stages throw: it names the stage, a code and every file or chunk it
 * concerns, so the report can attribute a failed batch to each of its chunks whichever builder
 * ran it. `retryable` tells the engine's retry policy whether another attempt may succeed.
 */
export class StageFailure extends Error {
  override readonly name = "StageFailure";
  readonly retryable: boolean;
  constructor(
    readonly stage: string,
    readonly code: string,
    message: string,
    readonly subjects: readonly FailureSubject[],
    readonly kind: ErrorKind = "failed",
    options: { cause?: unknown; retryable?: boolean } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryable = options.retryable ?? false;
  }

  /** Wraps what a stage's work threw, keeping whether it is worth retrying. */
  static wrap(
    stage: string,
    fallbackCode: string,
    error: unknown,
    subjects: readonly FailureSubject[],
  ): StageFailure {
    if (error instanceof StageFailure) return error;
    const message = error instanceof Error ? error.message : String(error);
    const own = (error as { code?: unknown } | null)?.code;
    const code = typeof own === "string" && own !== "" ? own : fallbackCode;
    return new StageFailure(stage, code, message, subjects, "failed", {
      cause: error,
      retryable: isRetryable(error),
    });
  }
}

/** Finds the {@link StageFailure} inside an error the engine wrapped (its cause chain). */
export function findStageFailure(error: unknown): StageFailure | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 10 && current !== undefined && current !== null; depth++) {
    if (current instanceof StageFailure) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Report entries for one error the engine recorded (SKIP_FAILED or SPLIT_ERRORS). */
export function entriesOf(error: unknown, stageKey: string | undefined): ErrorEntry[] {
  const attempts = (error as { attempts?: unknown }).attempts;
  const extra = typeof attempts === "number" && attempts > 1 ? { attempts } : {};
  const failure = findStageFailure(error);
  if (failure === undefined) {
    const message = error instanceof Error ? error.message : String(error);
    const code = (error as { code?: unknown }).code;
    return [
      {
        kind: "failed",
        path: "(unknown)",
        stage: stageKey ?? "(unknown)",
        code: typeof code === "string" ? code : "FAILED",
        message,
        ...extra,
      },
    ];
  }
  return failure.subjects.map((subject) => ({
    kind: failure.kind,
    path: subject.path,
    ...(subject.chunkId === undefined ? {} : { chunkId: subject.chunkId }),
    stage: failure.stage,
    code: failure.code,
    message: failure.message,
    ...extra,
  }));
}

/** The report entry of a file whose commit failed: its chunks are stored, its hash is not. */
export function commitFailure(path: string, error: unknown): ErrorEntry {
  const code = (error as { code?: unknown }).code;
  return {
    kind: "failed",
    path,
    stage: "commit",
    code: typeof code === "string" ? code : "COMMIT_FAILED",
    message: error instanceof Error ? error.message : String(error),
  };
}

/** Sorts entries by path, chunk, stage: the same report whatever order the work finished in. */
export function sortEntries(entries: readonly ErrorEntry[]): ErrorEntry[] {
  return [...entries].sort(
    (a, b) =>
      compareCodeUnits(a.path, b.path) ||
      compareCodeUnits(a.chunkId ?? "", b.chunkId ?? "") ||
      compareCodeUnits(a.stage, b.stage) ||
      compareCodeUnits(a.code, b.code),
  );
}
