import { isMap, isScalar, LineCounter, parseDocument, visit } from "yaml";
import { type JsonObject, JsonTooLargeError, type JsonValue, toJsonValue } from "../json-value.ts";

/** A problem with a file's frontmatter; reported, never fatal. */
export interface FrontmatterWarning {
  readonly kind:
    | "malformed-frontmatter"
    | "unclosed-frontmatter"
    | "not-a-mapping"
    | "invalid-tags"
    | "metadata-truncated";
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
  /**
   * Every other frontmatter field, as JSON (dates become ISO strings): what each chunk of the
   * file stores, so it is capped (see {@link FrontmatterOptions.maxStoredBytes}); fields left out
   * for the cap are named in `metadataTruncated`.
   */
  readonly metadata: JsonObject;
  readonly warnings: readonly FrontmatterWarning[];
}

/** Options of {@link parseFrontmatter}. */
export interface FrontmatterOptions {
  /** When false the whole text is the body; default true. */
  readonly enabled?: boolean;
  /**
   * Largest frontmatter accepted, in bytes of its YAML text and again of its JSON once aliases
   * are expanded; a larger one throws a {@link FrontmatterTooLargeError}. Default
   * {@link MAX_FRONTMATTER_BYTES}.
   */
  readonly maxBytes?: number;
  /**
   * Largest JSON of the fields and tags kept for every chunk; over it, the largest fields are
   * dropped and named. Default {@link MAX_STORED_METADATA_BYTES}.
   */
  readonly maxStoredBytes?: number;
}

/**
 * Default {@link FrontmatterOptions.maxBytes}: 256 KiB, far above any real frontmatter, and low
 * enough that parsing one (a few µs a byte, on the calling thread) stays short.
 */
export const MAX_FRONTMATTER_BYTES = 256 * 1024;
/** Default {@link FrontmatterOptions.maxStoredBytes}: 4 KiB of fields and tags per chunk. */
export const MAX_STORED_METADATA_BYTES = 4096;
/**
 * Alias budget of the YAML library: an alias counts once per use times the aliases inside what
 * it names, so nested "billion laughs" aliases exhaust it after a few levels.
 */
const MAX_ALIAS_COUNT = 100;
/** At most this many dropped field names are listed, each at most this long. */
const MAX_LISTED_DROPS = 32;
const MAX_LISTED_NAME = 40;

/**
 * Thrown for a frontmatter whose value is too large to keep: more aliases than the YAML library's
 * alias limit allows, or a JSON larger than {@link FrontmatterOptions.maxBytes} once expanded.
 * The workflow skips the file with the error's code.
 */
export class FrontmatterTooLargeError extends Error {
  override readonly name = "FrontmatterTooLargeError";
  readonly code = "FRONTMATTER_TOO_LARGE";
}

const OPEN = /^---[ \t]*$/;
const CLOSE = /^(?:---|\.\.\.)[ \t]*$/;

