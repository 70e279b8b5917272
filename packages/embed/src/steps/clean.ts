/// <reference path="./markdown-it-rules.d.ts" />
import MarkdownIt from "markdown-it";
import backticks from "markdown-it/lib/rules_inline/backticks.mjs";
import type Token from "markdown-it/lib/token.mjs";
import footnotes from "markdown-it-footnote";

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

// CommonMark with GFM tables, strikethrough and footnotes; raw HTML is parsed (and dropped below)
// rather than read as text. markdown-it is linear on the inputs that made remark/micromark take
// minutes, and about 25x faster on ordinary files (docs/performance.md).
const parser = new MarkdownIt({ html: true }).use(footnotes);
// A code span that runs over a line break keeps the break, as written: the spec renders it as a
// space, but then every later line of the block would be credited to the line before it.
parser.inline.ruler.at("backticks", (state, silent) => {
  const start = state.pos;
  if (!backticks(state, silent)) return false;
  const token = state.tokens[state.tokens.length - 1];
  const raw = state.src.slice(start, state.pos);
  if (!silent && token?.type === "code_inline" && raw.includes("\n")) {
    const fence = token.markup.length;
    token.content = raw
      .slice(fence, raw.length - fence)
      .replace(/^[ \n]([\s\S]*[^ \n][\s\S]*)[ \n]$/, "$1");
  }
  return true;
});

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
  const root = blockTree(parser.parse(markdown, {}));

  const blocks: CleanBlock[] = [];
  let skippingDepth: number | undefined;
  for (const node of root) {
    const { token } = node;
    if (token.type === "heading_open") {
      const depth = headingDepth(token);
      if (skippingDepth !== undefined && depth <= skippingDepth) skippingDepth = undefined;
      if (skippingDepth === undefined && remove.has(normalizeHeading(plainText(node)))) {
        skippingDepth = depth;
      }
    }
    if (skippingDepth !== undefined) continue;

    const lines = trimBlankEdges(renderBlock(node));
    if (lines.length === 0) continue;
    const fileLines = lines.map((l) => l.line + offset);
    let first = fileLines[0] as number;
    let last = first;
    for (const line of fileLines) {
      if (line < first) first = line;
      if (line > last) last = line;
    }
    blocks.push({
      kind: kindOf(token),
      ...(token.type === "heading_open" ? { depth: headingDepth(token) } : {}),
      text: lines.map((l) => l.text).join("\n"),
      startLine: first,
      endLine: last,
      lines: fileLines,
    });
  }
  return { blocks, text: blocks.map((b) => b.text).join("\n\n") };
}

/** A block token with the blocks between it and its closing token (none for a leaf). */
interface BlockNode {
  readonly token: Token;
  readonly children: BlockNode[];
}

/** markdown-it's flat token stream as the tree its `_open`/`_close` pairs describe. */
function blockTree(tokens: readonly Token[]): BlockNode[] {
  const root: BlockNode[] = [];
  const stack: BlockNode[][] = [root];
  for (const token of tokens) {
    const siblings = stack[stack.length - 1] as BlockNode[];
    if (token.nesting === -1) {
      if (stack.length > 1) stack.pop();
      continue;
    }
    const node: BlockNode = { token, children: [] };
    siblings.push(node);
    if (token.nesting === 1) stack.push(node.children);
  }
  return root;
}

function kindOf(token: Token): CleanBlockKind {
  switch (token.type) {
    case "heading_open":
      return "heading";
    case "paragraph_open":
      return "paragraph";
    case "fence":
    case "code_block":
      return "code";
    case "bullet_list_open":
    case "ordered_list_open":
      return "list";
    case "table_open":
      return "table";
    case "blockquote_open":
      return "blockquote";
    case "html_block":
      return "html";
    default:
      return "other";
  }
}

function headingDepth(token: Token): number {
  return Number(token.tag.slice(1));
}

/** First and last 1-based line of a block (markdown-it's `map` is 0-based, end exclusive). */
function firstLine(node: BlockNode): number {
  return (node.token.map?.[0] ?? 0) + 1;
}

function lastLine(node: BlockNode): number {
  return Math.max(node.token.map?.[1] ?? 0, firstLine(node));
}

/** The inline content of a heading, paragraph or table cell. */
function inlineOf(node: BlockNode): Token | undefined {
  return node.children.find((c) => c.token.type === "inline")?.token;
}

function renderBlock(node: BlockNode): Line[] {
  const { token } = node;
  switch (token.type) {
    case "heading_open":
    case "paragraph_open":
      return inlineLines(inlineOf(node), firstLine(node), lastLine(node));
    case "fence":
    case "code_block":
      return codeLines(node);
    case "bullet_list_open":
    case "ordered_list_open":
      return listLines(node);
    case "table_open":
      return tableLines(node);
    case "blockquote_open":
      return joinWithBlankLines(node.children.map(renderBlock));
    case "html_block":
      return htmlLines(token.content, firstLine(node));
    case "inline":
      // A list item's paragraph that markdown-it hides (tight lists) still has its inline.
      return inlineLines(token, firstLine(node), lastLine(node));
    default:
      // Rules (hr) draw nothing; unknown containers keep their children's text.
      return joinWithBlankLines(node.children.map(renderBlock));
  }
}

