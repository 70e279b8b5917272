/**
 * What an editor shows for a pipeline's state. The builders compose the state one stage at a
 * time; a hover or an error must still name one plain object type, never the chain it was
 * built from (`WithKey<WithKey<Members<…>>>`), and reading a snapshot must name the
 * checkpoint keys there are. Checked with the compiler's language service (what an editor's
 * hover calls) over snippets that import the library's source, as a user's code does. Also:
 * a late stage of a long chain can read the first key without hitting the compiler's depth
 * limit, which flattening the state in the naive way does at about 70 stages.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { rootCompilerOptions } from "./root-compiler-options.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dir = join(root, "test", ".state-display");

const options: ts.CompilerOptions = rootCompilerOptions(root);

const SAMPLE = `import { createStep, Pipeline, StreamingPipeline } from "sluice";

const label = createStep<number, string, { raw: string }>("label", ({ input, state }) => \`\${state.raw}:\${input}\`);

export const streaming = StreamingPipeline.start<string>()
  .map("len", (s) => s.length)
  .checkpoint("cp")
  .batch("b", 2)
  .map("label", (n, ctx) => \`\${ctx.state.len}:\${n}\`);

export const batch = Pipeline.start<string[]>()
  .map("a", createStep("a", ({ input }) => input.length))
  .add("b", createStep("b", ({ input }) => input.join(",")));

streaming.map("x", (_s, ctx) => ctx.state.materialize("len")); // not-a-checkpoint
StreamingPipeline.start<number>().map("n", (n) => n).map("x", (_n, ctx) => ctx.state.materialize("n")); // no-checkpoint
StreamingPipeline.start<number>().map("raw", (n) => n).map("other", (n) => n).map("l", label); // step-state
streaming.map("len", (s) => s); // duplicate
`;

/** `stages` stages in each builder, the last reading the first key. */
function longChains(stages: number): string {
  const streaming: string[] = [];
  const batch: string[] = [];
  for (let i = 1; i < stages; i++) {
    // A batch now and then nests the earlier keys in arrays, as real pipelines do.
    streaming.push(
      i % 25 === 0
        ? `.batch("k${i}", 2).flatMap("f${i}", (xs) => xs)`
        : `.map("k${i}", (n) => n + ${i})`,
    );
    batch.push(`.add("k${i}", createStep("k${i}", ({ input }) => input + ${i}))`);
  }
  return `import { createStep, Pipeline, StreamingPipeline } from "sluice";
export const streaming = StreamingPipeline.start<number>()
  .map("k0", (n) => n)
  ${streaming.join("\n  ")}
  .map("last", (n, ctx) => ctx.state.k0);
export const batch = Pipeline.start<number>()
  .add("k0", createStep("k0", ({ input }) => input))
  ${batch.join("\n  ")}
  .add("last", createStep("last", ({ state }) => state.k0));
`;
}

const files = new Map([
  [join(dir, "sample.ts"), SAMPLE],
  [join(dir, "long-chains.ts"), longChains(150)],
]);
const host: ts.LanguageServiceHost = {
  getScriptFileNames: () => [...files.keys()],
  getScriptVersion: () => "1",
  getScriptSnapshot: (f) => {
    const text = files.get(f) ?? ts.sys.readFile(f);
    return text === undefined ? undefined : ts.ScriptSnapshot.fromString(text);
  },
  getCurrentDirectory: () => root,
  getCompilationSettings: () => options,
  getDefaultLibFileName: ts.getDefaultLibFilePath,
  fileExists: (f) => files.has(f) || ts.sys.fileExists(f),
  readFile: (f) => files.get(f) ?? ts.sys.readFile(f),
  readDirectory: ts.sys.readDirectory,
  directoryExists: ts.sys.directoryExists,
  getDirectories: ts.sys.getDirectories,
};
const service = ts.createLanguageService(host);
const sample = join(dir, "sample.ts");

/** The hover text of the declaration `const <name>` in the sample. */
function hover(name: string): string {
  const at = SAMPLE.indexOf(`const ${name}`) + "const ".length;
  const info = service.getQuickInfoAtPosition(sample, at);
  return ts.displayPartsToString(info?.displayParts);
}

/** The compiler's messages on the sample line that ends with `// <tag>`. */
function errorsAt(tag: string): string[] {
  const line = SAMPLE.split("\n").findIndex((l) => l.endsWith(`// ${tag}`));
  if (line < 0) throw new Error(`no line tagged ${tag}`);
  const sf = service.getProgram()?.getSourceFile(sample);
  return service
    .getSemanticDiagnostics(sample)
    .filter((d) => sf?.getLineAndCharacterOfPosition(d.start ?? 0).line === line)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
}

describe("the state type as an editor shows it", () => {
  it("a streaming pipeline's hover names the state and the checkpoints as plain objects", () => {
    expect(hover("streaming")).toBe(
      [
        "const streaming: StreamingPipeline<string, string, {",
        "    readonly len: number[];",
        "    readonly cp: number[];",
        "    readonly b: number[];",
        "    readonly label: string;",
        "}, unknown, {",
        "    readonly cp: number;",
        "}>",
      ].join("\n"),
    );
  });

  it("a batch pipeline's hover names the state as a plain object", () => {
    const text = hover("batch");
    expect(text).not.toMatch(/WithKey|Members|&/);
    expect(text).toContain("{\n    readonly a: number[];\n    readonly b: string;\n}");
  });

  it("an error about a step's state shows the state flat", () => {
    const [message] = errorsAt("step-state");
    expect(message).toContain("{ readonly raw: number; readonly other: number; }");
    expect(message).not.toMatch(/WithKey|Members/);
  });

  it("a duplicate key is still an error that reads as a sentence", () => {
    expect(errorsAt("duplicate")).toEqual([
      `Argument of type '"len"' is not assignable to parameter of type '"Error: duplicate key \\"len\\": every stage needs a key of its own"'.`,
    ]);
  });

  it("materialize of a key no checkpoint took names the checkpoint keys there are", () => {
    expect(errorsAt("not-a-checkpoint")).toEqual([
      `Argument of type '"len"' is not assignable to parameter of type '"cp"'.`,
    ]);
  });

  it("materialize with no checkpoint upstream says what to add", () => {
    expect(errorsAt("no-checkpoint")).toEqual([
      `Argument of type '"n"' is not assignable to parameter of type '"Error: no checkpoint upstream: add .checkpoint(key) before the stage that reads its snapshot"'.`,
    ]);
  });

  it("the sample has no other errors", () => {
    const tagged = SAMPLE.split("\n").filter((l) => / \/\/ [\w-]+$/.test(l)).length;
    expect(service.getSemanticDiagnostics(sample)).toHaveLength(tagged);
  });

  it("a 150-stage chain reads its first key at the end (no TS2589)", () => {
    const file = join(dir, "long-chains.ts");
    const messages = [
      ...service.getSyntacticDiagnostics(file),
      ...service.getSemanticDiagnostics(file),
    ].map((d) => `TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
    expect(messages).toEqual([]);
  }, 60_000);
});
