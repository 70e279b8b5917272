/**
 * The performance targets sluice must meet, evaluated from one run's numbers
 * (ratios are against the baseline measured in the same run). The same list
 * is written out in `bench/README.md`.
 */
import type { CaseSummary, ImplSummary } from "./aggregate.ts";
import { SIZES as EMBED_SIZES } from "./cases/embed-workflow.ts";

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
  readonly threshold: number;
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
/** The embed-workflow variant on the big corpus, where batch's O(corpus) memory shows. */
const embedRss = (name: string): boolean => name.startsWith("rss ");
const efficiency: Pick = (i) => i.figures?.efficiency?.median ?? null;
const warmEfficiency: Pick = (i) => custom(i, "warmEfficiency");
/** Warm ns/item of this implementation ÷ the baseline's, both measured in the same run. */
const warmTimeRatio: Pick = (i, b) =>
  ratioOf(custom(i, "warmNsPerItem"), custom(b, "warmNsPerItem"));

function parallelTargets(): Target[] {
  return [32, 128].flatMap((c) =>
    (["ordered", "unordered"] as const).map(
      (order): Target => ({
        id: `parallel-latency c=${c} ${order}`,
        description: `sluice efficiency at concurrency ${c}, ${order} (warm)`,
        caseName: "parallel-latency",
        variant: (name) => name === `c=${c},${order}`,
        impl: "sluice",
        pick: warmEfficiency,
        cold: efficiency,
        compare: "≥",
        threshold: c === 32 ? 0.88 : 0.75,
        format: plain,
      }),
    ),
  );
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
    id: "embed-workflow peak RSS",
    description: `embed-streaming peak RSS ÷ embed-batch peak RSS (workflow summary), rss variant (${filesOf(EMBED_SIZES.full.rss)}; at the issue's 100,000: next section)`,
    caseName: "embed-workflow",
    variant: embedRss,
    impl: "embed-streaming",
    pick: customRatio("peakRssBytes", "embed-batch"),
    compare: "≤",
    threshold: 0.1,
    format: times,
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

function evaluate(target: Target, cases: readonly CaseSummary[]): TargetResult {
  const limit = `${target.compare} ${target.format(target.threshold)}`;
  const base = { id: target.id, description: target.description, limit };
  const bench = cases.find((c) => c.name === target.caseName);
  const variant = bench?.variants.find((v) => target.variant(v.name));
  const impl = variant?.impls.find((i) => i.impl === target.impl);
  if (bench === undefined || variant === undefined || impl === undefined) {
    return { ...base, value: "—", status: "skipped", note: "case not run" };
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
  const met =
    target.compare === "≤"
      ? value <= target.threshold
      : target.compare === "<"
        ? value < target.threshold
        : value >= target.threshold;
  const cold = target.cold?.(impl, baseline, variant.impls) ?? null;
  return {
    ...base,
    value: target.format(value),
    status: met ? "met" : "not met",
    ...(cold === null ? {} : { cold: target.format(cold) }),
  };
}

/** Evaluates every target against a run's summaries. */
export function evaluateTargets(cases: readonly CaseSummary[]): TargetResult[] {
  return TARGETS.map((t) => evaluate(t, cases));
}
