/**
 * Writes a run's results: the JSON file (everything, including every round)
 * and the markdown report (machine, per-case tables, first-result table,
 * target table).
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { CaseSummary, ImplSummary, VariantSummary } from "./aggregate.ts";
import { parallelVariantName } from "./cases/parallel-impls.ts";
import type { ScaleReport } from "./embed-at-scale.ts";
import { type EmbedVsLangchainReport, renderEmbedVsLangchain } from "./embed-vs-langchain.ts";
import { formatWithBiome } from "./format.ts";
import type { MachineInfo } from "./machine.ts";
import type { Spread } from "./stats.ts";
import { renderStoreCosts, type StoreCostsReport } from "./store-costs.ts";
import {
  bestPeer,
  evaluateTargets,
  PARALLEL_PEERS,
  PARALLEL_POINTS,
  SIGNAL_IMPL,
  type TargetResult,
} from "./targets.ts";
import type { Column, FigureColumn } from "./types.ts";

/** Everything one run produced. */
export interface RunReport {
  readonly schema: 1;
  readonly date: string;
  readonly mode: "full" | "quick";
  readonly rounds: number;
  readonly durationS: number;
  readonly machine: MachineInfo;
  /** 1, 5 and 15 minute load averages when the run ended (absent in older files). */
  readonly loadAverageEnd?: readonly number[];
  readonly cases: readonly CaseSummary[];
  readonly targets: readonly TargetResult[];
  /** Cases re-run on their own after the main run (`run.ts --replace-cases`). */
  readonly replaced?: readonly {
    readonly case: string;
    readonly date: string;
    readonly loadAverage: readonly number[];
    readonly loadAverageEnd: readonly number[];
  }[];
}

/**
 * `latest` with the cases of `partial` (a filtered run of whole cases) in their place, its
 * targets judged again, and the re-run cases named with their date and load.
 */
export function replaceCases(
  latest: RunReport,
  partial: RunReport,
  caseOrder: readonly string[],
): RunReport {
  const names = new Set(partial.cases.map((c) => c.name));
  const byName = new Map([...latest.cases, ...partial.cases].map((c) => [c.name, c]));
  // A case the main run did not have (added since) joins at its place in the case list.
  const rank = (name: string): number => {
    const i = caseOrder.indexOf(name);
    return i === -1 ? caseOrder.length : i;
  };
  const cases = [...byName.values()].sort((a, b) => rank(a.name) - rank(b.name));
  return {
    ...latest,
    cases,
    targets: evaluateTargets(cases),
    replaced: [
      ...(latest.replaced ?? []).filter((r) => !names.has(r.case)),
      ...[...names].map((name) => ({
        case: name,
        date: partial.date,
        loadAverage: partial.machine.loadAverage,
        loadAverageEnd: partial.loadAverageEnd ?? [],
      })),
    ],
  };
}

const MB = 1024 * 1024;

function num(v: number, digits?: number): string {
  const d = digits ?? (Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2);
  return v.toFixed(d);
}

const range = (s: Spread, fmt: (v: number) => string): string => `${fmt(s.min)}–${fmt(s.max)}`;
const ratioText = (r: number | null): string => (r === null ? "—" : `${num(r, 2)}×`);

const COLUMN_HEADERS: Record<Column, string> = {
  nsPerItem: "ns/item",
  efficiency: "efficiency",
  firstResult: "first result (ms)",
  rss: "peak RSS (MB) · × base",
  heap: "peak heap (MB) · × base",
  readAhead: "max read-ahead",
  maxInFlight: "max in flight",
};

function cell(impl: ImplSummary, column: Column): string {
  const f = impl.figures;
  if (f === null) return "";
  switch (column) {
    case "nsPerItem":
      return num(f.nsPerItem.median);
    case "efficiency":
      return f.efficiency === null
        ? "—"
        : `${num(f.efficiency.median, 3)} (${range(f.efficiency, (v) => num(v, 2))})`;
    case "firstResult":
      return f.firstResultMs === null
        ? "—"
        : `${num(f.firstResultMs.median, 3)} (${range(f.firstResultMs, (v) => num(v, 3))})`;
    case "rss":
      return `${num(f.maxRssBytes.median / MB, 1)} · ${ratioText(impl.ratios.rss)}`;
    case "heap":
      return `${num(f.peakHeapBytes.median / MB, 1)} · ${ratioText(impl.ratios.heap)}`;
    case "readAhead":
      return f.readAhead === null ? "—" : String(f.readAhead);
    case "maxInFlight":
      if (f.maxInFlight === null) return "—";
      return impl.warnings.length > 0 ? `**${f.maxInFlight}** ⚠` : String(f.maxInFlight);
  }
}

