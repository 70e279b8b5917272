import type { StageMetadata } from "sluice";

/** One stage's figures at a moment of a run. */
export interface StageProgress {
  readonly key: string;
  /** Items taken from upstream and handed downstream. */
  readonly in: number;
  readonly out: number;
  readonly failed: number;
  readonly retried: number;
  readonly inFlight: number;
  /** Most items at once, when the stage runs items concurrently. */
  readonly concurrency: number | undefined;
}

/** A run's progress: what a progress view polls. */
export interface ProgressSnapshot {
  readonly mode: "streaming" | "batch" | "queue";
  /** Milliseconds since the run started. */
  readonly elapsedMs: number;
  /** Files discovered (0 until discovery ends) and files settled: stored, unchanged or given up. */
  readonly files: { readonly total: number; readonly done: number };
  /** Chunks stored so far. */
  readonly embedded: number;
  /** Failed or skipped items so far, all stages. */
  readonly errors: number;
  readonly stages: readonly StageProgress[];
}

/** A streaming run's stages as a progress view shows them, from the run's metadata. */
export function stagesProgress(stages: readonly StageMetadata[]): StageProgress[] {
  return stages.map((s) => ({
    key: s.key,
    in: s.counts.in,
    out: s.counts.out,
    failed: s.counts.failed,
    retried: s.counts.retried,
    inFlight: s.inFlight,
    concurrency: s.concurrency,
  }));
}

/** Reads the current progress; cheap enough to call every 100 ms. */
export type ProgressProbe = () => ProgressSnapshot;

/** Counters a batch-mode stage keeps, since a batch `Pipeline` has no live metadata. */
export class StageCounter {
  in = 0;
  out = 0;
  failed = 0;
  inFlight = 0;
  constructor(
    readonly key: string,
    readonly concurrency: number | undefined,
  ) {}

  snapshot(): StageProgress {
    return {
      key: this.key,
      in: this.in,
      out: this.out,
      failed: this.failed,
      retried: 0,
      inFlight: this.inFlight,
      concurrency: this.concurrency,
    };
  }
}