/**
 * Separates YAML frontmatter from a markdown body. The block is found line by line (the first
 * line `---`, closed by a `---` or `...` line; a `---js` line opens no block, so no code is ever
 * evaluated) and parsed with the `yaml` library (YAML 1.2 core schema plus timestamps and merge
 * keys, as gray-matter read it). Malformed YAML, a block that is not a mapping, or bad tags give a
 * warning and the body is still returned. A frontmatter that expands past the alias limit or
 * `maxBytes` throws a {@link FrontmatterTooLargeError}: its file cannot be embedded safely.
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
  const malformed = (reason: string, line?: number): FrontmatterResult => ({
    ...withoutFrontmatter,
    warnings: [
      {
        kind: "malformed-frontmatter",
        message: `invalid YAML frontmatter: ${reason}`,
        ...(line === undefined ? {} : { line }),
      },
    ],
  });

  const maxBytes = options.maxBytes ?? MAX_FRONTMATTER_BYTES;
  const yamlBytes = Buffer.byteLength(yaml);
  if (yamlBytes > maxBytes) {
    throw new FrontmatterTooLargeError(
      `frontmatter is ${yamlBytes} bytes, over the limit of ${maxBytes} bytes`,
    );
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(yaml, {
    schema: "core",
    customTags: ["timestamp"],
    merge: true,
    prettyErrors: true,
    // The library's warnings would go to process.emitWarning (stderr); problems are ours to report.
    logLevel: "error",
    lineCounter,
    // The library's own check compares every key with every other (seconds for a few thousand
    // keys); duplicateKey below does the same in one pass.
    uniqueKeys: false,
  });
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    const line = syntax.linePos?.[0]?.line;
    // The message's first line; the rest is a code frame. The block starts on file line 2.
    return malformed(
      syntax.message.split("\n")[0] ?? "",
      line === undefined ? undefined : line + 1,
    );
  }
  const duplicate = duplicateKey(doc);
  if (duplicate !== undefined) {
    const line = lineCounter.linePos(duplicate.offset).line;
    return malformed(`map keys must be unique: ${JSON.stringify(duplicate.key)}`, line + 1);
  }
  let data: JsonValue;
  try {
    data = toJsonValue(doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }), maxBytes);
  } catch (error) {
    if (error instanceof JsonTooLargeError) {
      throw new FrontmatterTooLargeError(
        error.reason === "size"
          ? `frontmatter is over the limit of ${maxBytes} bytes as JSON (aliases expanded)`
          : `frontmatter cannot be stored: its ${error.message}`,
      );
    }
    if (error instanceof ReferenceError && /excessive alias/i.test(error.message)) {
      throw new FrontmatterTooLargeError(
        `frontmatter uses aliases past the limit of ${MAX_ALIAS_COUNT} expansions (a YAML alias bomb?)`,
      );
    }
    return malformed((error as Error).message);
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
  const fields: Record<string, JsonValue> = {};
  let tags: string[] = [];
  for (const [key, value] of Object.entries(data)) {
    if (key !== "tags") {
      fields[key] = value;
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
  const stored = capStoredMetadata(
    fields,
    tags,
    options.maxStoredBytes ?? MAX_STORED_METADATA_BYTES,
  );
  if (stored.dropped.length > 0) {
    warnings.push({
      kind: "metadata-truncated",
      message: `frontmatter fields left out of the stored metadata (over ${options.maxStoredBytes ?? MAX_STORED_METADATA_BYTES} bytes): ${stored.dropped.join(", ")}`,
    });
  }
  return { body, lineOffset, tags: stored.tags, metadata: stored.metadata, warnings };
}

/** The first scalar key that occurs twice in one mapping, and where its second use starts. */
function duplicateKey(
  doc: ReturnType<typeof parseDocument>,
): { key: string; offset: number } | undefined {
  let found: { key: string; offset: number } | undefined;
  visit(doc, {
    Map(_, map) {
      if (!isMap(map)) return;
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        const key = pair.key.value;
        // Merge keys (`<<`) may repeat.
        if (key === "<<" && pair.key.source === "<<") continue;
        if (seen.has(key)) {
          found = { key: String(key), offset: pair.key.range?.[0] ?? 0 };
          return visit.BREAK;
        }
        seen.add(key);
      }
    },
  });
  return found;
}

/** UTF-8 bytes of a value's JSON. */
function jsonBytes(value: JsonValue): number {
  return Buffer.byteLength(JSON.stringify(value));
}

/**
 * Fits the fields and tags every chunk of a file stores into `maxBytes` of JSON: while they do
 * not fit, the largest field (or the whole tags list) is dropped, its name recorded in
 * `metadataTruncated` (the list itself bounded: some names and a count of the rest). Copied into
 * each chunk, an unbounded frontmatter would make the store grow with frontmatter times chunks.
 */
function capStoredMetadata(
  fields: Record<string, JsonValue>,
  tags: string[],
  maxBytes: number,
): { metadata: JsonObject; tags: string[]; dropped: string[] } {
  const entries = [...Object.entries(fields), ["tags", tags] as [string, JsonValue]].map(
    ([key, value]) => ({ key, bytes: jsonBytes(key) + 1 + jsonBytes(value) }),
  );
  // `{}` plus the entries and the commas between them.
  let kept = entries.reduce((sum, e) => sum + e.bytes + 1, 1);
  if (kept <= maxBytes) return { metadata: fields, tags, dropped: [] };

  const listed = (names: readonly string[]): string[] => {
    const shown = names
      .slice(0, MAX_LISTED_DROPS)
      .map((name) => (name.length > MAX_LISTED_NAME ? `${name.slice(0, MAX_LISTED_NAME)}…` : name));
    if (names.length > MAX_LISTED_DROPS) shown.push(`…${names.length - MAX_LISTED_DROPS} more`);
    return shown;
  };
  const listBytes = (names: readonly string[]) =>
    jsonBytes("metadataTruncated") + 2 + jsonBytes(listed(names));
  const bySize = [...entries].sort((a, b) => b.bytes - a.bytes || (a.key < b.key ? -1 : 1));
  const dropped: string[] = [];
  for (const entry of bySize) {
    if (kept + listBytes(dropped) <= maxBytes) break;
    dropped.push(entry.key);
    kept -= entry.bytes + 1;
  }
  const gone = new Set(dropped);
  const metadata: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(fields)) if (!gone.has(key)) metadata[key] = value;
  const order = entries.map((e) => e.key).filter((key) => gone.has(key));
  metadata.metadataTruncated = listed(order);
  return { metadata, tags: gone.has("tags") ? [] : tags, dropped: order };
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
