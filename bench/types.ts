/**
 * Shared types of the benchmark harness: what a case declares, what an
 * implementation provides, and what a worker process reports.
 */

/** Parameters of one variant of a case (size, concurrency, ordering, ...). */
export type VariantParams = Readonly<Record<string, number | boolean | string>> & {
  readonly size: number;
};

/** One measurable configuration of a case, e.g. `c=32 ordered`. */
export interface Variant {
  /** Unique within the case; used on the worker command line. */
  readonly name: string;
  /**
   * The case's own parameters, plus two the harness reads: `idealMs` (efficiency = idealMs ÷
   * time) and `gcBetweenRuns` (`true`: a forced GC before every recorded warm run).
   */
  readonly params: VariantParams;
}

/** Hooks an implementation calls while it runs; see `probe.ts`. */
export interface Probe {
  /** Call once per result delivered to the final consumer. */
  delivered(): void;
  /** Call once per item handed out by the source. */
  pulled(): void;
  /** Samples heap usage; cheap enough to call every few dozen items. */
  sample(): void;
  /** Call when a concurrent task starts (`+1`) and ends (`-1`); tracks the max in flight. */
  inFlight(delta: 1 | -1): void;
  /**
   * Records a case-specific figure (e.g. a workflow's own duration or a compiler's
   * instantiation count) under `key`; the last value recorded wins. Cases list the
   * figures they report in `BenchCase.figures`.
   */
  record(key: string, value: number): void;
}

/** The timed part of an implementation: runs the pipeline once, returns the checksum. */
export type RunFn = (probe: Probe) => Promise<number>;

/** An implementation that cannot run in this configuration, with the reason. */
export interface Skip {
  readonly skipped: string;
}

/**
 * One implementation of a case. `prepare` does everything that must not be
 * timed (imports, building the pipeline object) and returns the timed run,
 * or a `Skip` when the implementation cannot run this variant.
 */
export interface Implementation {
  /** One line shown in the report. */
  readonly description: string;
  /**
   * Optional static check: the reason this variant is not supported (e.g. no
   * unordered mode), so the orchestrator skips it without spawning a process.
   */
  unsupported?(params: VariantParams): string | undefined;
  prepare(params: VariantParams): Promise<RunFn | Skip>;
}

/** Optional report columns a case asks for (time and × baseline are always shown). */
export type Column =
  | "nsPerItem"
  | "efficiency"
  | "firstResult"
  | "rss"
  | "heap"
  | "readAhead"
  | "maxInFlight";

/** A case-specific figure shown as an extra report column (see `Probe.record`). */
export interface FigureColumn {
  /** The key the implementation passes to `Probe.record`. */
  readonly key: string;
  /** Column header, with its unit. */
  readonly header: string;
  /** Divides the value before printing (e.g. 1024 ** 2 for bytes → MB); default 1. */
  readonly scale?: number;
  /** Decimals printed; default: 0 from 100 up, 1 from 10 up, else 2. */
  readonly digits?: number;
}

/**
 * Work a case needs done once, in the orchestrator, before any of its children
 * runs (e.g. generating a corpus on disk), and undone after the last one.
 */
export interface CaseSetup {
  /** Environment variables passed to every child of the case (e.g. where the corpus is). */
  readonly env: Readonly<Record<string, string>>;
  /**
   * Reference checksums by variant name, computed during the setup; they take
   * the place of `BenchCase.reference` for those variants.
   */
  readonly references?: Readonly<Record<string, number>>;
  /** Removes what the setup made; called once every child of the case has ended. */
  dispose(): Promise<void>;
}

/** A benchmark case: one file in `cases/`. */
export interface BenchCase {
  readonly name: string;
  /** What the case measures, one or two sentences for the report. */
  readonly description: string;
  /** The implementation every ratio is computed against. */
  readonly baseline: string;
  /** Extra columns of the report table. */
  readonly columns: readonly Column[];
  /** Case-specific figures (`Probe.record`), shown after `columns`. */
  readonly figures?: readonly FigureColumn[];
  /**
   * Optional one-off preparation in the orchestrator for the given variants
   * (not timed; runs before the case's first child, disposed after its last).
   */
  setup?(variants: readonly Variant[], quick: boolean): Promise<CaseSetup>;
  /**
   * Runs of each implementation, in the same process after the cold one (and after
   * `warmUpRuns`), whose median is reported as the warm (steady-state) figures `warmMs`,
   * `warmNsPerItem`, `warmFirstResultMs` and, with an `idealMs`, `warmEfficiency` (full mode
   * only; see worker.ts for the time limits). Every warm run must return the cold run's
   * checksum.
   */
  readonly warmRuns?: number;
  /**
   * Runs between the cold run and the recorded warm runs, checked but not recorded (default
   * 0): for cases whose runs are too short (tens of ms) to bring the code to steady state in
   * one run.
   */
  readonly warmUpRuns?: number;
  /**
   * The input size of the `warmUpRuns` (default: the variant's own): the implementation is
   * prepared a second time with this size, so warming up costs a short input's time. Their
   * checksums are checked against `reference` at that size.
   */
  readonly warmUpSize?: number;
  /**
   * The recorded warm runs go on until together they have taken at least this long, and
   * there are at least `warmRuns` of them (default 0: exactly `warmRuns`).
   */
  readonly warmMinMs?: number;
  /** Full-size variants, or the small ones with `quick`. */
  variants(quick: boolean): readonly Variant[];
  /** The expected checksum, computed independently of every implementation. */
  reference(params: VariantParams): number;
  readonly implementations: Readonly<Record<string, Implementation>>;
}

/** What a worker prints (one JSON line) for one (case, implementation, variant) run. */
export type WorkerResult = WorkerOk | WorkerSkipped | WorkerFailed;

/** Common identification of a worker result. */
export interface WorkerId {
  readonly case: string;
  readonly impl: string;
  readonly variant: string;
}

/** A completed measurement. */
export interface WorkerOk extends WorkerId {
  readonly status: "ok";
  readonly checksum: number;
  readonly items: number;
  readonly timeMs: number;
  readonly nsPerItem: number;
  /** Milliseconds from the start of the run to the first delivered result; null if none. */
  readonly firstResultMs: number | null;
  /** Kernel high-water mark of the resident set, bytes (`process.resourceUsage().maxRSS`). */
  readonly maxRssBytes: number;
  /** Resident set just before the timed run, bytes. */
  readonly rssBeforeBytes: number;
  /** Highest sampled `heapUsed`, bytes. */
  readonly peakHeapBytes: number;
  /** `heapUsed` just before the timed run (after a forced GC), bytes. */
  readonly heapBeforeBytes: number;
  /** Largest (pulled − delivered) seen at a delivery; null if the implementation never pulled. */
  readonly readAhead: number | null;
  /** Most tasks running at once; null if the case does not count tasks. */
  readonly maxInFlight: number | null;
  /** Case-specific figures recorded with `Probe.record` (absent in older result files). */
  readonly figures?: Readonly<Record<string, number>>;
}

/** The implementation declined to run (library missing, mode not supported). */
export interface WorkerSkipped extends WorkerId {
  readonly status: "skipped";
  readonly reason: string;
}

/** The implementation threw, or the worker crashed. */
export interface WorkerFailed extends WorkerId {
  readonly status: "error";
  readonly error: string;
}

/** Narrows a prepare() result. */
export function isSkip(value: RunFn | Skip): value is Skip {
  return typeof value !== "function";
}
