import { readdir, realpath, stat } from "node:fs/promises";
import { dirname, relative, resolve, sep } from "node:path";
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

/** Printable ASCII without a backslash: already in POSIX, NFC form on a POSIX system. */
const PLAIN_ASCII = /^[\x20-\x5b\x5d-\x7e]*$/;

/** Turns a platform relative path into the POSIX, NFC form used as a file's identity. */
export function toPosixRelativePath(path: string): string {
  if (sep === "/" && PLAIN_ASCII.test(path)) return path;
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
  const { root, files, followSymbolicLinks } = await listFiles(options);
  if (!followSymbolicLinks) return files;
  const realRoot = await realpath(root);
  const reals = await new RealPaths(files).all();
  // No link anywhere: every path is its file's real location, and no two paths share a file.
  if (realRoot === root && files.every((file, i) => reals[i] === file.absolutePath)) return files;
  return mostDirect(files, reals, realRoot);
}

/** Options of {@link discoverFilesIncrementally}. */
export interface IncrementalDiscoverOptions extends DiscoverOptions {
  /**
   * Called once the folder is listed, before the first file, with the number of matching paths
   * (files reached through several links count once per path until they are told apart).
   */
  readonly onListed?: (paths: number) => void;
}

/**
 * {@link discoverFiles} as the files become certain: the same files in the same order, the first
 * ones as soon as the folder is listed and sorted. A file is certain at once when no link leads
 * to it (its folder's real path is its folder, it is not a link itself), so it can have no
 * better path; from the first file reached through a link on, the rest waits for every real
 * path, as `discoverFiles` does for all of them.
 */
export async function* discoverFilesIncrementally(
  options: IncrementalDiscoverOptions,
): AsyncGenerator<DiscoveredFile, void, undefined> {
  const { root, files, followSymbolicLinks } = await listFiles(options);
  options.onListed?.(files.length);
  if (!followSymbolicLinks) {
    yield* files;
    return;
  }
  const realRoot = await realpath(root);
  const reals = new RealPaths(files);
  let certain = 0;
  if (realRoot === root) {
    for (; certain < files.length; certain++) {
      const file = files[certain] as DiscoveredFile;
      const real = reals.of(certain);
      if ((typeof real === "string" ? real : await real) !== file.absolutePath) break;
      yield file;
    }
  }
  if (certain === files.length) return;
  // The files already given are direct and come first: they keep their place.
  const given = new Set(files.slice(0, certain));
  for (const file of mostDirect(files, await reals.all(), realRoot)) {
    if (!given.has(file)) yield file;
  }
}

/** The root checked, and the matching paths sorted by relative path (links not told apart). */
async function listFiles(
  options: DiscoverOptions,
): Promise<{ root: string; files: DiscoveredFile[]; followSymbolicLinks: boolean }> {
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
      absolutePath: resolveUnder(root, path),
      relativePath: toPosixRelativePath(path.replace(/\/$/, "")),
    }))
    .sort((a, b) => compareCodeUnits(a.relativePath, b.relativePath));
  return { root, files, followSymbolicLinks };
}

/**
 * One file per real path, sorted by relative path: several paths can reach one real file through
 * links, and the most direct one is kept (the path that is the file's real location under the
 * root, else the shortest, else the first in order).
 */
function mostDirect(
  files: readonly DiscoveredFile[],
  reals: readonly string[],
  realRoot: string,
): DiscoveredFile[] {
  const rootPrefix = realRoot.endsWith(sep) ? realRoot : realRoot + sep;
  const best = new Map<string, { file: DiscoveredFile; direct: boolean }>();
  files.forEach((file, i) => {
    const real = reals[i] as string;
    // Real paths are normalized: below the root, the relative path is what follows it.
    const underRoot = real.startsWith(rootPrefix)
      ? real.slice(rootPrefix.length)
      : relative(realRoot, real);
    const direct =
      underRoot === file.relativePath || toPosixRelativePath(underRoot) === file.relativePath;
    const current = best.get(real);
    if (!current || isBetter(file, direct, current.file, current.direct)) {
      best.set(real, { file, direct });
    }
  });
  return [...best.values()]
    .map((entry) => entry.file)
    .sort((a, b) => compareCodeUnits(a.relativePath, b.relativePath));
}

