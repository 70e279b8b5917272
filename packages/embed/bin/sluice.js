#!/usr/bin/env node
// The `sluice` command: runs the TypeScript CLI through tsx, with the monorepo's tsconfig so
// that "sluice" resolves to the library's sources (no build needed).
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { register } from "tsx/esm/api";

// An embed run makes hundreds of MB a second of short-lived strings. A 4 MB young generation
// (V8's default grows to 16 MB per semi-space) collects them sooner: peak RSS of a 5,000-file
// run 242 -> 218 MB, no slower (docs/performance.md). Set here, it reaches the isolates made
// later (the worker threads), not this thread's, which V8 sized at start-up (the CLI's `main`
// stops this thread's growth instead: capYoungGeneration); node's own command line or
// NODE_OPTIONS reaches both, and then it is left as given.
const semiSpaceFlag = /^--max[-_]semi[-_]space[-_]size/;
const nodeOptions = (process.env.NODE_OPTIONS ?? "").split(/\s+/);
if (![...process.execArgv, ...nodeOptions].some((arg) => semiSpaceFlag.test(arg))) {
  setFlagsFromString("--max-semi-space-size=4");
}

register({ tsconfig: fileURLToPath(new URL("../../../tsconfig.json", import.meta.url)) });
const { main } = await import("../src/cli/main.ts");
await main();
