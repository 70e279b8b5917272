// Some tests run a child process as another user (`nobody`), because root ignores permission
// bits. That child must reach the code it runs: the sources, tsx and the node_modules they load.
// A checkout under a private folder (`mktemp -d` makes it 0700) is out of its reach, so such a
// child runs from a copy of what it needs, made in a folder every user may read.
//
// What is copied: the packages' own sources and manifests whole (small, and code may load them
// by URL, as worker modules are); the files of node_modules that esbuild finds the entries
// import; tsx whole (its loader hooks load its own files by URL, out of sight of an import scan);
// the addons that native packages load by path (`*.node` files, installed platform packages).
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, relative, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type * as Esbuild from "esbuild";
import { type CliResult, type RunSluiceOptions, runSluice, SLUICE_BIN } from "./sluice-process.ts";

/** The repository's root folder. */
const REPO = fileURLToPath(new URL("../../../../", import.meta.url));

/** Packages copied whole, with everything they depend on. */
const WHOLE = ["tsx"];

/** Files that are modules but not code a child runs: tests, test helpers and fixtures. */
const NOT_AN_ENTRY = /\.test(-d)?\.[cm]?[jt]s$|\.d\.[cm]?ts$|[\\/](testing|fixtures)[\\/]/;
const MODULE = /\.[cm]?[jt]s$/;

/** The files to copy, each with the mode its copy gets. */
type Files = Map<string, number>;
const READABLE = 0o644;
const RUNNABLE = 0o755;

/** Options of {@link worldReadableCopy}. */
export interface WorldReadableCopyOptions {
  /**
   * The modules (paths or file URLs in the repository) a child starts from: only what they
   * import from node_modules is copied. Default: every module of every package except tests,
   * so that modules loaded by URL (worker modules) find their imports too.
   */
  readonly entries?: readonly (string | URL)[];
}

/** A world-readable copy of what a child needs from the repository, in the same layout. */
export interface WorldReadableCopy {
  /** The folder that stands for the repository's root. */
  readonly root: string;
  /** The copy of a file of the repository, given by path or file URL. */
  path(original: string | URL): string;
  /** {@link path} as a file URL, for `import` and `--import`. */
  url(original: string | URL): string;
  /**
   * The environment for a child that runs the copy: this process's, with tsx's disk cache off.
   * Its keys hold file paths, so the entries for a copy (deleted after) would only pile up in
   * the user's cache folder.
   */
  readonly env: NodeJS.ProcessEnv;
  /** Deletes the copy; idempotent. */
  remove(): Promise<void>;
}

/**
 * Copies what a child process needs to run `entries` (TypeScript through tsx, native addons
 * included) into a new folder under the temporary folder that every user may read and pass
 * through. Fails, leaving nothing behind, when the temporary folder itself is out of other
 * users' reach.
 */
export async function worldReadableCopy(
  options: WorldReadableCopyOptions = {},
): Promise<WorldReadableCopy> {
  const root = await mkdtemp(join(tmpdir(), "sluice-readable-"));
  try {
    await assertPassable(dirname(root));
    const files: Files = new Map();
    await ownFiles(files);
    const entries =
      options.entries?.map(toPath) ??
      [...files.keys()].filter((f) => MODULE.test(f) && !NOT_AN_ENTRY.test(f));
    // esbuild scans in its own process: list tsx's files meanwhile.
    const [imported] = await Promise.all([
      importedFiles(entries),
      ...WHOLE.map(async (name) => addWholePackage(await findPackage(name, REPO), files)),
    ]);
    for (const file of imported) if (!files.has(file)) files.set(file, READABLE);
    await addManifests(files);
    const packages = new Set([...files.keys()].flatMap((f) => packageRoot(f) ?? []));
    await Promise.all([...packages].map((pkg) => addNativeParts(pkg, files)));
    await copyAll(files, root);
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw error;
  }
  const path = (original: string | URL) => {
    const rel = relative(REPO, toPath(original));
    if (rel.startsWith("..") || isAbsolute(rel)) {
      throw new Error(`${toPath(original)} is not in the repository (${REPO})`);
    }
    return join(root, rel);
  };
  return {
    root,
    path,
    url: (original) => pathToFileURL(path(original)).href,
    env: { ...process.env, TSX_DISABLE_CACHE: "1" },
    remove: () => rm(root, { recursive: true, force: true }),
  };
}

