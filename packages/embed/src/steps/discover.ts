import { realpath, stat } from "node:fs/promises";
import { relative, resolve, sep } from "node:path";
import { glob } from "tinyglobby";

/** A file found by {@link discoverFiles}. */
export interface DiscoveredFile {
  /** Absolute path in the platform's form, for reading. */
  readonly absolutePath: string;
  /** Path relative to the root, POSIX separators, Unicode NFC: the file's identity in stores. */
  readonly relativePath: string;
}

/** Options of {@link discoverFiles}. */
export interface DiscoverOptions {
  /** Folder to search. */
  readonly root: string;
  /** Glob pattern(s) relative to the root; default `"**\/*.md"`. */
  readonly pattern?: string | readonly string[];
  /** Glob patterns to leave out; default node_modules and .git folders. */
  readonly ignore?: readonly string[];
  /** Follow symbolic links to folders and files; default true (loops are detected). */
  readonly followSymbolicLinks?: boolean;
  /** Include names starting with a dot; default false. */
  readonly dot?: boolean;
  /** Stops the crawl. */
  readonly signal?: AbortSignal;
}

/** Why discovery could not start. */
export type DiscoverErrorCode = "root-not-found" | "root-not-directory";

/** Thrown when the root folder is missing or is not a folder. */
export class DiscoverError extends Error {
  override readonly name = "DiscoverError";
  constructor(
    readonly code: DiscoverErrorCode,
    readonly root: string,
  ) {
    super(
      code === "root-not-found"
        ? `root folder does not exist: ${root}`
        : `root is not a folder: ${root}`,
    );
  }
}

/** Turns a platform relative path into the POSIX, NFC form used as a file's identity. */
export function toPosixRelativePath(path: string): string {
  return path.split(sep).join("/").replace(/\\/g, "/").normalize("NFC");
}

/** Orders strings by UTF-16 code units: unlike localeCompare, the same on every machine. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Default ignore patterns, shared with the config defaults. */
export const DEFAULT_IGNORE: readonly string[] = ["**/node_modules/**", "**/.git/**"];

/**
 * Lists the files under `root` matching the pattern(s), minus ignored ones, sorted by relative
 * POSIX path. When symbolic links are followed, a file reachable through several paths (a link
 * back up the tree, say) is reported once, under its most direct path, and link loops end.
 */
export async function discoverFiles(options: DiscoverOptions): Promise<DiscoveredFile[]> {
  const root = resolve(options.root);
  const rootStat = await stat(root).catch(() => undefined);
  if (!rootStat) throw new DiscoverError("root-not-found", root);
  if (!rootStat.isDirectory()) throw new DiscoverError("root-not-directory", root);

  const followSymbolicLinks = options.followSymbolicLinks ?? true;
  const found = await glob(options.pattern ?? "**/*.md", {
    cwd: root,
    ignore: options.ignore ?? DEFAULT_IGNORE,
    onlyFiles: true,
    absolute: false,
    dot: options.dot ?? false,
    followSymbolicLinks,
    // Without this a pattern naming a folder would match everything beneath it, surprising users.
    expandDirectories: false,
    ...(options.signal ? { signal: options.signal } : {}),
  });

  const files = found
    .map((path) => ({
      absolutePath: resolve(root, path),
      relativePath: toPosixRelativePath(path.replace(/\/$/, "")),
    }))
    .sort((a, b) => compareCodeUnits(a.relativePath, b.relativePath));
  if (!followSymbolicLinks) return files;

  // Several paths can reach one real file through links; keep the most direct one: the path that
  // is the file's real location under the root, else the shortest, else the first in order.
  const realRoot = await realpath(root);
  const best = new Map<string, { file: DiscoveredFile; direct: boolean }>();
  for (const file of files) {
    // A dangling link cannot be read anyway; keeping it lets the read step report it.
    const real = await realpath(file.absolutePath).catch(() => file.absolutePath);
    const direct = toPosixRelativePath(relative(realRoot, real)) === file.relativePath;
    const current = best.get(real);
    if (!current || isBetter(file, direct, current.file, current.direct)) {
      best.set(real, { file, direct });
    }
  }
  return [...best.values()]
    .map((entry) => entry.file)
    .sort((a, b) => compareCodeUnits(a.relativePath, b.relativePath));
}

function isBetter(
  file: DiscoveredFile,
  direct: boolean,
  other: DiscoveredFile,
  otherDirect: boolean,
): boolean {
  if (direct !== otherDirect) return direct;
  if (file.relativePath.length !== other.relativePath.length) {
    return file.relativePath.length < other.relativePath.length;
  }
  return compareCodeUnits(file.relativePath, other.relativePath) < 0;
}

/** The path of `absolutePath` relative to `root` in the identity form of {@link DiscoveredFile}. */
export function relativeFilePath(root: string, absolutePath: string): string {
  return toPosixRelativePath(relative(resolve(root), resolve(absolutePath)));
}