function figureCell(impl: ImplSummary, column: FigureColumn): string {
  // `custom` is absent in result files written before case-specific figures existed.
  const s = impl.figures?.custom?.[column.key];
  if (s === undefined) return "—";
  const scale = column.scale ?? 1;
  const fmt = (v: number): string => num(v / scale, column.digits);
  return s.min === s.max ? fmt(s.median) : `${fmt(s.median)} (${range(s, fmt)})`;
}

function statusText(impl: ImplSummary): string {
  const note = (impl.note ?? "").split("\n")[0]?.replaceAll("|", "\\|") ?? "";
  switch (impl.status) {
    case "ok":
      return "";
    case "skipped":
      return `skipped: ${note}`;
    case "error":
      return `**ERROR**: ${note}`;
    case "mismatch":
      return `**CHECKSUM MISMATCH**: ${note}`;
  }
}

function caseTable(bench: CaseSummary): string[] {
  const figureColumns = bench.figures ?? [];
  const multi = bench.variants.length > 1;
  const headers = [
    ...(multi ? ["variant"] : []),
    "implementation",
    "median time (ms)",
    "min–max (ms)",
    "× baseline",
    ...bench.columns.map((c) => COLUMN_HEADERS[c]),
    ...figureColumns.map((c) => c.header),
  ];
  const lines = [`| ${headers.join(" | ")} |`, `|${headers.map(() => "---").join("|")}|`];
  for (const variant of bench.variants) {
    for (const impl of variant.impls) {
      const f = impl.figures;
      const name = impl.impl === bench.baseline ? `**${impl.impl}** (baseline)` : impl.impl;
      const row =
        f === null
          ? [
              name,
              statusText(impl),
              "",
              "",
              ...bench.columns.map(() => ""),
              ...figureColumns.map(() => ""),
            ]
          : [
              name,
              num(f.timeMs.median),
              range(f.timeMs, (v) => num(v)),
              ratioText(impl.ratios.time),
              ...bench.columns.map((c) => cell(impl, c)),
              ...figureColumns.map((c) => figureCell(impl, c)),
            ];
      lines.push(`| ${[...(multi ? [variant.name] : []), ...row].join(" | ")} |`);
    }
  }
  return lines;
}

/** Warm efficiency of `impl` in `variant`, or null when it did not run there. */
function warmEfficiencyOf(variant: VariantSummary | undefined, impl: string): number | null {
  const i = variant?.impls.find((x) => x.impl === impl);
  return i?.status === "ok" ? (i.figures?.custom?.warmEfficiency?.median ?? null) : null;
}

/** `value` with its difference from `against`, e.g. "0.827 (−0.049)". */
function withDelta(value: number | null, against: number | null): string {
  if (value === null) return "—";
  if (against === null) return num(value, 3);
  const d = value - against;
  const sign = Math.abs(d) < 0.0005 ? "±" : d < 0 ? "−" : "+";
  return `${num(value, 3)} (${sign}${num(Math.abs(d), 3)})`;
}

/**
 * The rows issue 18 compares at its four points, side by side: the best peer, sluice, the two
 * least-work references (ordered only; not peers), sluice with its mapper reading
 * `ctx.signal`, and both measured with a forced GC before each timed run. Every figure is a
 * warm efficiency from this run.
 */
