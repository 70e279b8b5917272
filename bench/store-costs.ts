/**
 * What each store kind costs, outside `npm run bench` (a full run populates 100,000-chunk stores):
 *
 * ```sh
 * npm run bench:store-costs -w bench -- [--kinds sqlite,jsonl,pglite] [--chunks 10000,100000] [--files 60]
 * ```
 *
 * Every figure comes from a fresh child process, as a CLI user meets it:
 * - embed: `sluice embed` of the same generated folder (`--files`, seed 7) into each store kind,
 *   hash embedder, `--json`: peak RSS (the kernel's high-water mark), duration, chunks/s;
 * - open: opening that existing store for reading, with and without loading the store's module;
 * - search: a store of N synthetic chunks (paragraphs of the generated corpus, 384-d hash
 *   vectors) is filled in one child, then another child opens it and runs 20 queries per mode
 *   (after one unrecorded query): median and first-query latency.
 *
 * Writes `results/store-costs.md` and `.json` (or under `--out`) and prints the table;
 * `--rerender` re-judges the saved report without running anything. BENCHMARKS.md shows the
 * saved report as a section of its own (bench/report.ts).
 */
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { EmbedSummary } from "@sluice/embed";
import { type MachineInfo, machineInfo } from "./machine.ts";
import { tail } from "./spawn.ts";

const BENCH_DIR = fileURLToPath(new URL(".", import.meta.url));
const SLUICE_BIN = fileURLToPath(new URL("../packages/embed/bin/sluice.js", import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const SEED = 7;
const DIMENSIONS = 384;
const QUERIES = [
  "bounded memory for large corpora",
  "retry with exponential backoff",
  "postgres vector index",
  "release notes and changelog",
  "configure the pipeline concurrency",
];
const MODES = ["hybrid", "vector", "lexical"] as const;
type Kind = "sqlite" | "jsonl" | "pglite";

/** The issue's targets for the default store, against the JSONL store in the same run. */
export const TARGETS = { rssRatioToJsonlAtMost: 1.5, openMsBelow: 100 } as const;

interface EmbedFigures {
  readonly peakRssBytes: number;
  readonly durationMs: number;
  readonly throughput: number;
  readonly chunks: number;
}
interface OpenFigures {
  /** Loading the store's module and opening the store. */
  readonly loadAndOpenMs: number;
  /** Opening alone, the module already loaded (a second open in the same process). */
  readonly openMs: number;
}
interface SearchFigures {
  readonly chunks: number;
  readonly fillMs: number;
  readonly fileBytes: number | null;
  readonly openMs: number;
  readonly peakRssBytes: number;
  readonly modes: Record<(typeof MODES)[number], { firstMs: number; medianMs: number }>;
}

/** One store kind's figures. */
export interface KindReport {
  readonly kind: Kind;
  readonly exact: boolean;
  readonly embed: EmbedFigures;
  readonly open: OpenFigures;
  readonly search: readonly SearchFigures[];
}

/** The whole report. */
export interface StoreCostsReport {
  readonly date: string;
  readonly machine: MachineInfo;
  readonly files: number;
  readonly kinds: readonly KindReport[];
  readonly verdicts: readonly { target: string; measured: string; met: boolean }[];
}

function locationOf(dir: string, kind: Kind): string {
  return kind === "jsonl"
    ? join(dir, "store.jsonl")
    : kind === "pglite"
      ? join(dir, "pglite")
      : join(dir, "store.db");
}

function run(
  command: string,
  args: readonly string[],
  cwd: string,
): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ stdout, stderr, code }));
  });
}

/** Runs a child step of this script and parses its one JSON line. */
async function child<T>(step: string, args: Record<string, string>): Promise<T> {
  const flags = Object.entries(args).flatMap(([k, v]) => [`--${k}`, v]);
  const result = await run(
    process.execPath,
    ["--import", "tsx", SELF, "--child", step, ...flags],
    BENCH_DIR,
  );
  const line = result.stdout.split("\n").find((l) => l.startsWith("STORE_COSTS "));
  if (result.code !== 0 || line === undefined) {
    throw new Error(`child ${step} failed (exit ${result.code}):\n${tail(result.stderr, 20)}`);
  }
  return JSON.parse(line.slice("STORE_COSTS ".length)) as T;
}

