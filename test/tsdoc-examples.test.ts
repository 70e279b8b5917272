/**
 * Every ```ts block under an `@example` tag in the public API's TSDoc is type-checked
 * against the source, so an example cannot drift from the code it documents; and every
 * export of the public entry points must have one. Examples are fragments, compiled (never
 * run: most need a network, files or a tracer) after a prelude that imports the whole public
 * API and declares the free names examples lean on (DECLARATIONS: `pipeline`, `items`,
 * `run`, ...). An example sits in a block of its own, so it can shadow a prelude name with
 * its own `const pipeline = ...`, but cannot `import`. A `// @ts-expect-error: <text>` line
 * shows a compile error on purpose; <text> must occur in the compiler's message.
 */
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { rootCompilerOptions } from "./root-compiler-options.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const entries = {
  sluice: "packages/sluice/src/index.ts",
  "sluice/node": "packages/sluice/src/entry-node.ts",
  "sluice/otel": "packages/sluice/src/entry-otel.ts",
};

// Concrete types, so that a renamed method or a wrong argument in an example fails. Generic
// names (`ctx`, `error`, `x`) stay out: they would hide an example's mistake, not flag it.
const DECLARATIONS = `
import * as fs from "node:fs";
import type { Writable } from "node:stream";
import { trace } from "@opentelemetry/api";

interface User { id: string; name: string }
interface Db { query(sql: string, params?: unknown[]): Promise<unknown[]> }
declare function connect(): Promise<Db>;

// Streaming examples: lines of text in, strings out.
declare const pipeline: StreamingPipeline<string, string, {}, unknown>;
declare const run: StreamingRun<string>;
declare const input: string;
declare const items: string[];
declare const files: string[];
declare const lines: AsyncIterable<string>;
declare const readableStream: ReadableStream<string>;
declare const signal: AbortSignal;
declare const output: Writable;
declare const response: Response;
declare const dedupe: StreamingStep<string, string>;
declare function use(out: string): void;
declare function done(out: string): boolean;
declare function save(record: unknown): void;
declare function send(body: string, init: { signal: AbortSignal }): Promise<Response>;
declare function download(url: string): Promise<string>;
declare function fetchItem(id: number, init: { signal: AbortSignal }): Promise<string>;

// Batch examples: an array of rows in.
declare const batchPipeline: Pipeline<string[], number[], { lengths: number[] }, unknown>;
declare const rows: string[];
declare const summarize: Step<string, string>;
declare const passThrough: Step<string, string>;
`;

interface Example {
  /** Path relative to the repository root. */
  file: string;
  /** The documented symbol, qualified by its class or interface: `Pipeline.map`. */
  symbol: string;
  /** 1-based line of the example's first code line in `file`. */
  line: number;
  code: string;
  /** Per code line, how many characters the comment prefix (`   * `) took. */
  indents: number[];
}

const options: ts.CompilerOptions = rootCompilerOptions(root);

// One parse per file across both programs: parsing the libs is most of a program's cost.
const parsed = new Map<string, ts.SourceFile>();
const virtual = new Map<string, string>();
const host = ts.createCompilerHost(options, true);
const realGetSourceFile = host.getSourceFile.bind(host);
const realFileExists = host.fileExists.bind(host);
const realReadFile = host.readFile.bind(host);
host.fileExists = (f) => virtual.has(f) || realFileExists(f);
host.readFile = (f) => virtual.get(f) ?? realReadFile(f);
host.getSourceFile = (fileName, language, onError, shouldCreate) => {
  const text = virtual.get(fileName);
  if (text !== undefined) return ts.createSourceFile(fileName, text, language, true);
  let sf = parsed.get(fileName);
  if (sf === undefined) {
    sf = realGetSourceFile(fileName, language, onError, shouldCreate);
    if (sf !== undefined) parsed.set(fileName, sf);
  }
  return sf;
};

const api = ts.createProgram(
  Object.values(entries).map((e) => join(root, e)),
  options,
  host,
);
const checker = api.getTypeChecker();