function parallelSideBySide(bench: CaseSummary): string[] {
  const points = PARALLEL_POINTS.map((p) => ({
    header: `c=${p.concurrency} ${p.ordered ? "ordered" : "unordered"}`,
    plain: bench.variants.find((v) => v.name === parallelVariantName(p.concurrency, p.ordered)),
    gc: bench.variants.find((v) => v.name === parallelVariantName(p.concurrency, p.ordered, true)),
  }));
  if (points.every((p) => p.plain === undefined && p.gc === undefined)) return [];
  const peerCell = (variant: VariantSummary | undefined): string => {
    if (variant === undefined) return "—";
    const best = bestPeer(variant.impls);
    return typeof best === "string" ? "—" : `${num(best.value, 3)} (${best.impl})`;
  };
  const peerValue = (variant: VariantSummary | undefined): number | null => {
    const best = variant === undefined ? "none" : bestPeer(variant.impls);
    return typeof best === "string" ? null : best.value;
  };
  const row = (label: string, cells: (p: (typeof points)[number]) => string): string =>
    `| ${label} | ${points.map(cells).join(" | ")} |`;
  return [
    `Side by side, warm efficiency (median of the timed runs; in parentheses: the difference from the figure the target compares with). Best peer: the highest of ${PARALLEL_PEERS.map((p) => `\`${p}\``).join(", ")} at that point; targets in the table above.`,
    "",
    `| | ${points.map((p) => p.header).join(" | ")} |`,
    `|---|${points.map(() => "---").join("|")}|`,
    row("best peer", (p) => peerCell(p.plain)),
    row("`sluice` (vs best peer)", (p) =>
      withDelta(warmEfficiencyOf(p.plain, "sluice"), peerValue(p.plain)),
    ),
    row("least work, reference `minimal-iterator` (vs best peer)", (p) =>
      withDelta(warmEfficiencyOf(p.plain, "minimal-iterator"), peerValue(p.plain)),
    ),
    row("least work, reference `callback-pool` (vs best peer)", (p) =>
      withDelta(warmEfficiencyOf(p.plain, "callback-pool"), peerValue(p.plain)),
    ),
    row(`\`${SIGNAL_IMPL}\`: the mapper reads \`ctx.signal\` (vs sluice)`, (p) =>
      withDelta(warmEfficiencyOf(p.plain, SIGNAL_IMPL), warmEfficiencyOf(p.plain, "sluice")),
    ),
    row("`sluice-abortable`: signal passed to an abortable sleep (vs sluice)", (p) =>
      withDelta(warmEfficiencyOf(p.plain, "sluice-abortable"), warmEfficiencyOf(p.plain, "sluice")),
    ),
    row("best peer, GC between timed runs", (p) => peerCell(p.gc)),
    row("`sluice`, GC between timed runs (vs best peer, GC)", (p) =>
      withDelta(warmEfficiencyOf(p.gc, "sluice"), peerValue(p.gc)),
    ),
    row(`\`${SIGNAL_IMPL}\`, GC between timed runs (vs sluice, GC)`, (p) =>
      withDelta(warmEfficiencyOf(p.gc, SIGNAL_IMPL), warmEfficiencyOf(p.gc, "sluice")),
    ),
    "",
  ];
}

function notes(bench: CaseSummary): string[] {
  const out: string[] = [];
  const first = bench.variants[0];
  if (first === undefined) return out;
  for (const impl of first.impls) out.push(`- \`${impl.impl}\`: ${impl.description}`);
  const skips = new Map<string, string>();
  for (const v of bench.variants) {
    for (const i of v.impls) {
      if (i.status === "skipped" && i.note !== undefined) skips.set(`${i.impl}: ${i.note}`, v.name);
    }
  }
  if (skips.size > 0) {
    out.push("", "Skipped:");
    for (const s of skips.keys()) out.push(`- ${s}`);
  }
  const warnings = bench.variants.flatMap((v) =>
    v.impls.flatMap((i) => i.warnings.map((w) => `- ⚠ ${v.name} \`${i.impl}\`: ${w}`)),
  );
  if (warnings.length > 0) {
    out.push("", "Warnings (checksum correct, but the run broke the stated limit):", ...warnings);
  }
  return out;
}

function firstResultTable(cases: readonly CaseSummary[]): string[] {
  const memory = cases.find((c) => c.name === "memory");
  const variant: VariantSummary | undefined = memory?.variants[0];
  if (variant === undefined) return [];
  const lines = [
    "## first-result",
    "",
    `Time to first result, from the \`memory\` case (${variant.name}): from the start of the run to the first record reaching the consumer.`,
    "",
    "| implementation | time to first result (ms), median | min–max (ms) |",
    "|---|---|---|",
  ];
  for (const impl of variant.impls) {
    const fr = impl.figures?.firstResultMs ?? null;
    lines.push(
      fr === null
        ? `| ${impl.impl} | ${statusText(impl) || "—"} | |`
        : `| ${impl.impl} | ${num(fr.median, 3)} | ${range(fr, (v) => num(v, 3))} |`,
    );
  }
  return [...lines, ""];
}

