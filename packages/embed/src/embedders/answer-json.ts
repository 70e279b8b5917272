/**
 * Reads an embeddings answer's JSON from its bytes one `data` element at a time.
 *
 * Why not `JSON.parse(text)`: an answer of 64 base64 vectors of 1,536 floats is ~0.5 MB, and a
 * string that large lives in V8's large-object space, where each one costs fresh pages; decoding
 * it took ~3.5 ms per MB against ~0.1 ms per MB for strings of one element's size (measured on
 * this project's machine, Node 20), and those strings drove old-generation collections. Parsing
 * element by element makes only element-sized strings.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A body the scanner does not follow; the caller parses the whole text instead. */
class NotScanned extends Error {}

/**
 * The top-level object of a JSON body with its `data` list, parsed element by element, or
 * `undefined` when the body is anything else: not an object, invalid JSON, not UTF-8, or an
 * object whose `data` is not a list. The caller then parses the text whole, which either
 * succeeds the same way or gives its error. The result equals `JSON.parse` of the decoded body
 * (duplicate keys: the last wins, as there).
 */
export function parseAnswerBytes(bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    const scanner = new Scanner(bytes);
    const answer = scanner.answer();
    return Array.isArray(answer.data) ? answer : undefined;
  } catch (error) {
    if (error instanceof NotScanned || error instanceof SyntaxError || error instanceof TypeError) {
      return undefined;
    }
    throw error;
  }
}

class Scanner {
  private at = 0;

  constructor(private readonly bytes: Uint8Array) {}

  answer(): Record<string, unknown> {
    const answer: Record<string, unknown> = {};
    this.skipSpace();
    this.expect(OPEN_OBJECT);
    this.skipSpace();
    if (this.peek() === CLOSE_OBJECT) {
      this.at++;
    } else {
      for (;;) {
        this.skipSpace();
        const keyStart = this.at;
        this.expect(QUOTE);
        this.at = this.stringEnd(keyStart);
        const key = this.parse(keyStart, this.at);
        if (typeof key !== "string") throw new NotScanned();
        this.skipSpace();
        this.expect(COLON);
        this.skipSpace();
        // The `data` list element by element; any other value (small) in one parse.
        const value = key === "data" && this.peek() === OPEN_ARRAY ? this.list() : this.value();
        // Defined as JSON.parse does: a "__proto__" key is an own property, not the prototype.
        Object.defineProperty(answer, key, {
          value,
          writable: true,
          enumerable: true,
          configurable: true,
        });
        this.skipSpace();
        const next = this.take();
        if (next === CLOSE_OBJECT) break;
        if (next !== COMMA) throw new NotScanned();
      }
    }
    this.skipSpace();
    if (this.at !== this.bytes.length) throw new NotScanned();
    return answer;
  }

  private list(): unknown[] {
    const items: unknown[] = [];
    this.expect(OPEN_ARRAY);
    this.skipSpace();
    if (this.peek() === CLOSE_ARRAY) {
      this.at++;
      return items;
    }
    for (;;) {
      this.skipSpace();
      items.push(this.value());
      this.skipSpace();
      const next = this.take();
      if (next === CLOSE_ARRAY) return items;
      if (next !== COMMA) throw new NotScanned();
    }
  }

  /** Finds where the value at the cursor ends and parses that slice alone. */
  private value(): unknown {
    const start = this.at;
    const first = this.peek();
    if (first === QUOTE) {
      this.at = this.stringEnd(start);
    } else if (first === OPEN_OBJECT || first === OPEN_ARRAY) {
      this.at = this.containerEnd(start);
    } else {
      // A number or a literal: it runs to the next delimiter; JSON.parse judges it.
      while (this.at < this.bytes.length && !isDelimiter(this.bytes[this.at] as number)) this.at++;
    }
    if (this.at === start) throw new NotScanned();
    return this.parse(start, this.at);
  }

  /** The index just past the closing quote of the string opening at `start`. */
  private stringEnd(start: number): number {
    const { bytes } = this;
    let from = start + 1;
    for (;;) {
      const quote = bytes.indexOf(QUOTE, from);
      if (quote === -1) throw new NotScanned();
      let backslashes = 0;
      while (bytes[quote - 1 - backslashes] === BACKSLASH) backslashes++;
      // An even run of backslashes escapes itself, not the quote.
      if (backslashes % 2 === 0) return quote + 1;
      from = quote + 1;
    }
  }

  /** The index just past the bracket closing the object or array opening at `start`. */
  private containerEnd(start: number): number {
    const { bytes } = this;
    let depth = 0;
    let i = start;
    while (i < bytes.length) {
      const byte = bytes[i] as number;
      if (byte === QUOTE) {
        i = this.stringEnd(i);
        continue;
      }
      if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) depth++;
      else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
        depth--;
        // Mismatched brackets are left to JSON.parse of the slice to refuse.
        if (depth === 0) return i + 1;
      }
      i++;
    }
    throw new NotScanned();
  }

  private parse(start: number, end: number): unknown {
    return JSON.parse(utf8.decode(this.bytes.subarray(start, end)));
  }

  private skipSpace(): void {
    const { bytes } = this;
    while (this.at < bytes.length) {
      const byte = bytes[this.at];
      if (byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09) return;
      this.at++;
    }
  }

  private peek(): number | undefined {
    return this.bytes[this.at];
  }

  private take(): number | undefined {
    return this.bytes[this.at++];
  }

  private expect(byte: number): void {
    if (this.bytes[this.at] !== byte) throw new NotScanned();
    this.at++;
  }
}

/** JSON white space and the bytes that may follow a value. */
function isDelimiter(byte: number): boolean {
  return (
    byte === COMMA ||
    byte === CLOSE_OBJECT ||
    byte === CLOSE_ARRAY ||
    byte === 0x20 ||
    byte === 0x0a ||
    byte === 0x0d ||
    byte === 0x09
  );
}