async function embedInto(corpus: string, kind: Kind, location: string): Promise<EmbedFigures> {
  const args = [SLUICE_BIN, "embed", corpus, "--store", location, "--json"];
  if (kind === "pglite") args.push("--store-kind", "pglite");
  const result = await run(process.execPath, args, BENCH_DIR);
  if (result.code !== 0) {
    throw new Error(`sluice embed into ${kind} failed (${result.code}):\n${tail(result.stderr)}`);
  }
  const s = JSON.parse(result.stdout) as EmbedSummary;
  return {
    peakRssBytes: s.peakRssBytes,
    durationMs: s.durationMs,
    throughput: s.throughput,
    chunks: s.embedded,
  };
}

// ---- child steps -----------------------------------------------------------------------------

async function openStore(kind: Kind, location: string, access: "read" | "write") {
  const { openVectorStore } = await import("../packages/embed/src/stores/open.ts");
  return openVectorStore(
    { kind, location },
    access === "read"
      ? { mode: "read" }
      : {
          mode: "write",
          identity: {
            embedderId: `hash-v1:${DIMENSIONS}`,
            dimensions: DIMENSIONS,
            embedder: { kind: "hash", dimensions: DIMENSIONS },
          },
        },
  );
}

async function childOpen(kind: Kind, location: string): Promise<OpenFigures> {
  let start = performance.now();
  const first = await openStore(kind, location, "read");
  const loadAndOpenMs = performance.now() - start;
  await first.close();
  start = performance.now();
  const second = await openStore(kind, location, "read");
  const openMs = performance.now() - start;
  await second.close();
  return { loadAndOpenMs, openMs };
}

/** `n` chunk texts: paragraphs of the generated corpus, in corpus order. */
async function* chunkTexts(n: number): AsyncGenerator<{ path: string; texts: string[] }> {
  const { corpusDocument } = await import("../packages/embed/src/corpus/generate.ts");
  let made = 0;
  for (let i = 0; made < n; i++) {
    const doc = corpusDocument(i, SEED);
    const texts = doc.content
      .split(/\n\s*\n/)
      .map((p) => p.trim())
      .filter((p) => p.length >= 80)
      .slice(0, n - made);
    made += texts.length;
    if (texts.length > 0) yield { path: doc.relativePath, texts };
  }
}

async function childFill(kind: Kind, location: string, chunks: number): Promise<{ ms: number }> {
  const { hashEmbedding } = await import("../packages/embed/src/embedders/hash.ts");
  const { chunkId } = await import("../packages/embed/src/steps/chunk-id.ts");
  const store = await openStore(kind, location, "write");
  const collection = "/bench/corpus";
  const start = performance.now();
  let pending: Parameters<typeof store.upsert>[0][number][] = [];
  const files: { path: string; ids: string[] }[] = [];
  const flush = async () => {
    await store.upsert(pending);
    pending = [];
    for (const f of files) await store.commitFile(collection, f.path, "bench", f.ids);
    files.length = 0;
  };
  for await (const { path, texts } of chunkTexts(chunks)) {
    const ids: string[] = [];
    texts.forEach((text, ordinal) => {
      const id = chunkId({ collection, path, ordinal, text });
      ids.push(id);
      pending.push({
        id,
        collection,
        path,
        ordinal,
        text,
        startLine: ordinal + 1,
        endLine: ordinal + 1,
        metadata: {},
        vector: hashEmbedding(text, DIMENSIONS),
      });
    });
    files.push({ path, ids });
    if (pending.length >= 1000) await flush();
  }
  await flush();
  await store.close();
  return { ms: performance.now() - start };
}

async function childSearch(
  kind: Kind,
  location: string,
): Promise<Omit<SearchFigures, "chunks" | "fillMs" | "fileBytes">> {
  const { hashEmbedding } = await import("../packages/embed/src/embedders/hash.ts");
  const start = performance.now();
  const store = await openStore(kind, location, "read");
  const openMs = performance.now() - start;
  const modes = {} as SearchFigures["modes"];
  try {
    for (const mode of MODES) {
      const times: number[] = [];
      for (let i = 0; i <= 20; i++) {
        const text = QUERIES[i % QUERIES.length] as string;
        const t = performance.now();
        await store.search({ text, vector: hashEmbedding(text, DIMENSIONS), k: 10, mode });
        times.push(performance.now() - t);
      }
      const first = times.shift() as number;
      times.sort((a, b) => a - b);
      modes[mode] = { firstMs: first, medianMs: times[Math.floor(times.length / 2)] as number };
    }
  } finally {
    await store.close();
  }
  return { openMs, modes, peakRssBytes: process.resourceUsage().maxRSS * 1024 };
}