/** The exports of each entry point, by name, resolved to their declarations. */
function exportsOf(entry: string): { name: string; symbol: ts.Symbol; typeOnly: boolean }[] {
  const sf = api.getSourceFile(join(root, entry));
  const moduleSymbol = sf && checker.getSymbolAtLocation(sf);
  if (moduleSymbol === undefined) throw new Error(`no module symbol for ${entry}`);
  return checker.getExportsOfModule(moduleSymbol).map((s) => {
    const symbol = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
    return { name: s.name, symbol, typeOnly: (symbol.flags & ts.SymbolFlags.Value) === 0 };
  });
}

const exported = Object.entries(entries).map(([specifier, entry]) => ({
  specifier,
  exports: exportsOf(entry),
}));

const PRELUDE = [
  ...exported.map(
    (e) =>
      `import { ${e.exports.map((x) => (x.typeOnly ? `type ${x.name}` : x.name)).join(", ")} } from "${e.specifier}";`,
  ),
  DECLARATIONS.trim(),
  "",
].join("\n");
const preludeLines = PRELUDE.split("\n").length - 1;

/** The library's files reachable from the entry points: where the public API's docs live. */
const apiFiles = api
  .getSourceFiles()
  .filter((sf) => relative(root, sf.fileName).startsWith("packages/sluice/src/"));

function qualifiedName(node: ts.Node): string {
  const parts: string[] = [];
  let n: ts.Node | undefined = ts.isVariableStatement(node)
    ? node.declarationList.declarations[0]
    : node;
  for (; n !== undefined && !ts.isSourceFile(n); n = n.parent) {
    if (ts.isConstructorDeclaration(n)) parts.unshift("constructor");
    else if (
      ts.isClassDeclaration(n) ||
      ts.isInterfaceDeclaration(n) ||
      ts.isTypeAliasDeclaration(n) ||
      ts.isFunctionDeclaration(n) ||
      ts.isMethodDeclaration(n) ||
      ts.isMethodSignature(n) ||
      ts.isPropertyDeclaration(n) ||
      ts.isPropertySignature(n) ||
      ts.isPropertyAssignment(n) ||
      ts.isAccessor(n) ||
      ts.isVariableDeclaration(n) ||
      ts.isEnumDeclaration(n) ||
      ts.isModuleDeclaration(n)
    ) {
      if (n.name !== undefined) parts.unshift(n.name.getText());
    }
  }
  return parts.join(".") || "(anonymous)";
}

