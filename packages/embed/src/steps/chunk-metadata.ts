import type { JsonObject } from "../json-value.ts";

/** Longest heading a chunk's `headings` trail keeps, in characters; longer ones are cut. */
export const MAX_HEADING_CHARS = 200;

/**
 * The metadata one chunk stores: its file's frontmatter fields (already capped by
 * `parseFrontmatter`), `tags`, and the `headings` it starts under, each heading cut to
 * {@link MAX_HEADING_CHARS} characters with an ellipsis. Every chunk under a heading repeats
 * the trail, so an uncut 20 KB heading would cost 20 KB per chunk.
 */
export function chunkMetadata(
  fields: JsonObject,
  tags: readonly string[],
  headings: readonly string[],
): JsonObject {
  return {
    ...fields,
    tags: [...tags],
    headings: headings.map((heading) =>
      heading.length > MAX_HEADING_CHARS ? `${heading.slice(0, MAX_HEADING_CHARS)}…` : heading,
    ),
  };
}