/**
 * `resolve(root, path)` for a resolved `root`, without its cost (it normalizes both and asks for the
 * working folder) in the common case of a plain relative POSIX path, which is what a glob returns.
 */
function resolveUnder(root: string, path: string): string {
  const plain =
    sep === "/" &&
    path !== "" &&
    !path.startsWith("/") &&
    !path.endsWith("/") &&
    !path.includes("//") &&
    !/(?:^|\/)\.\.?(?:\/|$)/.test(path);
  if (!plain) return resolve(root, path);
  return root.endsWith("/") ? root + path : `${root}/${path}`;
}

/** The folder part of a normalized absolute path (`dirname`, without its cost). */
function folderOf(path: string): string {
  const at = path.lastIndexOf("/");
  return sep !== "/" || at <= 0 ? dirname(path) : path.slice(0, at);
}

/** A folder's real path (undefined when it cannot be resolved) and the links among its entries. */
interface FolderInfo {
  readonly real: string | undefined;
  readonly links: ReadonlySet<string>;
}

/** The real path of a file in a resolved folder: computed, or asked of the system for a link. */
function realIn({ real, links }: FolderInfo, path: string): string | Promise<string> {
  const name = path.slice(path.lastIndexOf(sep) + 1);
  if (real !== undefined && !links.has(name)) {
    return real.endsWith(sep) ? real + name : `${real}${sep}${name}`;
  }
  return realpath(path).catch(() => path);
}

/** Files whose folders {@link RealPaths} resolves ahead of the one asked for. */
const LOOKAHEAD_FILES = 256;
/** Folders {@link RealPaths.all} resolves at once. */
const FOLDER_CONCURRENCY = 16;

/**
 * The real path of each of a sorted list of files, as `realpath` gives it (a dangling link keeps
 * its own path). One `realpath` and one listing per folder rather than one `realpath` per file: a
 * file that is not itself a link is really at its folder's real path plus its name, so only links
 * need their own call. (A file deleted since the glob counts as being where its folder is.)
 */
class RealPaths {
  private readonly folders = new Map<string, Promise<FolderInfo>>();
  /** Folders resolved so far, to answer without waiting. */
  private readonly resolved = new Map<string, FolderInfo>();
  private ahead = 0;

  constructor(private readonly files: readonly DiscoveredFile[]) {}

  private folder(path: string): Promise<FolderInfo> {
    let info = this.folders.get(path);
    if (info === undefined) {
      info = Promise.all([
        realpath(path).catch(() => undefined),
        readdir(path, { withFileTypes: true }).catch(() => []),
      ]).then(([real, entries]) => {
        const links = new Set<string>();
        for (const entry of entries) if (entry.isSymbolicLink()) links.add(entry.name);
        const folder = { real, links };
        this.resolved.set(path, folder);
        return folder;
      });
      this.folders.set(path, info);
    }
    return info;
  }

  /** The real path of file `i`; starts on the folders of the files after it. */
  of(i: number): string | Promise<string> {
    for (const end = Math.min(this.files.length, i + LOOKAHEAD_FILES); this.ahead < end; ) {
      void this.folder(folderOf((this.files[this.ahead++] as DiscoveredFile).absolutePath));
    }
    const path = (this.files[i] as DiscoveredFile).absolutePath;
    const folder = folderOf(path);
    const known = this.resolved.get(folder);
    return known === undefined
      ? this.folder(folder).then((info) => realIn(info, path))
      : realIn(known, path);
  }

  /** Every file's real path, a few folders at a time. */
  async all(): Promise<string[]> {
    const reals = new Array<string>(this.files.length);
    let next = 0;
    const lane = async () => {
      while (next < this.files.length) {
        const i = next++;
        const real = this.of(i);
        reals[i] = typeof real === "string" ? real : await real;
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(FOLDER_CONCURRENCY, this.files.length) }, lane),
    );
    return reals;
  }
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