/**
 * Runs the copy's `sluice` command, as `runSluice` runs the repository's (same options, same
 * result): for a child as another user.
 */
export function runSluiceFrom(
  copy: WorldReadableCopy,
  options: RunSluiceOptions,
  ...args: string[]
): Promise<CliResult> {
  return runSluice({ ...options, bin: copy.path(SLUICE_BIN) }, ...args);
}

function toPath(file: string | URL): string {
  return file instanceof URL || file.startsWith("file:") ? fileURLToPath(file) : file;
}

/** A folder others cannot pass through makes every copy below it useless: say so up front. */
async function assertPassable(folder: string): Promise<void> {
  for (let dir = folder; ; dir = dirname(dir)) {
    if (((await stat(dir)).mode & 0o001) === 0) {
      throw new Error(
        `other users cannot pass through ${dir}, so they cannot reach a copy in ${folder}: ` +
          "set TMPDIR to a folder they can",
      );
    }
    if (dirname(dir) === dir) return;
  }
}

/** The packages' sources, bins and manifests, and the root manifests (tsx reads tsconfig). */
async function ownFiles(files: Files): Promise<void> {
  const manifest = (name: string) => name === "package.json" || /^tsconfig.*\.json$/.test(name);
  for (const name of (await readdir(REPO)).filter(manifest)) files.set(join(REPO, name), READABLE);
  for (const name of await readdir(join(REPO, "packages"))) {
    const pkg = join(REPO, "packages", name);
    for (const file of (await readdir(pkg)).filter(manifest)) files.set(join(pkg, file), READABLE);
    for (const folder of ["src", "bin"]) await walk(join(pkg, folder), files);
  }
}

/** Every file under `folder` (following links) with its mode; nothing for a missing folder. */
async function walk(folder: string, files: Files): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  await Promise.all(
    entries.map(async (name) => {
      const file = join(folder, name);
      const info = await stat(file);
      if (info.isDirectory()) await walk(file, files);
      else files.set(file, info.mode & 0o111 ? RUNNABLE : READABLE);
    }),
  );
}

/**
 * The files esbuild's resolver finds `entries` to import, statically or by `import()` of a
 * literal, as Node resolves them (no "module" condition or field), with the repository's
 * tsconfig paths as tsx applies them. Optional dependencies of the packages and the packages
 * copied whole are left out: nothing is bundled, only the list of inputs is kept.
 */
async function importedFiles(entries: readonly string[]): Promise<string[]> {
  const esbuild = createRequire(createRequire(import.meta.url).resolve("tsx"))(
    "esbuild",
  ) as typeof Esbuild;
  const optional: string[] = [];
  for (const name of await readdir(join(REPO, "packages"))) {
    const manifest = await readJson(join(REPO, "packages", name, "package.json"));
    optional.push(...Object.keys(manifest?.optionalDependencies ?? {}));
  }
  // One entry importing them all: one output to write (in memory) rather than one per module.
  const result = await esbuild
    .build({
      absWorkingDir: REPO,
      stdin: {
        contents: entries.map((entry) => `import ${JSON.stringify(entry)};`).join("\n"),
        resolveDir: REPO,
        loader: "js",
      },
      bundle: true,
      write: false,
      metafile: true,
      treeShaking: false,
      format: "esm",
      platform: "node",
      outfile: join(REPO, "world-readable-copy-scan.js"),
      tsconfig: join(REPO, "tsconfig.json"),
      conditions: [],
      mainFields: ["main"],
      external: [...optional, ...WHOLE],
      logLevel: "silent",
    })
    .catch((error: Esbuild.BuildFailure) => {
      const errors = error.errors?.map((e) => `${e.location?.file ?? "?"}: ${e.text}`) ?? [];
      throw new Error(`cannot list what ${entries.length} entries import:\n${errors.join("\n")}`, {
        cause: error,
      });
    });
  // Inputs are paths relative to the repository, and names such as "<stdin>" for the others.
  return Object.keys(result.metafile.inputs)
    .filter((input) => !input.startsWith("<") && !input.includes(":"))
    .map((input) => join(REPO, input));
}

