// The generated markdown corpus every embed benchmark runs on, kept on disk between runs.
import { existsSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** The corpus of every embed benchmark: the same files byte for byte on every run. */
export const CORPUS_SEED = 7;
/** Written beside a generated corpus, so that a run reuses only a matching one. */
const CORPUS_MARKER = ".sluice-bench-corpus.json";

/** Reuses `dir` when it holds this corpus, else (re)generates it there. */
export async function ensureCorpus(
  dir: string,
  files: number,
  log: (line: string) => void,
): Promise<void> {
  const marker = join(dir, CORPUS_MARKER);
  const wanted = JSON.stringify({ files, seed: CORPUS_SEED });
  if (existsSync(marker) && (await readFile(marker, "utf8")) === wanted) {
    log(`corpus: reusing ${dir}`);
    return;
  }
  // Not the package's index: the corpus generator alone, whatever state the rest is in.
  const { generateCorpus } = await import("../../packages/embed/src/corpus/generate.ts");
  await rm(dir, { recursive: true, force: true });
  const started = performance.now();
  log(`corpus: generating ${files} files in ${dir} …`);
  await generateCorpus(dir, { files, seed: CORPUS_SEED });
  // Outside the default `**/*.md` pattern: no tool embeds it.
  await writeFile(marker, wanted);
  log(`corpus: generated in ${Math.round(performance.now() - started)} ms`);
}
