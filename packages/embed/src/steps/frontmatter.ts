import matter from "gray-matter";
import { type JsonObject, type JsonValue, toJsonValue } from "../json-value.ts";

/** A problem with a file's frontmatter; reported, never fatal. */
export interface FrontmatterWarning {
  readonly kind:
    | "malformed-frontmatter"
    | "unclosed-frontmatter"
    | "not-a-mapping"
    | "invalid-tags";
  readonly message: string;
  /** 1-based file line the problem is on, when known. */
  readonly line?: number;
}

/** A document split into its frontmatter fields and its body. */
export interface FrontmatterResult {
  /** The text after the frontmatter block. */
  readonly body: string;
  /**
   * How many file lines come before the body (the block with both delimiters); a 1-based body
   * line plus this is the real file line.
   */
  readonly lineOffset: number;
  /** `tags` from the frontmatter, from a comma-separated string or a list, trimmed, deduplicated. */
  readonly tags: readonly string[];
  /** Every other frontmatter field, as JSON (dates become ISO strings). */
  readonly metadata: JsonObject;
  readonly warnings: readonly FrontmatterWarning[];
}

/** Options of {@link parseFrontmatter}. */
export interface FrontmatterOptions {
  /** When false the whole text is the body; default true. */
  readonly enabled?: boolean;
}

const OPEN = /^---[ \t]*$/;
const CLOSE = /^(?:---|\.\.\.)[ \t]*$/;

/**
 * Separates YAML frontmatter from a markdown body. The block is found line by line (the first
 * line `---`, closed by a `---` or `...` line) and parsed with gray-matter as YAML only: gray-matter
 * would otherwise also honour `---js` blocks, which it evaluates as code. Malformed YAML, a block
 * that is not a mapping, or bad tags give a warning and the body is still returned.
 */
export function parseFrontmatter(
  text: string,
  options: FrontmatterOptions = {},
): FrontmatterResult {
  const plain: FrontmatterResult = {
    body: text,
    lineOffset: 0,
    tags: [],
    metadata: {},
    warnings: [],
  };
  if (options.enabled === false) return plain;

  const lines = text.split("\n");
  if (!OPEN.test(lines[0] ?? "")) return plain;
  const closeIndex = lines.findIndex((line, i) => i > 0 && CLOSE.test(line));
  if (closeIndex === -1) {
    // Most likely a thematic break opening the document, not frontmatter: keep everything.
    return {
      ...plain,
      warnings: [
        {
          kind: "unclosed-frontmatter",
          message: "a leading '---' line has no closing '---'",
          line: 1,
        },
      ],
    };
  }

  const body = lines.slice(closeIndex + 1).join("\n");
  const lineOffset = closeIndex + 1;
  const yaml = lines.slice(1, closeIndex).join("\n");
  const withoutFrontmatter = { body, lineOffset, tags: [], metadata: {} };

  let data: unknown;
  try {
    // An options object (even empty) keeps gray-matter from caching every input string forever.
    data = matter(`---\n${yaml}\n---\n`, { language: "yaml" }).data;
  } catch (error) {
    const mark = (error as { mark?: { line?: number } }).mark;
    const reason = (error as { reason?: string }).reason ?? (error as Error).message;
    return {
      ...withoutFrontmatter,
      warnings: [
        {
          kind: "malformed-frontmatter",
          message: `invalid YAML frontmatter: ${reason}`,
          // js-yaml counts from 0 within the block, which starts on file line 2.
          ...(typeof mark?.line === "number" ? { line: mark.line + 2 } : {}),
        },
      ],
    };
  }

  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    return {
      ...withoutFrontmatter,
      warnings: [
        {
          kind: "not-a-mapping",
          message: "frontmatter is not a key/value mapping; ignored",
          line: 2,
        },
      ],
    };
  }

  const warnings: FrontmatterWarning[] = [];
  const metadata: Record<string, JsonValue> = {};
  let tags: string[] = [];
  for (const [key, value] of Object.entries(data)) {
    if (key !== "tags") {
      metadata[key] = toJsonValue(value);
      continue;
    }
    const normalized = normalizeTags(value);
    if (normalized) {
      tags = normalized;
    } else {
      warnings.push({
        kind: "invalid-tags",
        message: `tags must be a comma-separated string or a list, got ${describe(value)}`,
      });
    }
  }
  return { body, lineOffset, tags, metadata, warnings };
}

/**
 * Normalizes a `tags` value: `"a, b"` and `["a", "b"]` both give `["a", "b"]`; numbers become
 * strings; empty entries and duplicates are dropped. Returns undefined for any other shape.
 */
export function normalizeTags(value: unknown): string[] | undefined {
  if (value === null || value === undefined) return [];
  let items: unknown[];
  if (typeof value === "string") items = value.split(",");
  else if (Array.isArray(value)) items = value;
  else if (typeof value === "number" || typeof value === "boolean") items = [value];
  else return undefined;
  const tags: string[] = [];
  for (const item of items) {
    if (typeof item !== "string" && typeof item !== "number" && typeof item !== "boolean") {
      return undefined;
    }
    const tag = String(item).trim();
    if (tag !== "" && !tags.includes(tag)) tags.push(tag);
  }
  return tags;
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return "a list with non-text items";
  return value === null ? "null" : typeof value;
}
