import { type Dirent, readdir as readdirCallback, realpath as realpathCallback } from "node:fs";
import { readdir, realpath, stat } from "node:fs/promises";
import { dirname, relative, resolve, sep } from "node:path";
import { type FileSystemAdapter, glob } from "tinyglobby";
import { compareCodeUnits } from "./code-unit-order.ts";

/** Why discovery found a path it will not hand on as a file to embed. */
export type DiscoveryProblemCode = "OUTSIDE_ROOT" | "PATH_COLLISION" | "UNREADABLE_FOLDER";

/**
 * A path discovery met but cannot offer for embedding, for the error report: `OUTSIDE_ROOT` (a
 * link leading out of the root, skipped), `PATH_COLLISION` (a second spelling of a name that is
 * already taken once Unicode-normalized, skipped), `UNREADABLE_FOLDER` (a folder that could not
 * be listed, failed).
 */
export interface DiscoveryProblem {
  readonly kind: "skipped" | "failed";
  readonly code: DiscoveryProblemCode;
  readonly message: string;
}

/** A file found by {@link discoverFiles}. */
export interface DiscoveredFile {
  /** Absolute path in the platform's form, for reading. */
  readonly absolutePath: string;
  /**
   * Path relative to the root, POSIX separators, Unicode NFC: the file's identity in stores. For
   * an entry with a `problem`, the path as it is on disk (a folder's, for a folder).
   */
  readonly relativePath: string;
  /** Set when the entry is not to be embedded but reported. */
  readonly problem?: DiscoveryProblem;
}