async function runChild(
  step: string,
  values: { kind?: string; location?: string; chunks?: string },
): Promise<void> {
  const kind = values.kind as Kind;
  const location = values.location as string;
  const result =
    step === "open"
      ? await childOpen(kind, location)
      : step === "fill"
        ? await childFill(kind, location, Number(values.chunks))
        : await childSearch(kind, location);
  process.stdout.write(`STORE_COSTS ${JSON.stringify(result)}\n`);
}

// ---- the parent ------------------------------------------------------------------------------

async function sizeOf(path: string): Promise<number | null> {
  const { stat, readdir } = await import("node:fs/promises");
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) return null;
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const entry of await readdir(path, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

/** Measures every kind; `log` reports progress. */
export async function storeCosts(options: {
  kinds: readonly Kind[];
  chunks: readonly number[];
  files: number;
  log: (line: string) => void;
}): Promise<StoreCostsReport> {
  const { generateCorpus } = await import("../packages/embed/src/corpus/generate.ts");
  const work = await mkdtemp(join(os.tmpdir(), "sluice-store-costs-"));
  try {
    const corpus = join(work, "corpus");
    await generateCorpus(corpus, { files: options.files, seed: SEED });
    const kinds: KindReport[] = [];
    for (const kind of options.kinds) {
      const dir = join(work, kind);
      await mkdir(dir);
      options.log(`${kind}: embed ${options.files} files`);
      const embed = await embedInto(corpus, kind, locationOf(dir, kind));
      const open = await child<OpenFigures>("open", { kind, location: locationOf(dir, kind) });
      const search: SearchFigures[] = [];
      for (const n of options.chunks) {
        const location = locationOf(join(dir, `n${n}`), kind);
        await mkdir(join(dir, `n${n}`));
        options.log(`${kind}: fill ${n} chunks`);
        const fill = await child<{ ms: number }>("fill", { kind, location, chunks: String(n) });
        options.log(`${kind}: search ${n} chunks`);
        const s = await child<Omit<SearchFigures, "chunks" | "fillMs" | "fileBytes">>("search", {
          kind,
          location,
        });
        search.push({ chunks: n, fillMs: fill.ms, fileBytes: await sizeOf(location), ...s });
      }
      kinds.push({ kind, exact: true, embed, open, search });
    }
    return {
      date: new Date().toISOString(),
      machine: machineInfo(),
      files: options.files,
      kinds,
      verdicts: verdictsOf(kinds),
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The default store's targets, judged against the JSONL store of the same run. */
export function verdictsOf(kinds: readonly KindReport[]): StoreCostsReport["verdicts"] {
  const sqlite = kinds.find((k) => k.kind === "sqlite");
  const jsonl = kinds.find((k) => k.kind === "jsonl");
  const verdicts: { target: string; measured: string; met: boolean }[] = [];
  if (sqlite && jsonl) {
    const ratio = sqlite.embed.peakRssBytes / jsonl.embed.peakRssBytes;
    verdicts.push({
      target: `default (SQLite) store's peak RSS embedding the same folder ≤ ${TARGETS.rssRatioToJsonlAtMost}× the JSONL store's`,
      measured: `${ratio.toFixed(2)}× (${mb(sqlite.embed.peakRssBytes)} vs ${mb(jsonl.embed.peakRssBytes)} MB)`,
      met: ratio <= TARGETS.rssRatioToJsonlAtMost,
    });
  }
  if (sqlite) {
    // Judged on the open itself. Loading the store's modules in a fresh process is shown beside
    // it: most of that is tsx compiling the TypeScript sources (better-sqlite3 and sqlite-vec
    // load in about 30 ms), which every module of the CLI pays alike.
    verdicts.push({
      target: `opening an existing default store < ${TARGETS.openMsBelow} ms`,
      measured: `${sqlite.open.openMs.toFixed(1)} ms (${sqlite.open.loadAndOpenMs.toFixed(1)} ms with loading its modules through tsx in a fresh process)`,
      met: sqlite.open.openMs < TARGETS.openMsBelow,
    });
  }
  return verdicts;
}

function mb(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(0);
}

/** The report as markdown. */
export function renderStoreCosts(r: StoreCostsReport): string {
  const rows = r.kinds.map((k) => {
    const at = (n: number) => k.search.find((s) => s.chunks === n);
    const cell = (n: number) => {
      const s = at(n);
      return s === undefined
        ? "—"
        : `${s.modes.hybrid.medianMs.toFixed(1)} / ${s.modes.vector.medianMs.toFixed(1)} / ${s.modes.lexical.medianMs.toFixed(1)}`;
    };
    const sizes = [...new Set(r.kinds.flatMap((x) => x.search.map((s) => s.chunks)))];
    return { k, cells: sizes.map(cell), sizes };
  });
  const sizes = rows[0]?.sizes ?? [];
  const lines = [
    `## Store costs`,
    "",
    `Written by \`npm run bench:store-costs -w bench\` on ${r.date} (${r.machine.cpuModel}, ${r.machine.cores} cores, Node ${r.machine.node}). Every figure from a fresh process. Embed: \`sluice embed\` of ${r.files} generated files (seed ${SEED}), hash embedder, \`--json\`. Search: a store of N synthetic 384-d chunks, k = 10, median of 20 queries after one unrecorded one, in ms (hybrid / vector / lexical).`,
    "",
    `| store | search exact | embed peak RSS | embed time | chunks/s | open existing (load + open / open) | ${sizes.map((n) => `search at ${n.toLocaleString("en-US")} chunks`).join(" | ")} |`,
    `|---|---|---|---|---|---|${sizes.map(() => "---|").join("")}`,
    ...rows.map(
      ({ k, cells }) =>
        `| ${k.kind} | ${k.exact ? "yes" : "no"} | ${mb(k.embed.peakRssBytes)} MB | ${(k.embed.durationMs / 1000).toFixed(2)} s | ${k.embed.throughput.toFixed(0)} | ${k.open.loadAndOpenMs.toFixed(1)} / ${k.open.openMs.toFixed(1)} ms | ${cells.join(" | ")} |`,
    ),
    "",
    "Store size on disk and fill time:",
    "",
    "| store | chunks | fill time | size on disk | search process peak RSS | first query (hybrid) |",
    "|---|---|---|---|---|---|",
    ...r.kinds.flatMap((k) =>
      k.search.map(
        (s) =>
          `| ${k.kind} | ${s.chunks.toLocaleString("en-US")} | ${(s.fillMs / 1000).toFixed(1)} s | ${s.fileBytes === null ? "—" : `${mb(s.fileBytes)} MB`} | ${mb(s.peakRssBytes)} MB | ${s.modes.hybrid.firstMs.toFixed(1)} ms |`,
      ),
    ),
    "",
    "| target | measured | status |",
    "|---|---|---|",
    ...r.verdicts.map((v) => `| ${v.target} | ${v.measured} | ${v.met ? "met" : "not met"} |`),
    "",
  ];
  return lines.join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: "string" },
      kind: { type: "string" },
      location: { type: "string" },
      chunks: { type: "string" },
      kinds: { type: "string", default: "sqlite,jsonl,pglite" },
      files: { type: "string", default: "60" },
      out: { type: "string" },
      rerender: { type: "boolean", default: false },
    },
  });
  if (values.child !== undefined) {
    await runChild(values.child, values);
    return;
  }
  const out = resolve(values.out ?? join(BENCH_DIR, "results"));
  if (values.rerender) {
    // Re-judges and re-renders a saved report (after a change to the targets' wording).
    const saved = JSON.parse(
      await readFile(join(out, "store-costs.json"), "utf8"),
    ) as StoreCostsReport;
    await writeStoreCosts(out, { ...saved, verdicts: verdictsOf(saved.kinds) });
    return;
  }
  const kinds = (values.kinds ?? "").split(",").filter(Boolean) as Kind[];
  const chunks = (values.chunks ?? "10000,100000").split(",").map(Number);
  const report = await storeCosts({
    kinds,
    chunks,
    files: Number(values.files),
    log: (line) => console.error(line),
  });
  await writeStoreCosts(out, report);
  if (report.verdicts.some((v) => !v.met)) process.exitCode = 1;
}

/** Writes `store-costs.json` and `.md` under `out` and prints the markdown. */
async function writeStoreCosts(out: string, report: StoreCostsReport): Promise<void> {
  await mkdir(out, { recursive: true });
  await writeFile(join(out, "store-costs.json"), `${JSON.stringify(report, null, 2)}\n`);
  const markdown = renderStoreCosts(report);
  await writeFile(join(out, "store-costs.md"), markdown.replace(/^## /, "# "));
  console.log(markdown);
}

if (process.argv[1] === SELF) await main();
