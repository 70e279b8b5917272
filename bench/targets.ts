/**
 * The performance targets sluice must meet, evaluated from one run's numbers
 * (ratios are against the baseline measured in the same run). The same list
 * is written out in `bench/README.md`.
 */
import type { CaseSummary, ImplSummary } from "./aggregate.ts";
import { SIZES as EMBED_SIZES } from "./cases/embed-workflow.ts";
import { parallelVariantName } from "./cases/parallel-impls.ts";
import { TARGET_CONCURRENCIES } from "./cases/parallel-latency.ts";

/** The outcome of one target in one run. */
export interface TargetResult {
  readonly id: string;
  readonly description: string;
  /** The limit, printed with its comparison, e.g. "≤ 0.1×". */
  readonly limit: string;
  /** The measured value, formatted; "—" when not measured. */
  readonly value: string;
  readonly status: "met" | "not met" | "skipped";
  readonly note?: string;
  /** The cold-run value, for targets evaluated on warm figures. */
  readonly cold?: string;
}

type Pick = (
  impl: ImplSummary,
  baseline: ImplSummary | undefined,
  variantImpls: readonly ImplSummary[],
) => number | null;

/** A figure of another implementation that a relative limit is built from. */
export interface Reference {
  /** The implementation the figure belongs to. */
  readonly impl: string;
  readonly value: number;
}

/**
 * A limit taken from the same variant of the same run: another implementation's figure
 * (`of`) minus `margin`. `of` returns a string when there is nothing to compare with.
 */
interface RelativeLimit {
  /** Whose figure it is, in general (e.g. "best peer"): the limit's text when there is none. */
  readonly name: string;
  /** Whose figure it is in this run, for the limit's text (e.g. "best peer p-map"). */
  readonly label: (ref: Reference) => string;
  readonly of: (variantImpls: readonly ImplSummary[]) => Reference | string;
  readonly margin: number;
}

interface Target {
  readonly id: string;
  readonly description: string;
  readonly caseName: string;
  /** Variant name, or a predicate for variants whose name depends on the size. */
  readonly variant: (name: string) => boolean;
  readonly impl: string;
  readonly pick: Pick;
  /**
   * The same measure from the cold run (fresh process, JIT warm-up included), shown beside
   * a target evaluated on warm figures so that neither is hidden.
   */
  readonly cold?: Pick;
  readonly compare: "≤" | "≥" | "<";
  /** A fixed limit, or one taken from the same run (e.g. the best peer's figure). */
  readonly threshold: number | RelativeLimit;
  readonly format: (v: number) => string;
}

const anyVariant = (): boolean => true;
const times = (v: number): string => `${v.toFixed(3)}×`;
const plain = (v: number): string => v.toFixed(3);
const ms = (v: number): string => `${v.toFixed(3)} ms`;

const timeRatio: Pick = (i) => i.ratios.time;
/** a ÷ b, or null when either is missing or b is 0. */
const ratioOf = (a: number | null, b: number | null): number | null =>
  a === null || b === null || b === 0 ? null : a / b;
/** A case-specific figure's median (`Probe.record`). */
const custom = (i: ImplSummary | undefined, key: string): number | null =>
  i?.figures?.custom?.[key]?.median ?? null;
/** `key`'s median of this implementation ÷ that of `other` in the same variant. */
const customRatio =
  (key: string, other: string): Pick =>
  (i, _b, all) =>
    ratioOf(
      custom(i, key),
      custom(
        all.find((x) => x.impl === other),
        key,
      ),
    );
/** A corpus size of the full run, as target descriptions name it. */
const filesOf = (files: number): string => `${files.toLocaleString("en-US")} files`;
/** The embed-workflow variant measured over every round (time, first stored chunk, throughput). */
const embedMain = (name: string): boolean => name.startsWith("files=");
const efficiency: Pick = (i) => i.figures?.efficiency?.median ?? null;
const warmEfficiency: Pick = (i) => custom(i, "warmEfficiency");
/** Warm ns/item of this implementation ÷ the baseline's, both measured in the same run. */
const warmTimeRatio: Pick = (i, b) =>
  ratioOf(custom(i, "warmNsPerItem"), custom(b, "warmNsPerItem"));

