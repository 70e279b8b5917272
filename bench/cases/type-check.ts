/**
 * Case `type-check`: what a long sluice chain costs the compiler. Each
 * implementation writes one `.ts` file (not timed) into a temp folder with a
 * `tsconfig.json` extending the repository's `tsconfig.base.json` (so `sluice`
 * resolves to its source through the path mapping), then times
 * `node node_modules/typescript/bin/tsc -p <dir> --noEmit --extendedDiagnostics`.
 * The baseline has the same imports and a 1-stage pipeline; the other a chain
 * of `stages` stages cycling map → filter → flatMap → batch. Reports tsc's own
 * check time and instantiation count; the checksum is the number of errors (0).
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BenchCase, Implementation, RunFn, VariantParams } from "../types.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const TSC = join(REPO, "node_modules", "typescript", "bin", "tsc");

const HEADER = `import { StreamingPipeline } from "sluice";

interface Doc {
  readonly id: number;
  readonly text: string;
}
`;

/**
 * Stage `i` of the long chain. The item type is `Doc` before stage 0, then
 * `number`, or `number[]` after a batch; each kind keeps the next stage's
 * input type known.
 */
function stage(i: number, afterBatch: boolean): string {
  const key = `"s${i}"`;
  switch (i % 4) {
    case 0:
      if (i === 0) return `.map(${key}, (doc) => doc.id + doc.text.length)`;
      return afterBatch
        ? `.map(${key}, (xs) => xs.reduce((a, b) => a + b, ${i}))`
        : `.map(${key}, (n) => n + ${i})`;
    case 1:
      return `.filter(${key}, (n) => n % ${i + 2} !== 0)`;
    case 2:
      return `.flatMap(${key}, (n) => [n, n * ${i}])`;
    default:
      return `.batch(${key}, ${(i % 7) + 2})`;
  }
}

/** The source of a pipeline with `stages` stages (1: the baseline's single map). */
export function pipelineSource(stages: number): string {
  const chain: string[] = [];
  for (let i = 0; i < stages; i++) chain.push(`  ${stage(i, i > 0 && (i - 1) % 4 === 3)}`);
  const last = stages - 1;
  const outType = last % 4 === 3 ? "number[]" : "number";
  return `${HEADER}
export const pipeline = StreamingPipeline.start<Doc>()
${chain.join("\n")};

export async function drain(docs: readonly Doc[]): Promise<${outType}[]> {
  const out: ${outType}[] = [];
  for await (const item of pipeline.executeFrom(docs)) out.push(item);
  return out;
}
`;
}

/** The figures of `--extendedDiagnostics` this case reports. */
interface Diagnostics {
  readonly checkMs: number;
  readonly totalMs: number;
  readonly instantiations: number;
  readonly types: number;
  readonly memoryKb: number;
}

function diagnosticsOf(output: string): Diagnostics {
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+([\\d.]+)(s|K)?\\s*$`, "m").exec(output);
    if (match?.[1] === undefined) throw new Error(`tsc printed no "${name}" line:\n${output}`);
    const value = Number(match[1]);
    return match[2] === "s" ? value * 1000 : value;
  };
  return {
    checkMs: field("Check time"),
    totalMs: field("Total time"),
    instantiations: field("Instantiations"),
    types: field("Types"),
    memoryKb: field("Memory used"),
  };
}

function runTsc(dir: string): Promise<{ readonly output: string; readonly code: number }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [TSC, "-p", dir, "--noEmit", "--extendedDiagnostics", "--pretty", "false"],
      { cwd: REPO, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        if (error !== null && code === -1) reject(error);
        else resolve({ output: `${stdout}${stderr}`, code });
      },
    );
  });
}

/** Writes the project (not timed), then times one tsc run over it. */
function tscRun(stagesOf: (params: VariantParams) => number): Implementation["prepare"] {
  return async (params): Promise<RunFn> => {
    const dir = await mkdtemp(join(os.tmpdir(), "sluice-bench-tsc-"));
    const tsconfig = {
      extends: join(REPO, "tsconfig.base.json"),
      compilerOptions: { types: [], typeRoots: [join(REPO, "node_modules", "@types")] },
      files: ["pipeline.ts"],
    };
    await writeFile(join(dir, "tsconfig.json"), `${JSON.stringify(tsconfig, null, 2)}\n`);
    await writeFile(join(dir, "pipeline.ts"), pipelineSource(stagesOf(params)));
    return async (probe) => {
      try {
        const { output, code } = await runTsc(dir);
        const errors = output.split("\n").filter((l) => /error TS\d+/.test(l));
        if (errors.length > 0) {
          process.stderr.write(`tsc errors:\n${errors.slice(0, 5).join("\n")}\n`);
          return errors.length;
        }
        if (code !== 0) throw new Error(`tsc exited with ${code} and no error line:\n${output}`);
        const d = diagnosticsOf(output);
        probe.record("checkMs", d.checkMs);
        probe.record("totalMs", d.totalMs);
        probe.record("instantiations", d.instantiations);
        probe.record("types", d.types);
        probe.record("memoryBytes", d.memoryKb * 1024);
        return 0;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    };
  };
}

const implementations: Record<string, Implementation> = {
  "baseline-1-stage": {
    description: "the same imports and types, `StreamingPipeline.start<Doc>().map(…)`",
    prepare: tscRun(() => 1),
  },
  "chain-n-stages": {
    description:
      "`StreamingPipeline.start<Doc>()` + n stages cycling map → filter → flatMap → batch, drained with `for await`",
    prepare: tscRun((params) => params.size),
  },
};

/** The `type-check` case. */
export const typeCheck: BenchCase = {
  name: "type-check",
  description:
    "tsc cost of a long chain: `tsc -p <dir> --noEmit --extendedDiagnostics` on one generated file (sluice resolved to its source via `tsconfig.base.json`), n stages vs a 1-stage baseline with the same imports. Time is the whole tsc process; check time, instantiations, types and memory are tsc's own figures. Checksum: number of errors (0).",
  baseline: "baseline-1-stage",
  columns: [],
  figures: [
    { key: "checkMs", header: "check time (ms)", digits: 0 },
    { key: "totalMs", header: "tsc total (ms)", digits: 0 },
    { key: "instantiations", header: "instantiations", digits: 0 },
    { key: "types", header: "types", digits: 0 },
    { key: "memoryBytes", header: "tsc memory (MB)", scale: 1024 * 1024, digits: 0 },
  ],
  variants: (quick) => {
    const stages = quick ? 8 : 50;
    return [{ name: `stages=${stages}`, params: { size: stages } }];
  },
  reference: () => 0,
  implementations,
};