function targetTable(targets: readonly TargetResult[]): string[] {
  const lines = [
    "## Targets",
    "",
    "Evaluated from this run's numbers (ratios against the baseline measured in the same run). The parallel-latency limits are figures of the same run, not fixed thresholds: the best peer's warm efficiency at that point (the limit column names the peer and its figure), sluice's for the `ctx.signal` rows, and for the GC rows the best peer's measured with the same forced GC before each timed run.",
    "Targets marked *warm* are evaluated on steady-state figures: the median of runs repeated in the same process after the cold one, as the issue's own reference figures are (a plain loop at 1.3 ns/item is a warm figure). The cold column gives the same measure from the first run in a fresh process, JIT warm-up included.",
    "",
    "| target | measure | limit | this run | cold | status |",
    "|---|---|---|---|---|---|",
  ];
  for (const t of targets) {
    const status = t.note === undefined ? t.status : `${t.status} (${t.note.split("\n")[0]})`;
    lines.push(
      `| ${t.id} | ${t.description} | ${t.limit} | ${t.value} | ${t.cold ?? "—"} | ${status.replaceAll("|", "\\|")} |`,
    );
  }
  return [...lines, ""];
}

function busyWarning(run: RunReport): string[] {
  const peak = Math.max(...run.machine.loadAverage, ...(run.loadAverageEnd ?? []));
  if (peak <= run.machine.cores) return [];
  return [
    "",
    `> ⚠ The machine was busy during this run (load average up to ${num(peak, 1)} on ${run.machine.cores} cores): times are inflated and noisy, and timer-based efficiencies are low. Compare ratios within this run only, and re-run on a quiet machine before drawing conclusions.`,
  ];
}

/** The embed workflow at the issue's size, written by `embed-at-scale.ts` (run on demand). */
const AT_SCALE_JSON = fileURLToPath(new URL("./results/embed-100k.json", import.meta.url));

/** The at-scale report and its markdown's path relative to the report being written. */
export interface AtScale {
  readonly report: ScaleReport;
  readonly link: string;
}

/** A saved report's parsed JSON, or undefined when that benchmark has not been run. */
async function readSaved<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  return JSON.parse(text) as T;
}

async function readAtScale(markdownPath: string): Promise<AtScale | undefined> {
  const report = await readSaved<ScaleReport>(AT_SCALE_JSON);
  if (report === undefined) return undefined;
  const link = relative(dirname(markdownPath), AT_SCALE_JSON.replace(/\.json$/, ".md"));
  return { report, link };
}

/** What each store kind costs, written by `store-costs.ts` (run on demand). */
const STORE_COSTS_JSON = fileURLToPath(new URL("./results/store-costs.json", import.meta.url));

async function storeCostsSection(): Promise<string[]> {
  const report = await readSaved<StoreCostsReport>(STORE_COSTS_JSON);
  return report === undefined ? [] : renderStoreCosts(report).split("\n");
}

/** sluice against LangChain.js, written by `embed-vs-langchain.ts` (run on demand). */
const EMBED_VS_LANGCHAIN_JSON = fileURLToPath(
  new URL("./results/embed-vs-langchain.json", import.meta.url),
);

async function embedVsLangchainSection(): Promise<string[]> {
  const report = await readSaved<EmbedVsLangchainReport>(EMBED_VS_LANGCHAIN_JSON);
  return report === undefined ? [] : renderEmbedVsLangchain(report).split("\n");
}

/**
 * Reports of the on-demand workflow benches that write their own markdown (rate limits,
 * ask and reembed, scale-out), in this order, each as a section: their headings one level
 * down, so each report's title becomes a section of BENCHMARKS.md.
 */
const ON_DEMAND_MARKDOWN = ["embed-rate-limits.md", "ask-reembed.md", "embed-scale-out.md"];

