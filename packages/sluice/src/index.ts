export {
  type BranchCondition,
  type ExecuteOptions,
  type FlattenKey,
  type ListKey,
  type ListOptions,
  Pipeline,
} from "./builders/pipeline.js";
export {
  type ItemFn,
  type ItemPredicate,
  StreamingPipeline,
  type StreamingPipelineOptions,
} from "./builders/streaming-pipeline.js";
export type {
  CheckpointKey,
  ElementOf,
  Members,
  ReservedKey,
  SnapshotApi,
  StateView,
  UniqueKey,
  WithKey,
} from "./builders/types.js";
export { abortableSleep } from "./engine/abortable-sleep.js";
export {
  AckError,
  type AcknowledgedSource,
  type AckOutcome,
  acknowledged,
  type Delivery,
} from "./engine/acknowledgement.js";
export type { ItemContext } from "./engine/item-context.js";
export type { PullSource } from "./engine/pull-source.js";
export type { ErrorRecord } from "./engine/run-env.js";
export type { Source } from "./engine/sources.js";
export { type RunOptions, StreamingRun } from "./engine/streaming-run.js";
export { ListErrorStrategy, StreamingErrorStrategy } from "./errors/error-strategy.js";
export {
  backoffDelay,
  isRetryable,
  type RetryOptions,
  retryAfterMs,
  TRANSIENT_ERROR_CODES,
  withinRetryBudget,
} from "./errors/retry-policy.js";
export {
  AbortError,
  type ItemError,
  StepError,
  type StepErrorOptions,
  StreamingError,
} from "./errors/step-error.js";
export {
  pipelineToStep,
  pipelineToStreaming,
  stepToStreamingStep,
  streamingStepToStep,
  streamingToPipeline,
} from "./interop/adapters.js";
export { toReadableStream } from "./interop/web-streams.js";
export {
  type AdaptiveConcurrencyOptions,
  type ConcurrencySample,
  isOverload,
} from "./limits/adaptive-concurrency.js";
export type { RateLimitOption, WeighOption } from "./limits/call-guard.js";
export { CallTimeoutError } from "./limits/call-timeout.js";
export type { StageLimits } from "./limits/limit-metrics.js";
export {
  createRateLimiter,
  type RateLimiter,
  type RateLimiterOptions,
  type RateLimiterStats,
} from "./limits/rate-limiter.js";
export type { RunEvent, RunEventType } from "./metrics/events.js";
export { LatencyHistogram, type Percentiles } from "./metrics/histogram.js";
export type { Logger, LogMethod } from "./metrics/logger.js";
export type { RunMetadata, RunStatus, StageMetadata } from "./metrics/metadata.js";
export type { Progress } from "./metrics/progress.js";
export type { BatchOptions } from "./operators/batch.js";
export type { BufferUntilOptions, BufferUntilPredicate } from "./operators/buffer-until.js";
export type { CheckpointOptions } from "./operators/checkpoint.js";
export type { DistinctOptions } from "./operators/distinct.js";
export type { ItemStageOptions } from "./operators/item-stage.js";
export {
  MergedSource,
  type MergeInput,
  type MergeOptions,
  merge,
  type SourceItem,
  type Tagged,
} from "./operators/merge.js";
export type { ScanReducer } from "./operators/scan.js";
export { compose } from "./steps/compose.js";
export { createStep, type StepOptions } from "./steps/create-step.js";
export type { Step, StepContext, StepMetadata, StepResult } from "./steps/step.js";
export {
  createStreamingStep,
  type StreamingStep,
  type StreamingStepContext,
  type StreamingStepOptions,
} from "./steps/streaming-step.js";
