// The splitter is hand-written rather than taken from @langchain/textsplitters: its splitters return
// bare strings, so the 1-based file line range of each chunk (which search results must show) would
// have to be recovered by searching the text again, which is ambiguous for repeated passages; and
// its TokenTextSplitter fetches tokenizer data over the network, which hangs offline. Here every
// chunk is a slice of the cleaned document, and every line of that document knows its file line.
import type { CleanBlock } from "./clean.ts";
import { countCl100kTokens } from "./token-count.ts";

/** Unit of chunk sizes: UTF-16 characters or cl100k_base tokens. */
export type SizeUnit = "chars" | "tokens";

/** Options of {@link splitBlocks}; sizes are in `unit`s. */
export interface SplitOptions {
  /** Default `"chars"`. */
  readonly unit?: SizeUnit;
  /** No chunk is larger than this. */
  readonly maxChunkSize: number;
  /** A chunk smaller than this is merged into a neighbour when the two fit together; default 0. */
  readonly minChunkSize?: number;
  /**
   * How much of the previous chunk is repeated at the start of the next when a cut falls inside a
   * block (cuts at headings and block edges get none); default 0. Taken at a word boundary.
   */
  readonly chunkOverlap?: number;
}

/** A piece of a document, ready to embed. */
export interface TextChunk {
  /** 0-based position of the chunk in its file. */
  readonly index: number;
  readonly text: string;
  /** First and last 1-based file line the chunk's text comes from. */
  readonly startLine: number;
  readonly endLine: number;
  /** Size of `text` in the configured unit. */
  readonly size: number;
  /** Texts of the headings the chunk starts under, outermost first. */
  readonly headings: readonly string[];
}

/** Thrown for split options that cannot work; names the option and its value. */
export class SplitOptionsError extends RangeError {
  override readonly name = "SplitOptionsError";
  constructor(
    readonly option: keyof SplitOptions,
    readonly value: unknown,
    reason: string,
  ) {
    super(`split option ${option} = ${JSON.stringify(value)}: ${reason}`);
  }
}

/** Measures text in a unit. */
export type Sizer = (text: string) => number;

/** The size function of a unit. */
export function sizerFor(unit: SizeUnit): Sizer {
  return unit === "tokens" ? countCl100kTokens : (text) => text.length;
}

type Level =
  | { readonly kind: "heading"; readonly depth: number }
  | { readonly kind: "block" | "paragraph" | "line" | "sentence" | "word" | "char" };

const LEVELS: readonly Level[] = [
  ...[1, 2, 3, 4, 5, 6].map((depth) => ({ kind: "heading" as const, depth })),
  { kind: "block" },
  { kind: "paragraph" },
  { kind: "line" },
  { kind: "sentence" },
  { kind: "word" },
  { kind: "char" },
];
const FIRST_INSIDE_BLOCK = LEVELS.findIndex((l) => l.kind === "paragraph");

/** Kinds whose line breaks are structure (rows, items, code lines) rather than wrapping. */
const LINE_STRUCTURED = new Set(["code", "list", "table"]);

interface Piece {
  start: number;
  end: number;
  size: number;
  /** Whether the cut before this piece falls inside a block (so overlap applies). */
  inside: boolean;
}

const sentenceSegmenter = new Intl.Segmenter(undefined, { granularity: "sentence" });

function validate(options: SplitOptions): Required<SplitOptions> {
  const { maxChunkSize, minChunkSize = 0, chunkOverlap = 0, unit = "chars" } = options;
  if (!Number.isInteger(maxChunkSize) || maxChunkSize < 1) {
    throw new SplitOptionsError("maxChunkSize", maxChunkSize, "must be a positive integer");
  }
  if (!Number.isInteger(minChunkSize) || minChunkSize < 0 || minChunkSize > maxChunkSize) {
    throw new SplitOptionsError(
      "minChunkSize",
      minChunkSize,
      "must be an integer in 0..maxChunkSize",
    );
  }
  if (!Number.isInteger(chunkOverlap) || chunkOverlap < 0 || chunkOverlap >= maxChunkSize) {
    throw new SplitOptionsError(
      "chunkOverlap",
      chunkOverlap,
      "must be an integer in 0..maxChunkSize-1",
    );
  }
  if (unit !== "chars" && unit !== "tokens") {
    throw new SplitOptionsError("unit", unit, 'must be "chars" or "tokens"');
  }
  return { maxChunkSize, minChunkSize, chunkOverlap, unit };
}

