import type { Code, List, Nodes, PhrasingContent, Root, RootContent, Table } from "mdast";
import { toString as nodeToString } from "mdast-util-to-string";
import { remark } from "remark";
import remarkGfm from "remark-gfm";

/** What kind of markdown block a {@link CleanBlock} came from. */
export type CleanBlockKind =
  | "heading"
  | "paragraph"
  | "code"
  | "list"
  | "table"
  | "blockquote"
  | "html"
  | "other";

/** One top-level block of cleaned text with the file lines it came from. */
export interface CleanBlock {
  readonly kind: CleanBlockKind;
  /** Heading level 1–6; only for headings. */
  readonly depth?: number;
  /** Plain text of the block; may hold several lines. */
  readonly text: string;
  /** First and last 1-based file line of the block. */
  readonly startLine: number;
  readonly endLine: number;
  /** The 1-based file line of each line of `text`, so a piece of a block knows its lines too. */
  readonly lines: readonly number[];
}

/** A document turned into plain-text blocks. */
export interface CleanResult {
  readonly blocks: readonly CleanBlock[];
  /** The blocks' text joined with a blank line between blocks. */
  readonly text: string;
}

/** Options of {@link cleanMarkdown}. */
export interface CleanOptions {
  /**
   * Heading texts whose whole section is dropped: the heading and everything up to the next
   * heading of the same or a higher level. Matched case-insensitively, whitespace collapsed.
   */
  readonly removeSections?: readonly string[];
  /** Lines that come before `markdown` in its file (the frontmatter), added to every line number. */
  readonly lineOffset?: number;
}

interface Line {
  readonly text: string;
  readonly line: number;
}

const parser = remark().use(remarkGfm);

/** Normalizes heading text for section matching. */
export function normalizeHeading(text: string): string {
  return text.normalize("NFC").replace(/\s+/g, " ").trim().toLowerCase();
}

/**
 * Turns markdown into plain-text blocks for embedding: drops configured sections, unwraps
 * emphasis, keeps link text but not URLs, keeps image alt text, keeps code blocks as fenced code,
 * renders tables as one `cell | cell` line per row and drops HTML tags, comments, link definitions
 * and rules. Every block keeps the file lines it came from.
 */
export function cleanMarkdown(markdown: string, options: CleanOptions = {}): CleanResult {
  const offset = options.lineOffset ?? 0;
  const remove = new Set((options.removeSections ?? []).map(normalizeHeading));
  const root = parser.parse(markdown) as Root;
  const sourceLines = markdown.split("\n");

  const blocks: CleanBlock[] = [];
  let skippingDepth: number | undefined;
  for (const node of root.children) {
    if (node.type === "heading") {
      if (skippingDepth !== undefined && node.depth <= skippingDepth) skippingDepth = undefined;
      if (skippingDepth === undefined && remove.has(normalizeHeading(nodeToString(node)))) {
        skippingDepth = node.depth;
      }
    }
    if (skippingDepth !== undefined) continue;

    const lines = trimBlankEdges(renderBlock(node, sourceLines));
    if (lines.length === 0) continue;
    const fileLines = lines.map((l) => l.line + offset);
    blocks.push({
      kind: kindOf(node),
      ...(node.type === "heading" ? { depth: node.depth } : {}),
      text: lines.map((l) => l.text).join("\n"),
      startLine: Math.min(...fileLines),
      endLine: Math.max(...fileLines),
      lines: fileLines,
    });
  }
  return { blocks, text: blocks.map((b) => b.text).join("\n\n") };
}

function kindOf(node: RootContent): CleanBlockKind {
  switch (node.type) {
    case "heading":
    case "paragraph":
    case "code":
    case "list":
    case "table":
    case "blockquote":
    case "html":
      return node.type;
    default:
      return "other";
  }
}

function startLine(node: Nodes): number {
  return node.position?.start.line ?? 1;
}

function endLine(node: Nodes): number {
  return node.position?.end.line ?? startLine(node);
}

