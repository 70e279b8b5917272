// One file from disk to chunk drafts: read, frontmatter, clean, split, ids and token counts. It is
// the CPU-heavy part of the workflow and touches nothing shared, so it runs in worker threads
// (see `preparePoolFor`): what it takes and returns is plain data that survives structured
// cloning, and a failure of the file's own making is an outcome, not a thrown error.
import type { EmbedConfig } from "../config.ts";
import { FrontmatterTooLargeError } from "../steps/frontmatter.ts";
import { type ChunkDraft, prepareChunks } from "../steps/prepare.ts";
import { type ReadSkipReason, readTextFileSync } from "../steps/read.ts";
import { countCl100kTokens } from "../steps/token-count.ts";
import { fileVersionHash } from "../stores/sync-plan.ts";

/** The run's settings that decide what a file turns into; the same for every file of a run. */
export interface PrepareSettings {
  readonly collection: string;
  /** The config fingerprint that a file's version hash is bound to. */
  readonly fingerprint: string;
  readonly maxFileBytes: number;
  readonly frontmatter: boolean;
  readonly removeSections: readonly string[];
  readonly split: EmbedConfig["split"];
}

/** One file to prepare. */
export interface PrepareRequest {
  readonly absolutePath: string;
  readonly relativePath: string;
  /** The version hash the store holds for the file, if any: an equal one skips the parse. */
  readonly storedHash: string | undefined;
  readonly settings: PrepareSettings;
}

/** A chunk on its way to the embedder, with its size in tokens for batching. */
export interface ChunkItem {
  readonly draft: ChunkDraft;
  readonly tokens: number;
}

/** Where a file stopped and why: the stage and code of the report's error entry. */
export interface PrepareProblem {
  readonly type: "problem";
  readonly stage: "read" | "frontmatter" | "clean" | "prepare";
  readonly code: string;
  readonly message: string;
  /** `skipped`: the file's content is the problem; `failed`: something else went wrong. */
  readonly kind: "skipped" | "failed";
}

/** What became of a file. */
export type PrepareOutcome =
  | { readonly type: "chunks"; readonly versionHash: string; readonly items: ChunkItem[] }
  | { readonly type: "unchanged" }
  | PrepareProblem;

const READ_CODES: Record<ReadSkipReason, string> = {
  binary: "BINARY_FILE",
  "too-large": "FILE_TOO_LARGE",
  "invalid-utf8": "INVALID_UTF8",
  unreadable: "UNREADABLE",
};

/**
 * Reads a file and turns it into chunks with ids, metadata and token counts, unless its version
 * is the stored one. Problems of the file's own (unreadable, binary, a frontmatter too large, a
 * parser error) come back as a `problem`; only a bug throws. Its I/O blocks: it is meant for a
 * worker thread, which does one file at a time.
 */
export function prepareFile(request: PrepareRequest): PrepareOutcome {
  const { settings, relativePath: path } = request;
  const read = readTextFileSync(
    { absolutePath: request.absolutePath, relativePath: path },
    { maxFileBytes: settings.maxFileBytes },
  );
  if (!read.ok) {
    return problem(
      "read",
      READ_CODES[read.reason],
      read.message,
      read.reason === "unreadable" ? "failed" : "skipped",
    );
  }
  const versionHash = fileVersionHash(read.contentHash, settings.fingerprint);
  if (request.storedHash === versionHash) return { type: "unchanged" };

  try {
    const prepared = prepareChunks({ relativePath: path, text: read.text }, settings);
    const items = prepared.chunks.map(
      (draft, i): ChunkItem => ({
        draft,
        // Batches are bounded in tokens: counted once here, unless the split counted them.
        tokens:
          settings.split.unit === "tokens"
            ? (prepared.sizes[i] as number)
            : countCl100kTokens(draft.text),
      }),
    );
    return { type: "chunks", versionHash, items };
  } catch (error) {
    if (error instanceof FrontmatterTooLargeError) {
      return problem("frontmatter", error.code, error.message, "skipped");
    }
    // Markdown nested past the stack is the file's doing; anything else is a bug.
    if (error instanceof RangeError && /call stack/i.test(error.message)) {
      return problem(
        "clean",
        "PARSE_TOO_DEEP",
        `markdown nested too deep: ${error.message}`,
        "skipped",
      );
    }
    return problem("prepare", "PREPARE_FAILED", messageOf(error), "failed");
  }
}

function problem(
  stage: PrepareProblem["stage"],
  code: string,
  message: string,
  kind: PrepareProblem["kind"],
): PrepareProblem {
  return { type: "problem", stage, code, message, kind };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
