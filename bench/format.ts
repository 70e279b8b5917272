/**
 * Formats a generated file with the repository's Biome, so generated reports
 * (BENCHMARKS.md) pass `npm run lint`.
 */
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";

/** Runs `biome format --write` on `path`; returns an error message instead of throwing. */
export function formatWithBiome(path: string): string | undefined {
  try {
    const biome = createRequire(import.meta.url).resolve("@biomejs/biome/bin/biome");
    execFileSync(process.execPath, [biome, "format", "--write", path], { stdio: "pipe" });
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message.split("\n")[0] : String(error);
  }
}