/** Options of {@link discoverFiles}. */
export interface DiscoverOptions {
  /** Folder to search. */
  readonly root: string;
  /** Glob pattern(s) relative to the root; default `"**\/*.md"`. */
  readonly pattern?: string | readonly string[];
  /** Glob patterns to leave out; default node_modules and .git folders. */
  readonly ignore?: readonly string[];
  /**
   * Follow symbolic links to folders and files; default true (loops are detected). False leaves
   * every link out, silently.
   */
  readonly followSymbolicLinks?: boolean;
  /**
   * Which links are followed: `"inside-root"` (default) only those whose target is inside the
   * root; a link leading out is reported (`OUTSIDE_ROOT`) and a folder it leads to never walked.
   * `"follow"` follows every link wherever it leads.
   */
  readonly symlinks?: "inside-root" | "follow";
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

/** Printable ASCII: already in POSIX, NFC form on a POSIX system. */
const PLAIN_ASCII = /^[\x20-\x7e]*$/;

/** A platform relative path with POSIX separators, its characters as they are. */
function posixSpelling(path: string): string {
  return sep === "/" ? path : path.split(sep).join("/");
}

/**
 * Turns a platform relative path into the POSIX, NFC form used as a file's identity. Only the
 * platform's separator is one: on POSIX a backslash is an ordinary name character, so
 * `back\\slash.md` and `back/slash.md` stay two files.
 */
export function toPosixRelativePath(path: string): string {
  if (sep === "/" && PLAIN_ASCII.test(path)) return path;
  return posixSpelling(path).normalize("NFC");
}

/** Default ignore patterns, shared with the config defaults. */
export const DEFAULT_IGNORE: readonly string[] = ["**/node_modules/**", "**/.git/**"];

/**
 * Lists the files under `root` matching the pattern(s), minus ignored ones, sorted by relative
 * POSIX path. When symbolic links are followed, a file reachable through several paths (a link
 * back up the tree, say) is reported once, under its most direct path, and link loops end.
 *
 * Paths that cannot be embedded come in the same list, in order, each with a `problem`: links
 * out of the root (unless `symlinks: "follow"`), a second spelling of a name once
 * Unicode-normalized, and folders that could not be listed.
 */
export async function discoverFiles(options: DiscoverOptions): Promise<DiscoveredFile[]> {
  const listing = await listFiles(options);
  const { root, realRoot, files, problems } = listing;
  if (!listing.followSymbolicLinks) return withProblems(files, problems);
  const reals = await new RealPaths(files).all();
  // No link anywhere: every path is its file's real location, and no two paths share a file.
  if (realRoot === root && files.every((file, i) => reals[i] === file.absolutePath)) {
    return withProblems(files, problems);
  }
  return withProblems(mostDirect(files, reals, realRoot, listing.insideOnly), problems);
}

/** Files and problem entries in one list sorted by relative path. */
function withProblems(
  files: readonly DiscoveredFile[],
  problems: readonly DiscoveredFile[],
): DiscoveredFile[] {
  if (problems.length === 0) return [...files];
  return [...files, ...problems].sort((a, b) => compareCodeUnits(a.relativePath, b.relativePath));
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
  const listing = await listFiles(options);
  const { root, realRoot, files, problems } = listing;
  options.onListed?.(files.length + problems.length);
  if (!listing.followSymbolicLinks) {
    yield* withProblems(files, problems);
    return;
  }
  const reals = new RealPaths(files);
  // Problems known from the listing go out in order, before the first file after them.
  let problem = 0;
  let certain = 0;
  if (realRoot === root) {
    for (; certain < files.length; certain++) {
      const file = files[certain] as DiscoveredFile;
      const real = reals.of(certain);
      if ((typeof real === "string" ? real : await real) !== file.absolutePath) break;
      while (
        problem < problems.length &&
        compareCodeUnits((problems[problem] as DiscoveredFile).relativePath, file.relativePath) < 0
      ) {
        yield problems[problem++] as DiscoveredFile;
      }
      yield file;
    }
  }
  if (certain === files.length) {
    yield* problems.slice(problem);
    return;
  }
  // The files already given are direct and come first: they keep their place.
  const given = new Set(files.slice(0, certain));
  const rest = mostDirect(files, await reals.all(), realRoot, listing.insideOnly).filter(
    (file) => !given.has(file),
  );
  yield* withProblems(rest, problems.slice(problem));
}

/** What {@link listFiles} found. */
interface Listing {
  readonly root: string;
  readonly realRoot: string;
  /** Matching paths sorted by relative path, links not told apart yet. */
  readonly files: DiscoveredFile[];
  /** Entries with a problem known from the listing, sorted by relative path. */
  readonly problems: DiscoveredFile[];
  readonly followSymbolicLinks: boolean;
  /** Links out of the root are not followed. */
  readonly insideOnly: boolean;
}

/** The root checked, then listed: the matching paths, and the problems met on the way. */
async function listFiles(options: DiscoverOptions): Promise<Listing> {
  const root = resolve(options.root);
  const rootStat = await stat(root).catch(() => undefined);
  if (!rootStat) throw new DiscoverError("root-not-found", root);
  if (!rootStat.isDirectory()) throw new DiscoverError("root-not-directory", root);
  const realRoot = await realpath(root);

  const followSymbolicLinks = options.followSymbolicLinks ?? true;
  const insideOnly = followSymbolicLinks && (options.symlinks ?? "inside-root") === "inside-root";
  const crawl = new CrawlWatch(root, realRoot, insideOnly);
  const found = await glob(options.pattern ?? "**/*.md", {
    cwd: root,
    ignore: options.ignore ?? DEFAULT_IGNORE,
    onlyFiles: true,
    absolute: false,
    dot: options.dot ?? false,
    followSymbolicLinks,
    // Without this a pattern naming a folder would match everything beneath it, surprising users.
    expandDirectories: false,
    // The crawler calls only the forms CrawlWatch implements (readdir with file types, realpath
    // with a callback); the adapter's type asks for every overload of Node's functions.
    fs: crawl.fs as unknown as FileSystemAdapter,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const spelled = found
    .map((path) => {
      const spelling = posixSpelling(path.replace(/\/$/, ""));
      return {
        absolutePath: resolveUnder(root, path),
        relativePath: toPosixRelativePath(spelling),
        spelling,
      };
    })
    // Spellings of one identity side by side, the one spelled as its identity (NFC) first.
    .sort(
      (a, b) =>
        compareCodeUnits(a.relativePath, b.relativePath) ||
        Number(a.spelling !== a.relativePath) - Number(b.spelling !== b.relativePath) ||
        compareCodeUnits(a.spelling, b.spelling),
    );
  const files: DiscoveredFile[] = [];
  const problems: DiscoveredFile[] = crawl.problems();
  let winner: (typeof spelled)[number] | undefined;
  for (const entry of spelled) {
    if (winner?.relativePath !== entry.relativePath) {
      winner = entry;
      files.push({ absolutePath: entry.absolutePath, relativePath: entry.relativePath });
      continue;
    }
    problems.push({
      absolutePath: entry.absolutePath,
      relativePath: entry.spelling,
      problem: {
        kind: "skipped",
        code: "PATH_COLLISION",
        message:
          `${JSON.stringify(entry.spelling)} is the same name as ` +
          `${JSON.stringify(winner.spelling)} spelled with other Unicode code points` +
          `${entry.spelling === entry.relativePath.normalize("NFD") ? " (decomposed, NFD)" : ""}; ` +
          "files are stored under the NFC form, which only one of them can have: " +
          `${JSON.stringify(winner.spelling)} is embedded, this one is not`,
      },
    });
  }
  problems.sort((a, b) => compareCodeUnits(a.relativePath, b.relativePath));
  return { root, realRoot, files, problems, followSymbolicLinks, insideOnly };
}

/** Whether a real path is the real root or below it. */
function isInside(real: string, realRoot: string): boolean {
  if (real === realRoot) return true;
  return real.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep);
}

/** `path` without a trailing separator (the crawler adds one to folders), `/` kept. */
function withoutTrailingSep(path: string): string {
  return path.length > 1 && (path.endsWith("/") || path.endsWith(sep)) ? path.slice(0, -1) : path;
}

/**
 * The file system as the crawler sees it: it notes every folder that cannot be listed, and,
 * when links must stay inside the root, every link whose real path is outside. The crawler walks
 * a linked folder by its real path, so a folder outside the root is answered as empty: it is
 * never listed, however large (`/`), and only folders the crawl would enter (not ignored, able
 * to hold a match) are reported.
 */
class CrawlWatch {
  /** Real paths outside the root that links lead to, and those links' paths. */
  private readonly outsideTargets = new Map<string, string[]>();
  /** Links to folders outside the root that the crawl tried to enter, and their targets. */
  private readonly blocked = new Map<string, string>();
  /** Folders that could not be listed, and why. */
  private readonly unreadable = new Map<string, string>();

  constructor(
    private readonly root: string,
    private readonly realRoot: string,
    private readonly insideOnly: boolean,
  ) {}

  readonly fs = {
    readdir: (
      path: string,
      options: { withFileTypes: true },
      callback: (error: NodeJS.ErrnoException | null, entries: Dirent[]) => void,
    ): void => {
      const folder = withoutTrailingSep(path);
      const links = this.outsideTargets.get(folder);
      if (links !== undefined) {
        for (const link of links) this.blocked.set(link, folder);
        callback(null, []);
        return;
      }
      readdirCallback(path, options, (error, entries) => {
        // A folder removed since its parent was listed simply has no files any more.
        if (error && error.code !== "ENOENT") this.unreadable.set(folder, error.code ?? "error");
        callback(error, entries);
      });
    },
    realpath: (
      path: string,
      callback: (error: NodeJS.ErrnoException | null, resolved: string) => void,
    ): void => {
      realpathCallback(path, (error, resolved) => {
        if (!error && this.insideOnly && !isInside(resolved, this.realRoot)) {
          const links = this.outsideTargets.get(resolved) ?? [];
          links.push(withoutTrailingSep(path));
          this.outsideTargets.set(resolved, links);
        }
        callback(error, resolved);
      });
    },
  };

  /** The path of a crawled folder or link relative to the root, in identity form. */
  private relativeOf(path: string): string {
    const base = path === this.root || path.startsWith(this.root + sep) ? this.root : this.realRoot;
    return toPosixRelativePath(relative(base, path)) || ".";
  }

  /** Entries for the links to folders outside the root and the folders that could not be read. */
  problems(): DiscoveredFile[] {
    const entries: DiscoveredFile[] = [];
    for (const [link, target] of this.blocked) {
      entries.push({
        absolutePath: link,
        relativePath: this.relativeOf(link),
        problem: {
          kind: "skipped",
          code: "OUTSIDE_ROOT",
          message: `${this.relativeOf(link)} links to a folder outside the root (${target}); not followed (--follow-symlinks follows it)`,
        },
      });
    }
    for (const [folder, code] of this.unreadable) {
      entries.push({
        absolutePath: folder,
        relativePath: this.relativeOf(folder),
        problem: {
          kind: "failed",
          code: "UNREADABLE_FOLDER",
          message: `cannot list the folder ${this.relativeOf(folder)}: ${code}; its files are left out`,
        },
      });
    }
    return entries;
  }
}

/**
 * One file per real path, sorted by relative path: several paths can reach one real file through
 * links, and the most direct one is kept (the path that is the file's real location under the
 * root, else the shortest, else the first in order). With `insideOnly`, a path whose real file
 * is outside the root is not a file but an `OUTSIDE_ROOT` entry, one per such path.
 */
function mostDirect(
  files: readonly DiscoveredFile[],
  reals: readonly string[],
  realRoot: string,
  insideOnly: boolean,
): DiscoveredFile[] {
  const rootPrefix = realRoot.endsWith(sep) ? realRoot : realRoot + sep;
  const best = new Map<string, { file: DiscoveredFile; direct: boolean }>();
  const outside: DiscoveredFile[] = [];
  files.forEach((file, i) => {
    const real = reals[i] as string;
    if (insideOnly && !isInside(real, realRoot)) {
      outside.push({
        ...file,
        problem: {
          kind: "skipped",
          code: "OUTSIDE_ROOT",
          message: `${file.relativePath} links to a file outside the root (${real}); not followed (--follow-symlinks follows it)`,
        },
      });
      return;
    }
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
  return [...[...best.values()].map((entry) => entry.file), ...outside].sort((a, b) =>
    compareCodeUnits(a.relativePath, b.relativePath),
  );
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
