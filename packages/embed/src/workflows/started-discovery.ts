// A run lists its folder before it opens its store, so that a run with nothing to embed creates
// nothing; the listing, already made, is then the run's discovery.
import type { EmbedConfig } from "../config.ts";
import { type DiscoveredFile, discoverFilesIncrementally } from "../steps/discover.ts";

/**
 * Thrown when a run finds no file to embed, before anything is removed from the store: an empty
 * or mistyped folder, or a pattern that matches nothing, must never empty a collection.
 */
export class NoFilesError extends Error {
  override readonly name = "NoFilesError";
  readonly code = "no-files";
  constructor(
    readonly root: string,
    readonly pattern: string,
    readonly ignore: readonly string[],
  ) {
    super(
      `no files to embed: nothing under ${root} matches the pattern ${JSON.stringify(pattern)}` +
        (ignore.length > 0
          ? ` (ignoring ${ignore.map((i) => JSON.stringify(i)).join(", ")})`
          : "") +
        "; nothing was removed from the store",
    );
  }
}

/**
 * A folder listed, its first file found, the rest still to come: what a run knows before it
 * opens its store (see {@link startDiscovery}).
 */
export interface StartedDiscovery {
  readonly first: DiscoveredFile;
  /** The files after `first`, in order, as discovery makes them certain. */
  readonly rest: AsyncGenerator<DiscoveredFile, void, undefined>;
  /** Matching paths in the listing (see `onListed` of `discoverFilesIncrementally`). */
  readonly paths: number;
}

/**
 * Lists the folder and finds its first file, before any store is opened: a run that finds nothing
 * throws a `NoFilesError` having created nothing (an empty folder, a pattern that matches
 * nothing), as a missing folder does. The rest is discovered as the run takes it.
 */
export async function startDiscovery(
  config: EmbedConfig,
  signal: AbortSignal | undefined,
): Promise<StartedDiscovery> {
  let paths = 0;
  const rest = discoverFilesIncrementally({
    ...discoveryOf(config, signal),
    onListed: (n) => {
      paths = n;
    },
  });
  const first = await rest.next();
  if (first.done) throw new NoFilesError(config.root, config.pattern, config.ignore);
  return { first: first.value, rest, paths };
}

/**
 * What every discovery of a run looks for: the config's root, pattern and ignores, hidden names
 * and links as configured, and the run's signal.
 */
function discoveryOf(config: EmbedConfig, signal: AbortSignal | undefined) {
  return {
    root: config.root,
    pattern: config.pattern,
    ignore: config.ignore,
    dot: config.includeHidden,
    symlinks: config.followSymlinks ? ("follow" as const) : ("inside-root" as const),
    ...(signal ? { signal } : {}),
  };
}