/**
 * Splits cleaned markdown blocks into chunks of at most `maxChunkSize`, cutting at the strongest
 * boundary that makes the pieces fit: headings (level 1 first), then block edges (so a code
 * block stays whole when it fits), blank lines, lines (in code, lists and tables), sentences,
 * words and, for a single overlong word, characters. Pieces of one oversized unit are packed
 * greedily; chunks below `minChunkSize` are then merged with a neighbour when both fit in one.
 * Every chunk carries its real file line range. There is no cap on chunks per file.
 */
export function splitBlocks(blocks: readonly CleanBlock[], options: SplitOptions): TextChunk[] {
  const opts = validate(options);
  const doc = new SplitDocument(blocks, sizerFor(opts.unit));
  if (doc.text.trim() === "") return [];
  const pieces = doc.split(0, doc.text.length, 0, false, opts);
  const overlapped = doc.addOverlap(pieces, opts);
  const merged = doc.mergeSmall(overlapped, opts);
  return merged
    .map((piece) => doc.toChunk(piece))
    .filter((chunk) => chunk.text !== "")
    .map((chunk, index) => ({ ...chunk, index }));
}

class SplitDocument {
  readonly text: string;
  private readonly blockStarts: number[] = [];
  private readonly blocks: readonly CleanBlock[];
  /** Offset of the start of each line of `text`. */
  private readonly lineOffsets: number[] = [];
  /** File line of each line of `text`. */
  private readonly fileLines: number[] = [];
  /** The heading trail in force at each block. */
  private readonly trails: (readonly string[])[] = [];

  constructor(
    blocks: readonly CleanBlock[],
    readonly size: Sizer,
  ) {
    this.blocks = blocks;
    let offset = 0;
    const trail: { depth: number; text: string }[] = [];
    blocks.forEach((block, i) => {
      if (i > 0) {
        // The blank separator line borrows the previous block's last line; trimming keeps it
        // off chunk edges anyway.
        this.lineOffsets.push(offset - 1);
        this.fileLines.push(this.fileLines.at(-1) ?? block.startLine);
      }
      this.blockStarts.push(offset);
      const lines = block.text.split("\n");
      let lineStart = offset;
      lines.forEach((line, j) => {
        this.lineOffsets.push(lineStart);
        this.fileLines.push(block.lines[j] ?? block.lines.at(-1) ?? block.startLine);
        lineStart += line.length + 1;
      });
      offset += block.text.length + 2;
      if (block.kind === "heading") {
        const depth = block.depth ?? 1;
        while ((trail.at(-1)?.depth ?? 0) >= depth) trail.pop();
        trail.push({ depth, text: block.text });
      }
      this.trails.push(trail.map((h) => h.text));
    });
    this.text = blocks.map((b) => b.text).join("\n\n");
  }

  /** Size of a range as its chunk would measure: chunks are trimmed, so edges do not count. */
  private sizeOf(start: number, end: number): number {
    return this.size(this.text.slice(start, end).trim());
  }

  private blockIndexAt(offset: number): number {
    return Math.max(0, upperBound(this.blockStarts, offset) - 1);
  }

