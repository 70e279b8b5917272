import { StageMetrics } from "../metrics/stage-metrics.js";
import type { Lineage, Puller } from "./chunk.js";
import { FusedItemStage } from "./fused-item-stage.js";
import { newSpanId } from "./ids.js";
import { OriginPuller } from "./item-span.js";
import type { ItemOp } from "./item-worker.js";
import { MeteredPuller } from "./metered-puller.js";
import { type RunEnv, StageRuntime } from "./run-env.js";
import { stateViewFactory } from "./state-view.js";

/**
 * A stage as the builders describe it: immutable, shared by every run; `create` makes the
 * run's puller. Operators implement this; the engine knows no operator by name.
 */
export interface StageSpec {
  readonly key: string;
  readonly kind: string;
  readonly stepName?: string | undefined;
  /** Whether the stage's functions receive `state` (so earlier stages must track lineage). */
  readonly readsState: boolean;
  readonly strategy?: string | undefined;
  readonly concurrency?: number | undefined;
  create(upstream: Puller, rt: StageRuntime): Puller;
  /**
   * Set by sequential per-item stages whose function takes only the item: adjacent ones
   * that record no lineage run fused in one loop.
   */
  readonly fusable?: ItemOp | undefined;
  /**
   * Set by stages whose outputs cannot be traced to the inputs they came from (a streaming
   * step's generator): a run with acknowledgements refuses them.
   */
  readonly untraced?: true | undefined;
}

/** Metrics objects for a run's stages, created before the run starts so they can be listed. */
export function stageMetrics(stages: readonly StageSpec[], timed = true): StageMetrics[] {
  return stages.map(
    (s) =>
      new StageMetrics(s.key, s.kind, newSpanId(), s.stepName, s.strategy, s.concurrency, timed),
  );
}

/**
 * Wires stages onto a source: source → MeteredPuller → stage → MeteredPuller → … → tail.
 * A stage records lineage only when some later stage reads state, so pipelines that never
 * read it pay nothing for it. Adjacent fusable stages become one `FusedItemStage`, except
 * with `itemEvents` on (a fused group is timed per chunk, not per item). `fixedState`, when
 * given, replaces lineage-based state (the batch builder's accumulated outputs).
 */
export function buildChain(
  stages: readonly StageSpec[],
  source: Puller,
  env: RunEnv,
  metrics: StageMetrics[],
  fixedState?: object,
): MeteredPuller {
  const timed = metrics[0]?.timed ?? false;
  for (const m of metrics) m.events = env.events;
  const onFatal = (error: unknown) => env.onFatal(error);
  const perItem = env.events.itemEvents;
  // With item events on, every item carries lineage from the source on: its span id is its
  // origin's, followed through every stage (see item-span.ts). Delivery roots (with
  // acknowledgements on) already are such origins.
  const origin = perItem && env.acks === undefined ? new OriginPuller(source) : source;
  let upstream = new MeteredPuller(origin, [], metrics[0], timed, onFatal, env.traceId);
  // Acknowledgements follow each item through its lineage, so every stage records it.
  let laterReadsState = env.acks !== undefined;
  const track: boolean[] = new Array(stages.length).fill(false);
  for (let i = stages.length - 1; i >= 0; i--) {
    track[i] = perItem || laterReadsState;
    laterReadsState ||= stages[i]?.readsState ?? false;
  }
  const keys: string[] = [];
  const runtimes = stages.map((stage, i) => {
    let stateOf: (lin: Lineage | null) => object;
    if (fixedState !== undefined) stateOf = () => fixedState;
    else {
      const view = stateViewFactory([...keys]);
      stateOf = (lin) => view(lin, env.snapshots);
    }
    keys.push(stage.key);
    const m = metrics[i];
    if (m === undefined) throw new Error("internal: metrics and stages differ in length");
    return new StageRuntime(stage.key, env, m, track[i] ?? false, stateOf);
  });
  const fusable = (i: number) => !perItem && stages[i]?.fusable !== undefined && !track[i];
  for (let i = 0; i < stages.length; ) {
    let end = i;
    while (fusable(end)) end++;
    let stage: Puller;
    if (end - i >= 2) {
      stage = new FusedItemStage(
        upstream,
        runtimes.slice(i, end),
        stages.slice(i, end).map((s) => s.fusable as ItemOp),
      );
    } else {
      end = i + 1;
      stage = (stages[i] as StageSpec).create(upstream, runtimes[i] as StageRuntime);
    }
    upstream = new MeteredPuller(
      stage,
      metrics.slice(i, end),
      metrics[end],
      timed,
      onFatal,
      env.traceId,
    );
    i = end;
  }
  return upstream;
}
