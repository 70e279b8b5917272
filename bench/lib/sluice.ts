/**
 * Lazy, guarded access to the `sluice` package.
 *
 * sluice is being written alongside this harness, so the benchmark must work
 * before it exists: the module is imported at run time (through a variable
 * specifier, so neither tsc nor the bundler needs it to exist) and checked for
 * the API the cases use. When it is missing, sluice implementations report a
 * `Skip` instead of failing.
 *
 * The interfaces below are the subset of the sluice API the cases rely on,
 * written from the agreed API. Once `packages/sluice/src/index.ts` exists they
 * can be replaced by `import type { ... } from "sluice"`.
 */
import type { Skip } from "../types.ts";

/**
 * Set to `true` once sluice is implemented: a skipped sluice implementation
 * then fails `bench:quick` and `bench/quick.test.ts` instead of being tolerated.
 */
export const REQUIRE_SLUICE = true;

/** The context sluice passes to every per-item function. */
export interface SluiceStepContext {
  readonly signal: AbortSignal;
}

/** Per-stage options of the streaming builder. */
export interface SluiceStageOptions {
  readonly concurrency?: number;
  readonly ordered?: boolean;
  readonly buffer?: number;
}

/** The streaming builder, `StreamingPipeline.start<In>()` and its chain. */
export interface SluiceStreaming<In, Out> {
  map<Next>(
    name: string,
    fn: (item: Out, ctx: SluiceStepContext) => Next | Promise<Next>,
    options?: SluiceStageOptions,
  ): SluiceStreaming<In, Next>;
  filter(
    name: string,
    fn: (item: Out, ctx: SluiceStepContext) => boolean | Promise<boolean>,
    options?: SluiceStageOptions,
  ): SluiceStreaming<In, Out>;
  executeFrom(
    input: Iterable<In> | AsyncIterable<In>,
    options?: { readonly metrics?: boolean },
  ): AsyncIterable<Out>;
}

/** A step made by `createStep`; opaque to the harness. */
export interface SluiceStep<I, O> {
  readonly name: string;
  /** Phantom field so the type parameters are checked; never read. */
  readonly __types?: (input: I) => O;
}

/** Options of a batch stage. */
export interface SluiceBatchOptions {
  readonly parallel?: boolean;
  readonly concurrencyLimit?: number;
}

/** The result of a batch `execute`. */
export type SluiceBatchResult<T> =
  | { readonly success: true; readonly data: T }
  | { readonly success: false; readonly error: unknown };

/**
 * The batch builder: `Pipeline.start<In[]>()` takes an array of inputs and
 * maps each step over every element.
 */
export interface SluiceBatch<In, Out> {
  map<Next>(
    name: string,
    step: SluiceStep<Out, Next>,
    options?: SluiceBatchOptions,
  ): SluiceBatch<In, Next>;
  execute(input: In[]): Promise<SluiceBatchResult<Out[]>>;
}

/** The part of the `sluice` module the benchmark uses. */
export interface SluiceApi {
  readonly StreamingPipeline: { start<T>(): SluiceStreaming<T, T> };
  readonly Pipeline: { start<T extends readonly unknown[]>(): SluiceBatch<T[number], T[number]> };
  readonly createStep: <I, O>(
    name: string,
    fn: (args: { readonly input: I }) => O | Promise<O>,
  ) => SluiceStep<I, O>;
}

const SPECIFIER: string = "sluice";

function hasFunction(value: unknown, key: string): boolean {
  if ((typeof value !== "object" && typeof value !== "function") || value === null) return false;
  return typeof (value as Record<string, unknown>)[key] === "function";
}

function missing(mod: Record<string, unknown>, needs: readonly string[]): string[] {
  return needs
    .filter((name) =>
      name === "createStep" ? typeof mod[name] !== "function" : !hasFunction(mod[name], "start"),
    )
    .map((name) => (name === "createStep" ? name : `${name}.start`));
}

/**
 * Imports sluice and checks that it exports what `needs` lists
 * (`StreamingPipeline`, `Pipeline`, `createStep`); returns the module or a
 * `Skip` that says why it is not usable.
 */
export async function loadSluice(
  needs: readonly ("StreamingPipeline" | "Pipeline" | "createStep")[] = ["StreamingPipeline"],
): Promise<SluiceApi | Skip> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(SPECIFIER)) as Record<string, unknown>;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { skipped: `sluice not available: ${message.split("\n")[0]}` };
  }
  const absent = missing(mod, needs);
  if (absent.length > 0) {
    return { skipped: `sluice not available: missing export ${absent.join(", ")}` };
  }
  return mod as unknown as SluiceApi;
}

/** Narrows a `loadSluice` result. */
export function isSluiceSkip(value: SluiceApi | Skip): value is Skip {
  return "skipped" in value;
}