async function onDemandSections(): Promise<string[]> {
  const lines: string[] = [];
  for (const name of ON_DEMAND_MARKDOWN) {
    let text: string;
    try {
      text = await readFile(fileURLToPath(new URL(`./results/${name}`, import.meta.url)), "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw error;
    }
    lines.push(
      ...text
        .trimEnd()
        .replace(/^(#+) /gm, "#$1 ")
        .split("\n"),
      "",
    );
  }
  return lines;
}

function atScaleSection(atScale: AtScale | undefined): string[] {
  if (atScale === undefined) return [];
  const r = atScale.report;
  return [
    `## embed-workflow at ${r.files.toLocaleString("en-US")} files`,
    "",
    `The issue states the embed workflow's targets at 100,000 files, a size this run does not include (each mode takes minutes there, and batch ≈ 5 GB). They come from [${atScale.link}](${atScale.link}), written by \`npm run bench:embed-at-scale -w bench\` on ${r.date}: the \`sluice embed\` command, each mode alone in a process of its own, hash embedder, JSONL store.`,
    "",
    "| target | measured | status |",
    "|---|---|---|",
    ...r.verdicts.map((v) => `| ${v.target} | ${v.measured} | ${v.met ? "met" : "not met"} |`),
    "",
  ];
}

/** Renders the markdown report; `rawData` names the JSON file in the text. */
export function renderMarkdown(
  run: RunReport,
  rawData: string,
  atScale?: AtScale,
  storeCosts: readonly string[] = [],
  embedVsLangchain: readonly string[] = [],
  onDemand: readonly string[] = [],
): string {
  const m = run.machine;
  const lines = [
    "# Benchmarks",
    "",
    `Generated by \`npm run bench\` (bench/run.ts) on ${run.date}; ${run.rounds} round${run.rounds === 1 ? "" : "s"} per implementation, each measurement in a fresh Node process, rounds interleaved; ${num(run.durationS, 0)} s in total. Raw data: \`${rawData}\`.`,
    "",
    "## Machine",
    "",
    `- CPU: ${m.cpuModel}, ${m.cores} cores`,
    `- Memory: ${num(m.memoryBytes / 1024 ** 3, 1)} GiB`,
    `- Node ${m.node} (V8 ${m.v8}), ${m.os}, ${m.arch}`,
    `- Load average (1, 5, 15 min) at start: ${m.loadAverage.join(", ")}; at end: ${run.loadAverageEnd?.join(", ") ?? "not recorded"}`,
    ...busyWarning(run),
    // A blank line first: straight after the busy warning, the list would join its quote.
    ...((run.replaced ?? []).length > 0 ? [""] : []),
    ...(run.replaced ?? []).map(
      (r) =>
        `- Case \`${r.case}\` re-run on its own on ${r.date} (load average at start ${r.loadAverage.join(", ")}, at end ${r.loadAverageEnd.join(", ")}); its figures replace the main run's.`,
    ),
    "",
    "Times are medians over the rounds with min–max; `× baseline` is this implementation's median ÷ the baseline's median in the same run. Times are whole runs in a fresh process, JIT warm-up included; `warm` columns are the median of the runs repeated in the same process after that one.",
    "",
    ...targetTable(run.targets),
    ...atScaleSection(atScale),
    ...storeCosts,
    ...embedVsLangchain,
    ...onDemand,
  ];
  for (const bench of run.cases) {
    lines.push(
      `## ${bench.name}`,
      "",
      bench.description,
      "",
      `Baseline: \`${bench.baseline}\`.`,
      "",
    );
    if (bench.name === "parallel-latency") lines.push(...parallelSideBySide(bench));
    lines.push(...caseTable(bench), "", ...notes(bench), "");
    if (bench.name === "memory") lines.push(...firstResultTable(run.cases));
  }
  return `${lines.join("\n").trimEnd()}\n`;
}

/** The markdown of `run` with the sections the on-demand benches saved beside it. */
async function renderWithSaved(
  run: RunReport,
  jsonPath: string,
  markdownPath: string,
): Promise<string> {
  return renderMarkdown(
    run,
    relative(dirname(markdownPath), jsonPath),
    await readAtScale(markdownPath),
    await storeCostsSection(),
    await embedVsLangchainSection(),
    await onDemandSections(),
  );
}

async function writeMarkdown(path: string, text: string): Promise<void> {
  await writeFile(path, text);
  const problem = formatWithBiome(path);
  if (problem !== undefined) console.error(`warning: could not format ${path}: ${problem}`);
}

/** Writes `run` as JSON to `jsonPath` and as markdown to `markdownPath`. */
export async function writeReport(
  run: RunReport,
  jsonPath: string,
  markdownPath: string,
): Promise<void> {
  await mkdir(dirname(jsonPath), { recursive: true });
  await writeFile(jsonPath, `${JSON.stringify(run, null, 2)}\n`);
  await writeMarkdown(markdownPath, await renderWithSaved(run, jsonPath, markdownPath));
}