  /**
   * Recursively cuts [start, end) into pieces that fit, packing siblings greedily. `leadInside`
   * tells whether the cut that produced this range lies inside a block.
   */
  split(
    start: number,
    end: number,
    levelIndex: number,
    leadInside: boolean,
    opts: Required<SplitOptions>,
  ): Piece[] {
    const size = this.sizeOf(start, end);
    if (size <= budgetFor(leadInside, opts)) return [{ start, end, size, inside: leadInside }];
    for (let li = levelIndex; li < LEVELS.length; li++) {
      const level = LEVELS[li] as Level;
      const inside = li >= FIRST_INSIDE_BLOCK;
      if (level.kind === "char") {
        // Rather than cut a word, give up the overlap room when the word fits the maximum.
        if (size <= opts.maxChunkSize) return [{ start, end, size, inside: leadInside }];
        const pieces = this.hardCut(start, end, budgetFor(true, opts));
        if (pieces[0]) pieces[0].inside = leadInside;
        return pieces;
      }
      const cuts = this.boundaries(level, start, end);
      if (cuts.length === 0) continue;
      const pieces: Piece[] = [];
      const edges = [start, ...cuts, end];
      for (let i = 0; i + 1 < edges.length; i++) {
        const a = edges[i] as number;
        const b = edges[i + 1] as number;
        const partInside = i === 0 ? leadInside : inside;
        pieces.push(...this.split(a, b, li + 1, partInside, opts));
      }
      return this.pack(pieces, opts);
    }
    return [{ start, end, size, inside: leadInside }];
  }

  /** Offsets strictly inside (start, end) where `level` allows a cut. */
  private boundaries(level: Level, start: number, end: number): number[] {
    const text = this.text;
    const cuts: number[] = [];
    const within = (offset: number) => offset > start && offset < end;
    switch (level.kind) {
      case "heading":
      case "block":
        // Only the blocks that start inside the range: found by binary search, not a full scan.
        for (let i = upperBound(this.blockStarts, start); i < this.blockStarts.length; i++) {
          const at = this.blockStarts[i] as number;
          if (at >= end) break;
          const block = this.blocks[i];
          const cutsHere =
            level.kind === "block" ||
            (level.kind === "heading" && block?.kind === "heading" && block.depth === level.depth);
          if (cutsHere) {
            cuts.push(at);
          }
        }
        return cuts;
      case "paragraph":
        for (const m of text.slice(start, end).matchAll(/\n[ \t]*\n+/g)) {
          const at = start + m.index + m[0].length;
          if (within(at)) cuts.push(at);
        }
        return cuts;
      case "line": {
        const block = this.blocks[this.blockIndexAt(start)];
        if (!block || !LINE_STRUCTURED.has(block.kind)) return cuts;
        for (
          let i = text.indexOf("\n", start);
          i !== -1 && i < end;
          i = text.indexOf("\n", i + 1)
        ) {
          if (within(i + 1)) cuts.push(i + 1);
        }
        return cuts;
      }
      case "sentence": {
        const block = this.blocks[this.blockIndexAt(start)];
        if (block?.kind === "code") return cuts;
        for (const segment of sentenceSegmenter.segment(text.slice(start, end))) {
          if (within(start + segment.index)) cuts.push(start + segment.index);
        }
        return cuts;
      }
      case "word":
        for (const m of text.slice(start, end).matchAll(/\s+/g)) {
          const at = start + m.index + m[0].length;
          if (within(at)) cuts.push(at);
        }
        return cuts;
      default:
        return cuts;
    }
  }

  /** Last resort for a single unit with no boundary: cut by size, never inside a surrogate pair. */
  private hardCut(start: number, end: number, budget: number): Piece[] {
    const pieces: Piece[] = [];
    let from = start;
    while (from < end) {
      let lo = from + 1;
      let hi = Math.min(end, from + Math.max(budget, 1) * 64);
      // Largest `to` with size(from, to) <= budget; sizes grow with length for both units.
      while (lo < hi) {
        const mid = Math.ceil((lo + hi) / 2);
        if (this.sizeOf(from, mid) <= budget) lo = mid;
        else hi = mid - 1;
      }
      let to = lo;
      if (to < end && isHighSurrogate(this.text.charCodeAt(to - 1)) && to - 1 > from) to--;
      pieces.push({ start: from, end: to, size: this.sizeOf(from, to), inside: true });
      from = to;
    }
    return pieces;
  }

