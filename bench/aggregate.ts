/**
 * Turns the raw worker results of a run into per-(case, variant,
 * implementation) summaries: status, median/min/max of every figure, ratios
 * against the case's baseline measured in the same run.
 */
import { type Spread, spread, spreadOrNull } from "./stats.ts";
import type {
  BenchCase,
  Column,
  FigureColumn,
  Variant,
  VariantParams,
  WorkerOk,
  WorkerResult,
} from "./types.ts";

/** How an implementation fared in one variant. */
export type ImplStatus = "ok" | "skipped" | "error" | "mismatch";

/** The figures of one implementation over its rounds. */
export interface ImplFigures {
  readonly timeMs: Spread;
  readonly nsPerItem: Spread;
  readonly firstResultMs: Spread | null;
  readonly maxRssBytes: Spread;
  readonly peakHeapBytes: Spread;
  /** Largest read-ahead seen over all rounds. */
  readonly readAhead: number | null;
  /** Most tasks in flight at once over all rounds. */
  readonly maxInFlight: number | null;
  /** idealMs ÷ timeMs per round, when the variant has an `idealMs`. */
  readonly efficiency: Spread | null;
  /** Case-specific figures (`Probe.record`) by key, over the rounds that recorded them. */
  readonly custom: Readonly<Record<string, Spread>>;
}

/** Ratios of medians against the baseline. */
export interface Ratios {
  readonly time: number | null;
  readonly rss: number | null;
  readonly heap: number | null;
}

/** One implementation in one variant. */
export interface ImplSummary {
  readonly impl: string;
  readonly description: string;
  readonly status: ImplStatus;
  /** Skip reason, error text or checksum mismatch detail. */
  readonly note?: string;
  readonly checksums: readonly number[];
  readonly figures: ImplFigures | null;
  /** Contract violations that do not change the checksum, e.g. exceeding the concurrency limit. */
  readonly warnings: readonly string[];
  readonly ratios: Ratios;
  readonly rounds: readonly WorkerResult[];
}

/** One variant of a case. */
export interface VariantSummary {
  readonly name: string;
  readonly params: VariantParams;
  readonly reference: number;
  readonly impls: readonly ImplSummary[];
}

/** One case. */
export interface CaseSummary {
  readonly name: string;
  readonly description: string;
  readonly baseline: string;
  readonly columns: readonly Column[];
  /** Case-specific figure columns (absent in older result files). */
  readonly figures?: readonly FigureColumn[];
  readonly variants: readonly VariantSummary[];
}

function figuresOf(oks: readonly WorkerOk[], params: VariantParams): ImplFigures {
  const idealMs = typeof params.idealMs === "number" ? params.idealMs : null;
  const max = (values: readonly (number | null)[]): number | null => {
    const present = values.filter((v): v is number => v !== null);
    return present.length === 0 ? null : Math.max(...present);
  };
  const keys = [...new Set(oks.flatMap((r) => Object.keys(r.figures ?? {})))];
  const custom: Record<string, Spread> = {};
  for (const key of keys) {
    const values = oks
      .map((r) => r.figures?.[key])
      .filter((v): v is number => typeof v === "number");
    custom[key] = spread(values);
  }
  return {
    timeMs: spread(oks.map((r) => r.timeMs)),
    nsPerItem: spread(oks.map((r) => r.nsPerItem)),
    firstResultMs: spreadOrNull(oks.map((r) => r.firstResultMs)),
    maxRssBytes: spread(oks.map((r) => r.maxRssBytes)),
    peakHeapBytes: spread(oks.map((r) => r.peakHeapBytes)),
    readAhead: max(oks.map((r) => r.readAhead)),
    maxInFlight: max(oks.map((r) => r.maxInFlight)),
    efficiency: idealMs === null ? null : spread(oks.map((r) => idealMs / r.timeMs)),
    custom,
  };
}

function statusOf(
  rounds: readonly WorkerResult[],
  reference: number,
): { status: ImplStatus; note?: string } {
  const failed = rounds.find((r) => r.status === "error");
  if (failed?.status === "error") return { status: "error", note: failed.error };
  const oks = rounds.filter((r): r is WorkerOk => r.status === "ok");
  const wrong = oks.find((r) => r.checksum !== reference);
  if (wrong !== undefined) {
    return {
      status: "mismatch",
      note: `checksum ${wrong.checksum} ≠ expected ${reference}`,
    };
  }
  if (oks.length > 0) return { status: "ok" };
  const skipped = rounds.find((r) => r.status === "skipped");
  return {
    status: "skipped",
    note: skipped?.status === "skipped" ? skipped.reason : "not run",
  };
}

function warningsOf(figures: ImplFigures | null, params: VariantParams): string[] {
  const limit = params.concurrency;
  if (figures?.maxInFlight == null || typeof limit !== "number") return [];
  return figures.maxInFlight > limit
    ? [`ran ${figures.maxInFlight} tasks at once with concurrency ${limit}`]
    : [];
}

const ratio = (a: number | undefined, b: number | undefined): number | null =>
  a === undefined || b === undefined || b === 0 ? null : a / b;

/**
 * Summarizes one variant's results (all rounds of all implementations, or of
 * `only`); `reference` defaults to `bench.reference(variant.params)`.
 */
export function summarizeVariant(
  bench: BenchCase,
  variant: Variant,
  results: readonly WorkerResult[],
  only?: readonly string[],
  reference: number = bench.reference(variant.params),
): VariantSummary {
  const entries = Object.entries(bench.implementations).filter(
    ([impl]) => only === undefined || only.includes(impl),
  );
  const partial = entries.map(([impl, def]) => {
    const rounds = results.filter((r) => r.impl === impl);
    const { status, note } = statusOf(rounds, reference);
    const oks = rounds.filter((r): r is WorkerOk => r.status === "ok");
    const figures = status === "ok" ? figuresOf(oks, variant.params) : null;
    return {
      impl,
      description: def.description,
      status,
      ...(note === undefined ? {} : { note }),
      checksums: [...new Set(oks.map((r) => r.checksum))],
      figures,
      warnings: warningsOf(figures, variant.params),
      rounds,
    };
  });
  const base = partial.find((p) => p.impl === bench.baseline)?.figures ?? null;
  const impls = partial.map((p) => ({
    ...p,
    ratios: {
      time: ratio(p.figures?.timeMs.median, base?.timeMs.median),
      rss: ratio(p.figures?.maxRssBytes.median, base?.maxRssBytes.median),
      heap: ratio(p.figures?.peakHeapBytes.median, base?.peakHeapBytes.median),
    },
  }));
  return { name: variant.name, params: variant.params, reference, impls };
}
