/**
 * Test files (relative to the repository root) that do not run on a runtime, each with its
 * reason; test/runtimes/vitest.config.ts excludes them and run.ts prints them.
 *
 * Empty today: every test file of packages/sluice/src passes on Bun 1.4.4 and Deno 2.9.6 when
 * Vitest itself runs there, including the Node-only subpaths (`node/index.test.ts` uses
 * node:stream, `otel/index.test.ts` OpenTelemetry's AsyncLocalStorage context manager) and the
 * fake-timer files (Vitest's fake timers patch the runtime's own globals). Add an entry here,
 * with its reason, rather than deleting or skipping a test.
 */
export const EXCLUDED: Record<string, { file: string; reason: string }[]> = {
  bun: [],
  deno: [],
};