/** Node reads the nearest package.json of every module (its "type"), up to the repository. */
async function addManifests(files: Files): Promise<void> {
  const found = new Map<string, Promise<void>>();
  const lookUp = (dir: string): Promise<void> => {
    let pending = found.get(dir);
    if (!pending) {
      pending = (async () => {
        const manifest = join(dir, "package.json");
        if (!files.has(manifest) && (await exists(manifest))) files.set(manifest, READABLE);
        if (dirname(dir).startsWith(REPO)) await lookUp(dirname(dir));
      })();
      found.set(dir, pending);
    }
    return pending;
  };
  await Promise.all([...files.keys()].map((file) => lookUp(dirname(file))));
}

/** The folder of the installed package a file of node_modules belongs to. */
function packageRoot(file: string): string | undefined {
  const marker = `${sep}node_modules${sep}`;
  const at = file.lastIndexOf(marker);
  if (at < 0) return undefined;
  const parts = file.slice(at + marker.length).split(sep);
  const length = parts[0]?.startsWith("@") ? 2 : 1;
  return join(file.slice(0, at), "node_modules", ...parts.slice(0, length));
}

/**
 * What a native package loads by path, which an import scan cannot see: its compiled addons
 * (`*.node`, found by `bindings` or `node-gyp-build`) and its installed optional dependencies
 * (platform packages, such as sqlite-vec's, found by `import.meta.resolve`).
 */
async function addNativeParts(pkg: string, files: Files): Promise<void> {
  if ((await exists(join(pkg, "binding.gyp"))) || (await exists(join(pkg, "prebuilds")))) {
    const all: Files = new Map();
    await walk(pkg, all);
    for (const [file, mode] of all) if (file.endsWith(".node")) files.set(file, mode);
  }
  const manifest = await readJson(join(pkg, "package.json"));
  for (const name of Object.keys(manifest?.optionalDependencies ?? {})) {
    const found = await findPackage(name, pkg).catch(() => undefined);
    if (found) await addWholePackage(found, files);
  }
}

/** Every file of a package and of the packages it depends on (optional ones if installed). */
async function addWholePackage(pkg: string, files: Files, seen = new Set<string>()) {
  if (seen.has(pkg)) return;
  seen.add(pkg);
  await walk(pkg, files);
  const manifest = await readJson(join(pkg, "package.json"));
  const names = Object.keys({ ...manifest?.dependencies, ...manifest?.optionalDependencies });
  for (const name of names) {
    const found = await findPackage(name, pkg).catch(() => undefined);
    if (found) await addWholePackage(found, files, seen);
  }
}

/** The installed package `name` as Node finds it from `from`: the nearest node_modules up. */
async function findPackage(name: string, from: string): Promise<string> {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", name);
    if (await exists(join(candidate, "package.json"))) return candidate;
    if (dirname(dir) === dir) throw new Error(`package ${name} is not installed (from ${from})`);
  }
}

/**
 * Copies each file to the same place under `root`. Modes are set, not copied: a checkout made
 * under a restrictive umask has files only their owner may read.
 */
async function copyAll(files: Files, root: string): Promise<void> {
  const folders = new Set<string>([root]);
  for (const file of files.keys()) {
    const rel = relative(REPO, file);
    if (rel.startsWith("..") || isAbsolute(rel)) {
      throw new Error(`${file}, needed by the copy, is outside the repository (${REPO})`);
    }
    for (let dir = dirname(join(root, rel)); !folders.has(dir); dir = dirname(dir)) {
      folders.add(dir);
    }
  }
  for (const folder of [...folders].sort()) {
    await mkdir(folder, { recursive: true });
    await chmod(folder, 0o755);
  }
  const queue = [...files];
  const copyNext = async (): Promise<void> => {
    for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
      const [file, mode] = next;
      const target = join(root, relative(REPO, file));
      try {
        await copyFile(file, target);
        await chmod(target, mode);
      } catch (error) {
        // The others stop too: nothing may still be writing when the caller deletes the copy.
        queue.length = 0;
        throw error;
      }
    }
  };
  // A few copies at a time: enough to overlap the waits, few enough to stay far from fd limits.
  const copies = await Promise.allSettled(Array.from({ length: 16 }, copyNext));
  for (const copy of copies) if (copy.status === "rejected") throw copy.reason;
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

interface Manifest {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

async function readJson(file: string): Promise<Manifest | undefined> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as Manifest;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}