  /**
   * Joins consecutive pieces while they fit; token sizes are estimated by addition (which
   * overestimates at whitespace cuts), then checked exactly.
   */
  private pack(pieces: Piece[], opts: Required<SplitOptions>): Piece[] {
    const out: Piece[] = [];
    let current: Piece | undefined;
    for (const piece of pieces) {
      if (current) {
        const budget = budgetFor(current.inside, opts);
        if (current.size + piece.size <= budget) {
          const exact = this.sizeOf(current.start, piece.end);
          if (exact <= budget) {
            current = { start: current.start, end: piece.end, size: exact, inside: current.inside };
            continue;
          }
        }
        out.push(current);
      }
      current = { ...piece };
    }
    if (current) out.push(current);
    return out;
  }

  /** Prepends the tail of the previous chunk to chunks whose cut falls inside a block. */
  addOverlap(pieces: Piece[], opts: Required<SplitOptions>): Piece[] {
    if (opts.chunkOverlap === 0) return pieces;
    return pieces.map((piece, i) => {
      const previous = pieces[i - 1];
      if (!previous || !piece.inside) return piece;
      const floor = Math.max(previous.start, this.blockStarts[this.blockIndexAt(piece.start)] ?? 0);
      const start = this.overlapStart(floor, piece, opts);
      if (start >= piece.start) return piece;
      return { ...piece, start, size: this.sizeOf(start, piece.end) };
    });
  }

  private overlapStart(floor: number, piece: Piece, opts: Required<SplitOptions>): number {
    // Only look back as far as the overlap could reach (a token spans at most a few dozen chars).
    const reach = opts.chunkOverlap * (opts.unit === "tokens" ? 32 : 1);
    const from = Math.max(floor, piece.start - reach);
    const candidates: number[] = [];
    for (let p = from; p < piece.start; p++) {
      const startsWord = p === floor || /\s/.test(this.text[p - 1] ?? "");
      if (startsWord && !/\s/.test(this.text[p] ?? " ")) candidates.push(p);
    }
    // Sizes shrink as the start moves right: binary-search the earliest start that fits.
    const fits = (p: number) =>
      this.sizeOf(p, piece.start) <= opts.chunkOverlap &&
      this.sizeOf(p, piece.end) <= opts.maxChunkSize;
    let lo = 0;
    let hi = candidates.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (fits(candidates[mid] as number)) hi = mid;
      else lo = mid + 1;
    }
    return candidates[lo] ?? piece.start;
  }

  /** Merges chunks below the minimum into a neighbour when the two fit together. */
  mergeSmall(pieces: Piece[], opts: Required<SplitOptions>): Piece[] {
    if (opts.minChunkSize === 0) return pieces;
    const out: Piece[] = [];
    for (const piece of pieces) {
      const last = out.at(-1);
      if (last && (last.size < opts.minChunkSize || piece.size < opts.minChunkSize)) {
        const start = Math.min(last.start, piece.start);
        const size = this.sizeOf(start, piece.end);
        if (size <= opts.maxChunkSize) {
          out[out.length - 1] = { start, end: piece.end, size, inside: last.inside };
          continue;
        }
      }
      out.push(piece);
    }
    return out;
  }

  toChunk(piece: Piece): Omit<TextChunk, "index"> {
    const raw = this.text.slice(piece.start, piece.end);
    const lead = raw.length - raw.trimStart().length;
    const text = raw.trim();
    const start = piece.start + lead;
    const last = start + Math.max(text.length - 1, 0);
    return {
      text,
      startLine: this.fileLineAt(start),
      endLine: this.fileLineAt(last),
      size: this.size(text),
      headings: this.trails[this.blockIndexAt(start)] ?? [],
    };
  }

  private fileLineAt(offset: number): number {
    const line = Math.max(0, upperBound(this.lineOffsets, offset) - 1);
    return this.fileLines[line] ?? 1;
  }
}

/** A chunk that will get overlap prepended (its cut is inside a block) leaves room for it. */
function budgetFor(inside: boolean, opts: Required<SplitOptions>): number {
  return inside ? opts.maxChunkSize - opts.chunkOverlap : opts.maxChunkSize;
}

/** Index of the first element greater than `value` in an ascending array. */
function upperBound(values: readonly number[], value: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((values[mid] as number) <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