/**
 * The peers issue 18 measures sluice's parallel map against: the hand-written async
 * generator, p-map (`pMap` and `pMapIterable`) and streaming-iterables. `it-parallel`,
 * `Readable.map` and the two references (`callback-pool`, `minimal-iterator`: the least work
 * per task, lib/parallel-references.ts) are in the tables too, but not peers.
 */
export const PARALLEL_PEERS: readonly string[] = [
  "hand-written",
  "p-map",
  "p-map-iterable",
  "streaming-iterables",
];

/** The four points of issue 18's parallel targets. */
export const PARALLEL_POINTS: readonly {
  readonly concurrency: number;
  readonly ordered: boolean;
}[] = TARGET_CONCURRENCIES.flatMap((concurrency) =>
  [true, false].map((ordered) => ({ concurrency, ordered })),
);

/** The implementation whose mapper reads `ctx.signal` (issue 18: "with per-item signals read"). */
export const SIGNAL_IMPL = "sluice-signal";

/** How far below the comparison figure the signal and GC targets may be. */
export const PARALLEL_MARGIN = 0.03;

/**
 * The peer with the highest figure `pick` in one variant: only peers that ran, returned the
 * right checksum and kept to the concurrency they were given (no warnings); a string saying
 * why when there is none.
 */
export function bestPeer(
  variantImpls: readonly ImplSummary[],
  pick: (i: ImplSummary) => number | null = (i) => custom(i, "warmEfficiency"),
  peers: readonly string[] = PARALLEL_PEERS,
): Reference | string {
  let best: Reference | undefined;
  for (const i of variantImpls) {
    if (!peers.includes(i.impl) || i.status !== "ok" || i.warnings.length > 0) continue;
    const value = pick(i);
    if (value !== null && (best === undefined || value > best.value))
      best = { impl: i.impl, value };
  }
  return best ?? `no peer measured (${peers.join(", ")})`;
}

/** One implementation's figure as a reference, or why there is none. */
const figureOf =
  (impl: string, pick: (i: ImplSummary) => number | null) =>
  (variantImpls: readonly ImplSummary[]): Reference | string => {
    const i = variantImpls.find((x) => x.impl === impl);
    const value = i?.status === "ok" ? pick(i) : null;
    return value === null || value === undefined
      ? `${impl} not measured (${i?.status ?? "not run"})`
      : { impl, value };
  };

/**
 * Issue 18's parallel targets at concurrency 32 and 128, ordered and unordered, all on warm
 * efficiency and all judged against figures of the same run: sluice ≥ the best peer; sluice
 * with its mapper reading `ctx.signal` ≥ sluice − 0.03; sluice ≥ the best peer − 0.03 when
 * every implementation gets a forced GC before each timed run.
 */
function parallelTargets(): Target[] {
  const points = PARALLEL_POINTS.map(({ concurrency: c, ordered }) => ({
    c,
    ordered,
    order: ordered ? "ordered" : "unordered",
  }));
  const common = {
    caseName: "parallel-latency",
    pick: warmEfficiency,
    cold: efficiency,
    compare: "≥",
    format: plain,
  } as const;
  const peerList = PARALLEL_PEERS.join(", ");
  return [
    ...points.map(
      ({ c, ordered, order }): Target => ({
        ...common,
        id: `parallel-latency c=${c} ${order}`,
        description: `sluice warm efficiency ≥ the best peer's (${peerList}), concurrency ${c}, ${order}`,
        variant: (name) => name === parallelVariantName(c, ordered),
        impl: "sluice",
        threshold: {
          name: "best peer",
          label: (r) => `best peer ${r.impl}`,
          of: (all) => bestPeer(all),
          margin: 0,
        },
      }),
    ),
    ...points.map(
      ({ c, ordered, order }): Target => ({
        ...common,
        id: `parallel-latency c=${c} ${order} ctx.signal`,
        description: `${SIGNAL_IMPL} (the mapper reads \`ctx.signal\`) warm efficiency within ${PARALLEL_MARGIN} of sluice's, concurrency ${c}, ${order}`,
        variant: (name) => name === parallelVariantName(c, ordered),
        impl: SIGNAL_IMPL,
        threshold: {
          name: "sluice",
          label: (r) => r.impl,
          of: figureOf("sluice", (i) => custom(i, "warmEfficiency")),
          margin: PARALLEL_MARGIN,
        },
      }),
    ),
    ...points.map(
      ({ c, ordered, order }): Target => ({
        ...common,
        id: `parallel-latency c=${c} ${order} GC between runs`,
        description: `sluice warm efficiency with a forced GC before each timed run within ${PARALLEL_MARGIN} of the best peer's measured the same way, concurrency ${c}, ${order}`,
        variant: (name) => name === parallelVariantName(c, ordered, true),
        impl: "sluice",
        threshold: {
          name: "best peer, GC between runs",
          label: (r) => `best peer ${r.impl}, GC between runs`,
          of: (all) => bestPeer(all),
          margin: PARALLEL_MARGIN,
        },
      }),
    ),
  ];
}

