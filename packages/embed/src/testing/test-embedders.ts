import { createHash } from "node:crypto";
import type { Embedder } from "../embedders/embedder.ts";
import { createHashEmbedder } from "../embedders/hash.ts";

/** Options of {@link createFaultyEmbedder}. */
export interface FaultyEmbedderOptions {
  readonly dimensions?: number;
  /** Fraction of batches (chosen by a hash of their texts) whose first attempt fails transiently. */
  readonly transientRate?: number;
  /** Batches holding a text that contains this word fail for good (not retryable). */
  readonly poison?: string;
  /** Added before every answer. */
  readonly delayMs?: number;
}

/**
 * The hash embedder (same id, so same store) with injected faults, deterministic by batch
 * content: a chosen batch fails once with a retryable ECONNRESET, then succeeds.
 */
export function createFaultyEmbedder(options: FaultyEmbedderOptions = {}): Embedder & {
  readonly calls: number;
  readonly transientFailures: number;
} {
  const inner = createHashEmbedder({ dimensions: options.dimensions ?? 64 });
  const seen = new Set<string>();
  let calls = 0;
  let transientFailures = 0;
  return {
    id: inner.id,
    dimensions: inner.dimensions,
    get calls() {
      return calls;
    },
    get transientFailures() {
      return transientFailures;
    },
    async embed(texts, signal) {
      calls += 1;
      if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
      signal?.throwIfAborted();
      if (options.poison && texts.some((t) => t.includes(options.poison as string))) {
        throw Object.assign(new Error("the model refused this input"), {
          code: "POISONED_INPUT",
          retryable: false,
        });
      }
      const key = createHash("sha256").update(texts.join("\u0000")).digest();
      const rate = options.transientRate ?? 0;
      if (!seen.has(key.toString("hex")) && (key[0] as number) < rate * 256) {
        seen.add(key.toString("hex"));
        transientFailures += 1;
        throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
      }
      return inner.embed(texts, signal);
    },
  };
}

/** The config both the child and the test's reference runs use. */
export function crashTestConfig(root: string, store: string) {
  return {
    root,
    split: { maxChunkSize: 300, chunkOverlap: 30, minChunkSize: 60 },
    batch: { size: 4, maxWaitMs: 10 },
    embedder: { dimensions: 64 },
    store: { location: store },
    concurrency: 2,
  };
}
