import { PerformanceObserver } from "node:perf_hooks";
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";

const FLAG = "--heap-growing-percent";

/**
 * Caps how far V8 lets the heap grow past its live size before the next full collection, for a
 * process that runs a long embed job. V8's default lets a fast-allocating process grow to about
 * four times its live heap; the streaming workflow's live heap stays near 50 MB while it
 * allocates hundreds of MB per second in short-lived strings, so its peak RSS was mostly
 * garbage waiting for a collection (6,000 files: 386 MB, live heap under 50 MB). At 50% the
 * same run peaks at about 260 MB in the same time (the CLI on 6,000 files: 318 MB uncapped,
 * 220 MB capped). Process-wide, hence called by the CLI's entry point only, never by the
 * library; a value given on node's command line wins (V8 does not take it from NODE_OPTIONS).
 *
 * @param percent How far the heap may grow past live size, in percent.
 * @param execArgv Node's own command-line flags, where a user's setting would be.
 * @returns Whether the flag was set.
 * @example
 * ```ts
 * capHeapGrowth(); // before embedding, in a process of your own
 * ```
 */
export function capHeapGrowth(
  percent = 50,
  execArgv: readonly string[] = process.execArgv,
): boolean {
  if (!(Number.isInteger(percent) && percent > 0)) {
    throw new RangeError(`capHeapGrowth: percent must be a positive integer, got ${percent}`);
  }
  const userSet = execArgv.some(
    (arg) => arg.startsWith(FLAG) || arg.startsWith("--heap_growing_percent"),
  );
  if (userSet) return false;
  setFlagsFromString(`${FLAG}=${percent}`);
  return true;
}

const GROWTH_FACTOR_FLAG = "--semi-space-growth-factor";
/** V8's default (and smallest allowed at isolate set-up) young-generation growth factor. */
const V8_GROWTH_FACTOR = 2;
const MIB = 1024 * 1024;
const YOUNG_GENERATION_FLAG =
  /^--(?:max|min)[-_]semi[-_]space[-_]size|^--semi[-_]space[-_]growth[-_]factor/;

/**
 * Stops this thread's young generation growing past `semiSpaceMb` per semi-space. V8 fixes a
 * thread's young-generation limit (`--max-semi-space-size`, 16 MB by default) when it makes
 * the isolate, so only node's command line can lower it for a process's main thread; but V8
 * reads its growth factor each time the young generation grows. After every collection this
 * sets the factor to 1 (no growth) once one more growth would pass the cap. It is set again at
 * each collection because V8 raises the factor back to 2 whenever it sets up an isolate (a
 * worker thread starting), so a growth that happens before the next collection can overshoot
 * the cap by one step. An embed run's main thread otherwise grows to two 16 MB semi-spaces of
 * short-lived strings: ~25 MB of peak RSS (docs/performance.md). Process-wide V8 state: for a
 * CLI's entry point, never the library; a young-generation flag on node's command line or in
 * `NODE_OPTIONS` wins.
 *
 * @param semiSpaceMb Largest semi-space to grow to, in MiB (a young generation already larger
 *   than this stays as it is).
 * @param execArgv Node's own command-line flags, where a user's setting would be.
 * @param nodeOptions `NODE_OPTIONS`, where a user's `--max-semi-space-size` may be too.
 * @returns A function that removes the cap, or `undefined` when the user set a young-generation
 *   flag (or this V8 reports no young generation) and nothing was capped.
 * @example
 * ```ts
 * const uncap = capYoungGeneration(4); // at the start of a process of your own
 * // … a long embed job …
 * uncap?.();
 * ```
 */
export function capYoungGeneration(
  semiSpaceMb = 4,
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string | undefined = process.env.NODE_OPTIONS,
): (() => void) | undefined {
  if (!(Number.isInteger(semiSpaceMb) && semiSpaceMb > 0)) {
    throw new RangeError(
      `capYoungGeneration: semiSpaceMb must be a positive integer, got ${semiSpaceMb}`,
    );
  }
  const flags = [...execArgv, ...(nodeOptions ?? "").split(/\s+/)];
  if (flags.some((flag) => YOUNG_GENERATION_FLAG.test(flag))) return undefined;
  if (youngGenerationBytes() === undefined) return undefined;
  // The young generation's size counts both of its semi-spaces.
  const limit = 2 * semiSpaceMb * MIB;
  let capped = false;
  const adjust = () => {
    const atCap = (youngGenerationBytes() ?? 0) * V8_GROWTH_FACTOR > limit;
    if (atCap || capped)
      setFlagsFromString(`${GROWTH_FACTOR_FLAG}=${atCap ? 1 : V8_GROWTH_FACTOR}`);
    capped = atCap;
  };
  const observer = new PerformanceObserver(adjust);
  observer.observe({ entryTypes: ["gc"] });
  adjust();
  return () => {
    observer.disconnect();
    if (capped) setFlagsFromString(`${GROWTH_FACTOR_FLAG}=${V8_GROWTH_FACTOR}`);
    capped = false;
  };
}

function youngGenerationBytes(): number | undefined {
  return getHeapSpaceStatistics().find((space) => space.space_name === "new_space")?.space_size;
}