/** Every target, in report order. */
export const TARGETS: readonly Target[] = [
  {
    id: "sync-chain",
    description: "sluice ns/item ÷ async-generators ns/item (warm)",
    caseName: "sync-chain",
    variant: anyVariant,
    impl: "sluice",
    pick: warmTimeRatio,
    cold: timeRatio,
    compare: "≤",
    threshold: 0.1,
    format: times,
  },
  {
    id: "merge-sources",
    description: "merge of 4 × 250k items ÷ one 1M-item source, same sync chain (warm)",
    caseName: "merge-sources",
    variant: anyVariant,
    impl: "sluice-merge",
    pick: warmTimeRatio,
    cold: timeRatio,
    compare: "≤",
    threshold: 1.5,
    format: times,
  },
  {
    id: "async-chain",
    description: "sluice ns/item ÷ async-generators ns/item (warm)",
    caseName: "async-chain",
    variant: anyVariant,
    impl: "sluice",
    pick: warmTimeRatio,
    cold: timeRatio,
    compare: "≤",
    threshold: 0.4,
    format: times,
  },
  {
    id: "metrics overhead",
    description: "sluice (metrics on) time ÷ sluice-metrics-off time, sync chain",
    caseName: "sync-chain",
    variant: anyVariant,
    impl: "sluice",
    pick: (i, _b, all) => {
      const off = all.find((x) => x.impl === "sluice-metrics-off");
      const on = i.figures?.timeMs.median;
      const offTime = off?.figures?.timeMs.median;
      return on === undefined || offTime === undefined || offTime === 0 ? null : on / offTime;
    },
    compare: "≤",
    threshold: 1.1,
    format: times,
  },
  ...parallelTargets(),
  {
    id: "memory peak RSS",
    description: "sluice-streaming peak RSS ÷ async-generators peak RSS",
    caseName: "memory",
    variant: anyVariant,
    impl: "sluice-streaming",
    pick: (i) => i.ratios.rss,
    compare: "≤",
    threshold: 1.15,
    format: times,
  },
  {
    id: "first result",
    description: "sluice-streaming time to first result (memory case, warm)",
    caseName: "memory",
    variant: anyVariant,
    impl: "sluice-streaming",
    pick: (i) => custom(i, "warmFirstResultMs"),
    cold: (i) => i.figures?.firstResultMs?.median ?? null,
    compare: "≤",
    threshold: 1,
    format: ms,
  },
  {
    id: "stage-overlap",
    description: "sluice total time, 100 items × 3 stages × 20 ms (no overlap ≈ 6 s)",
    caseName: "stage-overlap",
    variant: anyVariant,
    impl: "sluice",
    pick: (i) => i.figures?.timeMs.median ?? null,
    compare: "≤",
    threshold: 2500,
    format: ms,
  },
  {
    id: "embed-workflow first stored chunk",
    description: `embed-streaming time to first stored chunk (${filesOf(EMBED_SIZES.full.main)})`,
    caseName: "embed-workflow",
    variant: embedMain,
    impl: "embed-streaming",
    pick: (i) => custom(i, "firstStoredMs"),
    compare: "<",
    threshold: 1000,
    format: ms,
  },
  {
    id: "embed-workflow throughput",
    description: `embed-streaming throughput ÷ embed-batch throughput (chunks/s), ${filesOf(EMBED_SIZES.full.main)} (at 100,000: next section)`,
    caseName: "embed-workflow",
    variant: embedMain,
    impl: "embed-streaming",
    pick: customRatio("throughput", "embed-batch"),
    compare: "≥",
    threshold: 1,
    format: times,
  },
  {
    id: "embed-workflow concurrency scaling",
    description:
      "streaming, loopback server +20 ms/request: workflow duration at embed concurrency 1 ÷ at 8",
    caseName: "embed-workflow",
    variant: (name) => name.startsWith("concurrency-scaling"),
    impl: "streaming-c1",
    pick: customRatio("durationMs", "streaming-c8"),
    compare: "≥",
    threshold: 5,
    format: times,
  },
];