function inlineLines(inline: Token | undefined, first: number, last: number): Line[] {
  const parts = inlineText(inline?.children ?? []).split("\n");
  const lines: Line[] = [];
  for (let i = 0; i < parts.length; i++) {
    const text = tidyInlineLine(parts[i] as string);
    if (text !== "") lines.push({ text, line: Math.min(first + i, last) });
  }
  return lines;
}

const BLANK_RUN = /[ \t]+/g;

/**
 * A line of inline text with runs of spaces and tabs made one space, trimmed. Most lines have
 * no run to collapse, and checking for one costs less than the replace and its copy (the
 * replace was ~4% of a worker's time on the generated corpus).
 */
export function tidyInlineLine(line: string): string {
  const collapsed =
    line.includes("  ") || line.includes("\t") ? line.replace(BLANK_RUN, " ") : line;
  return collapsed.trim();
}

/** Inline tokens as text: markup unwrapped, link text without URLs, image alt text, no HTML. */
function inlineText(tokens: readonly Token[]): string {
  let out = "";
  for (const token of tokens) {
    switch (token.type) {
      case "text":
      case "text_special":
        out += token.content;
        break;
      case "code_inline":
        out += `\`${token.content}\``;
        break;
      case "softbreak":
      case "hardbreak":
        out += "\n";
        break;
      case "image":
        out += inlineText(token.children ?? []);
        break;
      // Inline HTML tokens are the tags themselves; the text between tags is separate text.
      default:
        break;
    }
  }
  return out;
}

/** A heading's text as section matching sees it: text, code and alt text, no markup. */
function plainText(node: BlockNode): string {
  const collect = (tokens: readonly Token[]): string =>
    tokens
      .map((t) =>
        t.type === "text" || t.type === "text_special" || t.type === "code_inline"
          ? t.content
          : t.type === "image"
            ? collect(t.children ?? [])
            : "",
      )
      .join("");
  return collect(inlineOf(node)?.children ?? []);
}

function codeLines(node: BlockNode): Line[] {
  const { token } = node;
  const first = firstLine(node);
  const last = lastLine(node);
  const fenced = token.type === "fence";
  const fence = fenced ? token.markup : "```";
  // The info string is the language, then anything else: one space between them, as written.
  const info = token.info.trim().replace(/^(\S+)\s+/, "$1 ");
  // Fenced code starts its content one line below the fence; indented code has no fence line.
  const contentStart = fenced ? first + 1 : first;
  const value = token.content.replace(/\n$/, "");
  const content = value === "" ? [] : value.split("\n");
  return [
    { text: `${fence}${info}`, line: first },
    ...content.map((text, i) => ({ text, line: Math.min(contentStart + i, last) })),
    { text: fence, line: last },
  ];
}

const TASK_MARKER = /^\[([ xX])\](?:[ \t]+|$)/;

function listLines(list: BlockNode): Line[] {
  const out: Line[] = [];
  const ordered = list.token.type === "ordered_list_open";
  const start = Number(list.token.attrGet("start") ?? 1);
  list.children.forEach((item, index) => {
    const bullet = ordered ? `${start + index}.` : "-";
    // GFM task items: `[ ]` or `[x]` opening the item's first paragraph, as written.
    const firstInline = item.children[0] && inlineOf(item.children[0]);
    const task = firstInline ? TASK_MARKER.exec(firstInline.content) : null;
    const check = task ? (task[1] === " " ? "[ ] " : "[x] ") : "";
    const marker = `${bullet} ${check}`;
    const indent = " ".repeat(bullet.length + 1);
    const itemLines = item.children.flatMap(renderBlock);
    if (task && itemLines[0]) {
      itemLines[0] = { ...itemLines[0], text: itemLines[0].text.replace(/^\[[ xX]\]\s*/, "") };
    }
    if (itemLines.length === 0 || (itemLines.length === 1 && itemLines[0]?.text === "")) {
      out.push({ text: marker.trimEnd(), line: firstLine(item) });
      return;
    }
    itemLines.forEach((l, i) => {
      out.push({ text: i === 0 ? `${marker}${l.text}` : `${indent}${l.text}`, line: l.line });
    });
  });
  return out;
}

function tableLines(table: BlockNode): Line[] {
  const rows = table.children.flatMap((section) => section.children);
  return rows
    .map((row) => ({
      text: row.children
        .map((cell) =>
          inlineText(inlineOf(cell)?.children ?? [])
            .replace(/\s+/g, " ")
            .trim(),
        )
        .join(" | "),
      line: firstLine(row),
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