function renderBlock(node: RootContent, source: readonly string[]): Line[] {
  switch (node.type) {
    case "heading":
    case "paragraph":
      return inlineLines(node.children, startLine(node), endLine(node));
    case "code":
      return codeLines(node, source);
    case "list":
      return listLines(node, source);
    case "table":
      return tableLines(node);
    case "blockquote":
    case "footnoteDefinition":
      return joinWithBlankLines(node.children.map((child) => renderBlock(child, source)));
    case "html":
      return htmlLines(node.value, startLine(node));
    case "thematicBreak":
    case "definition":
    case "yaml":
      return [];
    default: {
      const text = nodeToString(node);
      return splitLines(text, startLine(node), endLine(node));
    }
  }
}

function splitLines(text: string, first: number, last: number): Line[] {
  return text.split("\n").map((t, i) => ({ text: t.trimEnd(), line: Math.min(first + i, last) }));
}

function inlineLines(children: readonly PhrasingContent[], first: number, last: number): Line[] {
  const text = children.map(inlineText).join("");
  return splitLines(text, first, last)
    .map((l) => ({ text: l.text.replace(/[ \t]+/g, " ").trim(), line: l.line }))
    .filter((l) => l.text !== "");
}

function inlineText(node: PhrasingContent): string {
  switch (node.type) {
    case "text":
      return node.value;
    case "inlineCode":
      return `\`${node.value}\``;
    case "break":
      return "\n";
    case "image":
    case "imageReference":
      return node.alt ?? "";
    // Inline HTML nodes are the tags themselves; the text between tags is separate text nodes.
    case "html":
    case "footnoteReference":
      return "";
    default:
      return "children" in node ? node.children.map(inlineText).join("") : nodeToString(node);
  }
}

function codeLines(node: Code, source: readonly string[]): Line[] {
  const first = startLine(node);
  const last = endLine(node);
  const opening = /^[ \t]*(`{3,}|~{3,})/.exec(source[first - 1] ?? "");
  const fence = opening?.[1] ?? "```";
  const info = [node.lang, node.meta].filter(Boolean).join(" ");
  // Fenced code starts its content one line below the fence; indented code has no fence line.
  const contentStart = opening ? first + 1 : first;
  const content = node.value === "" ? [] : node.value.split("\n");
  return [
    { text: `${fence}${info}`, line: first },
    ...content.map((text, i) => ({ text, line: Math.min(contentStart + i, last) })),
    { text: fence, line: last },
  ];
}

function listLines(list: List, source: readonly string[]): Line[] {
  const out: Line[] = [];
  list.children.forEach((item, index) => {
    const bullet = list.ordered ? `${(list.start ?? 1) + index}.` : "-";
    const check = item.checked === true ? "[x] " : item.checked === false ? "[ ] " : "";
    const marker = `${bullet} ${check}`;
    const indent = " ".repeat(bullet.length + 1);
    const itemLines = item.children.flatMap((child) => renderBlock(child, source));
    if (itemLines.length === 0) {
      out.push({ text: marker.trimEnd(), line: startLine(item) });
      return;
    }
    itemLines.forEach((l, i) => {
      out.push({ text: i === 0 ? `${marker}${l.text}` : `${indent}${l.text}`, line: l.line });
    });
  });
  return out;
}

function tableLines(table: Table): Line[] {
  return table.children
    .map((row) => ({
      text: row.children
        .map((cell) => cell.children.map(inlineText).join("").replace(/\s+/g, " ").trim())
        .join(" | "),
      line: startLine(row),
    }))
    .filter((l) => l.text.replace(/[| ]/g, "") !== "");
}

function htmlLines(value: string, first: number): Line[] {
  // Comments may span lines: blank them but keep their newlines so line numbers stay right.
  const withoutComments = value.replace(/<!--[\s\S]*?(?:-->|$)/g, (m) => m.replace(/[^\n]/g, ""));
  return withoutComments
    .split("\n")
    .map((t, i) => ({ text: t.replace(/<[^>]*>/g, "").trim(), line: first + i }))
    .filter((l) => l.text !== "");
}

function joinWithBlankLines(parts: readonly Line[][]): Line[] {
  const out: Line[] = [];
  for (const part of parts) {
    if (part.length === 0) continue;
    const previous = out.at(-1);
    if (previous) out.push({ text: "", line: previous.line });
    out.push(...part);
  }
  return out;
}

function trimBlankEdges(lines: Line[]): Line[] {
  let start = 0;
  let end = lines.length;
  while (start < end && lines[start]?.text.trim() === "") start++;
  while (end > start && lines[end - 1]?.text.trim() === "") end--;
  return lines.slice(start, end);
}