/** The ```ts blocks of a doc comment's `@example` tags, from its raw text. */
function examplesIn(sf: ts.SourceFile, doc: ts.JSDoc, symbol: string): Example[] {
  const out: Example[] = [];
  const firstLine = sf.getLineAndCharacterOfPosition(doc.getStart(sf)).line;
  const raw = sf.text.slice(doc.getStart(sf), doc.getEnd()).split("\n");
  const lines = raw.map((l) => {
    const prefix = /^\s*(\/\*\*|\*\/|\*)? ?/.exec(l)?.[0] ?? "";
    return { text: l.slice(prefix.length).replace(/\s*\*\/$/, ""), indent: prefix.length };
  });
  let inExample = false;
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]?.text ?? "";
    if (/^@\w+/.test(text)) inExample = text.startsWith("@example");
    const fence = /^```(\w*)\s*$/.exec(text);
    if (!fence) continue;
    let end = i + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end]?.text ?? "")) end++;
    if (inExample && (fence[1] === "ts" || fence[1] === "typescript")) {
      const body = lines.slice(i + 1, end);
      out.push({
        file: relative(root, sf.fileName),
        symbol,
        line: firstLine + i + 2,
        code: body.map((l) => l.text).join("\n"),
        indents: body.map((l) => l.indent),
      });
    }
    // A fence's lines are code, never tags, whatever they start with.
    i = end;
  }
  return out;
}

/** Every documented declaration of a file, with its doc comments, outermost first. */
function docsOf(sf: ts.SourceFile): { node: ts.Node; doc: ts.JSDoc }[] {
  const seen = new Set<ts.JSDoc>();
  const out: { node: ts.Node; doc: ts.JSDoc }[] = [];
  const visit = (node: ts.Node) => {
    for (const doc of ts.getJSDocCommentsAndTags(node)) {
      if (ts.isJSDoc(doc) && !seen.has(doc)) {
        seen.add(doc);
        out.push({ node, doc });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

const examples = apiFiles.flatMap((sf) =>
  docsOf(sf).flatMap(({ node, doc }) => examplesIn(sf, doc, qualifiedName(node))),
);

// <text> is checked so that an example cannot pass by failing for another reason.
const EXPECT_ERROR = /^\s*\/\/\s*@ts-expect-error\b:?\s*(.*)$/;

const snippetPath = (i: number, variant = "") =>
  join(root, "test", ".tsdoc-examples", `example-${i}${variant}.ts`);
const wrap = (code: string) => `${PRELUDE}{\n${code}\n}\n`;
examples.forEach((ex, i) => {
  virtual.set(snippetPath(i), wrap(ex.code));
  const lines = ex.code.split("\n");
  if (lines.some((l) => EXPECT_ERROR.test(l))) {
    // The same code without the directives, to read the errors they silence.
    virtual.set(
      snippetPath(i, "-unsilenced"),
      wrap(lines.map((l) => (EXPECT_ERROR.test(l) ? "" : l)).join("\n")),
    );
  }
});
const program = ts.createProgram([...virtual.keys()], options, host, api);

function diagnosticsOf(fileName: string): ts.Diagnostic[] {
  const sf = program.getSourceFile(fileName);
  if (sf === undefined) throw new Error(`${fileName} missing from the program`);
  return [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)];
}

/** 0-based line in the example's code, or a negative number inside the prelude. */
function codeLineOf(d: ts.Diagnostic): number {
  if (d.file === undefined || d.start === undefined) return -1;
  return d.file.getLineAndCharacterOfPosition(d.start).line - preludeLines - 1;
}

/** A diagnostic as `file:line:col TSxxxx message`, located in the source the example came from. */
function describeDiagnostic(ex: Example, d: ts.Diagnostic): string {
  const message = `TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
  if (d.file === undefined || d.start === undefined) return message;
  const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
  if (!virtual.has(d.file.fileName)) {
    return `${relative(root, d.file.fileName)}:${line + 1}:${character + 1} ${message}`;
  }
  const codeLine = codeLineOf(d);
  if (codeLine < 0) return `prelude:${line + 1}:${character + 1} ${message}`;
  const col = character + 1 + (ex.indents[codeLine] ?? 0);
  return `${ex.file}:${ex.line + codeLine}:${col} ${message}`;
}

describe("TSDoc @example blocks", () => {
  it("exist", () => {
    expect(examples.length).toBeGreaterThan(50);
  });

  it("compile with the project's options", () => {
    const global = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()];
    expect(global.map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"))).toEqual([]);
  });

  examples.forEach((ex, i) => {
    it(`type-check: ${ex.symbol} (${ex.file}:${ex.line})`, () => {
      const problems = diagnosticsOf(snippetPath(i)).map((d) => describeDiagnostic(ex, d));
      const unsilenced = snippetPath(i, "-unsilenced");
      if (virtual.has(unsilenced)) {
        const errors = diagnosticsOf(unsilenced);
        ex.code.split("\n").forEach((l, j) => {
          const expected = EXPECT_ERROR.exec(l)?.[1]?.trim();
          if (!expected) return;
          const messages = errors
            .filter((d) => codeLineOf(d) === j + 1)
            .map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
          if (!messages.some((m) => m.includes(expected))) {
            problems.push(
              `${ex.file}:${ex.line + j + 1} expected an error containing ${expected}, got ${JSON.stringify(messages)}`,
            );
          }
        });
      }
      expect(problems, `@example of ${ex.symbol} at ${ex.file}:${ex.line}`).toEqual([]);
    });
  });

  it("cover every export of the public entry points", () => {
    const covered = new Set(examples.map((ex) => `${ex.file}#${ex.symbol}`));
    const missing: string[] = [];
    for (const { specifier, exports } of exported) {
      for (const { name, symbol } of exports) {
        const has = (symbol.declarations ?? []).some((d) =>
          covered.has(`${relative(root, d.getSourceFile().fileName)}#${qualifiedName(d)}`),
        );
        if (!has) missing.push(`${specifier}: ${name}`);
      }
    }
    expect(missing, "exports without a ```ts block under @example").toEqual([]);
  });
});