/** The limit's number and its text, e.g. "≥ 0.846 (best peer p-map 0.876 − 0.03)". */
function limitOf(
  target: Target,
  variantImpls: readonly ImplSummary[] | undefined,
): { value: number | null; text: string; note?: string } {
  const t = target.threshold;
  if (typeof t === "number") return { value: t, text: `${target.compare} ${target.format(t)}` };
  const generic = `${target.compare} ${t.name}${t.margin === 0 ? "" : ` − ${t.margin}`} (same run)`;
  if (variantImpls === undefined) return { value: null, text: generic };
  const ref = t.of(variantImpls);
  if (typeof ref === "string") return { value: null, text: generic, note: ref };
  const value = ref.value - t.margin;
  const from = `${t.label(ref)} ${target.format(ref.value)}${t.margin === 0 ? "" : ` − ${t.margin}`}`;
  return { value, text: `${target.compare} ${target.format(value)} (${from})` };
}

function evaluate(target: Target, cases: readonly CaseSummary[]): TargetResult {
  const bench = cases.find((c) => c.name === target.caseName);
  const variant = bench?.variants.find((v) => target.variant(v.name));
  const limit = limitOf(target, variant?.impls);
  const base = { id: target.id, description: target.description, limit: limit.text };
  const impl = variant?.impls.find((i) => i.impl === target.impl);
  if (bench === undefined || variant === undefined || impl === undefined) {
    return {
      ...base,
      value: "—",
      status: "skipped",
      note: bench === undefined ? "case not run" : "not measured in this run",
    };
  }
  if (impl.status === "skipped") {
    return { ...base, value: "—", status: "skipped", note: impl.note ?? "skipped" };
  }
  if (impl.status !== "ok") {
    return { ...base, value: "—", status: "not met", note: `${impl.status}: ${impl.note ?? ""}` };
  }
  const baseline = variant.impls.find((i) => i.impl === bench.baseline);
  const value = target.pick(impl, baseline, variant.impls);
  if (value === null) {
    return { ...base, value: "—", status: "skipped", note: "baseline not measured" };
  }
  const cold = target.cold?.(impl, baseline, variant.impls) ?? null;
  const coldField = cold === null ? {} : { cold: target.format(cold) };
  const threshold = limit.value;
  if (threshold === null) {
    return {
      ...base,
      value: target.format(value),
      status: "skipped",
      note: limit.note ?? "nothing to compare with",
      ...coldField,
    };
  }
  const met =
    target.compare === "≤"
      ? value <= threshold
      : target.compare === "<"
        ? value < threshold
        : value >= threshold;
  return {
    ...base,
    value: target.format(value),
    status: met ? "met" : "not met",
    ...coldField,
  };
}

/** Evaluates every target against a run's summaries. */
export function evaluateTargets(cases: readonly CaseSummary[]): TargetResult[] {
  return TARGETS.map((t) => evaluate(t, cases));
}
