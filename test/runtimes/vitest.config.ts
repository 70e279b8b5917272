// The sluice package's behavioural suite, run by Vitest itself under Bun or Deno (see run.ts):
// `bun --bun vitest.mjs run --config test/runtimes/vitest.config.ts`, or
// `deno run -A vitest.mjs run --config test/runtimes/vitest.config.ts`. Vitest's fork workers are
// started with the runtime's own executable, so every test file runs on Bun or Deno (the
// `runtime.test.ts` guard checks this), with the same expect, fake timers and setup file as on
// Node. Type tests (`*.test-d.ts`) are not run here: they are compiler checks, not runtime ones.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import root from "../../vitest.config.ts";
import { EXCLUDED } from "./excluded.ts";

/** Which runtime this run is for: set by run.ts; "node" when the file runs under plain Vitest. */
const RUNTIME = process.env.SLUICE_RUNTIME || "node";

const repo = fileURLToPath(new URL("../..", import.meta.url));

export default defineConfig({
  root: repo,
  resolve: root.resolve,
  test: {
    include: ["packages/sluice/src/**/*.test.ts", "test/runtimes/runtime.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**", ...(EXCLUDED[RUNTIME] ?? []).map((e) => e.file)],
    setupFiles: root.test?.setupFiles,
    testTimeout: root.test?.testTimeout,
    typecheck: { enabled: false },
  },
});
