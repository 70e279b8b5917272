import type { ChunkRecord } from "../stores/vector-store.ts";
import { chunkId, normalizeRelativePath } from "./chunk-id.ts";
import { chunkMetadata } from "./chunk-metadata.ts";
import { cleanMarkdown } from "./clean.ts";
import { type FrontmatterWarning, parseFrontmatter } from "./frontmatter.ts";
import { type SplitOptions, splitBlocks } from "./split.ts";

/** A chunk ready to embed: a stored record without its vector. */
export type ChunkDraft = Omit<ChunkRecord, "vector">;

/** Options of {@link prepareChunks}: the frontmatter, clean and split settings of the config. */
export interface PrepareOptions {
  /** The collection the chunks belong to (see `ChunkRecord.collection`); part of their ids. */
  readonly collection: string;
  /** Parse YAML frontmatter; default true. */
  readonly frontmatter?: boolean;
  /** Headings whose sections are dropped. */
  readonly removeSections?: readonly string[];
  readonly split: SplitOptions;
}

/** A file's chunks and the frontmatter problems met on the way. */
export interface PreparedFile {
  readonly path: string;
  readonly chunks: readonly ChunkDraft[];
  /** Each chunk's size in the split's unit (characters or tokens). */
  readonly sizes: readonly number[];
  readonly warnings: readonly FrontmatterWarning[];
}

/**
 * The per-file text stages in one call: frontmatter, cleaning, splitting and ids. Each chunk's
 * metadata holds the frontmatter fields, `tags` and the `headings` it starts under (capped as
 * `chunkMetadata` caps them); its lines are real file lines. Throws `FrontmatterTooLargeError`
 * for a frontmatter past the limits of `parseFrontmatter`.
 */
export function prepareChunks(
  file: { readonly relativePath: string; readonly text: string },
  options: PrepareOptions,
): PreparedFile {
  const path = normalizeRelativePath(file.relativePath);
  const fm = parseFrontmatter(file.text, { enabled: options.frontmatter ?? true });
  const { blocks } = cleanMarkdown(fm.body, {
    lineOffset: fm.lineOffset,
    removeSections: options.removeSections ?? [],
  });
  const { collection } = options;
  const pieces = splitBlocks(blocks, options.split);
  const chunks = pieces.map(
    (chunk): ChunkDraft => ({
      id: chunkId({ collection, path, ordinal: chunk.index, text: chunk.text }),
      collection,
      path,
      ordinal: chunk.index,
      text: chunk.text,
      startLine: chunk.startLine,
      endLine: chunk.endLine,
      metadata: chunkMetadata(fm.metadata, fm.tags, chunk.headings),
    }),
  );
  return { path, chunks, sizes: pieces.map((p) => p.size), warnings: fm.warnings };
}
