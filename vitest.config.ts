import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^sluice$/, replacement: src("./packages/sluice/src/index.ts") },
      { find: /^sluice\/(.*)$/, replacement: src("./packages/sluice/src/entry-$1.ts") },
    ],
  },
  test: {
    include: [
      "packages/*/src/**/*.test.ts",
      "packages/*/test/**/*.test.ts",
      "bench/**/*.test.ts",
      "examples/**/*.test.ts",
      "test/**/*.test.ts",
    ],
    exclude: ["**/node_modules/**", "**/dist/**"],
    setupFiles: [src("./test/setup/unhandled-rejections.ts")],
    testTimeout: 20_000,
    // A file per core: most of the slow files spawn the CLI or servers and wait on them, so
    // the default (one core left idle) ran the suite one file at a time on a 2-core machine
    // (9 min; 6.4 min with both).
    maxWorkers: Math.max(2, availableParallelism()),
    typecheck: {
      enabled: true,
      include: ["packages/*/src/**/*.test-d.ts", "test/**/*.test-d.ts"],
      tsconfig: "./tsconfig.json",
    },
  },
});
