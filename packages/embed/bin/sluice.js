#!/usr/bin/env node
// The `sluice` command: runs the TypeScript CLI through tsx, with the monorepo's tsconfig so
// that "sluice" resolves to the library's sources (no build needed).
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";

register({ tsconfig: fileURLToPath(new URL("../../../tsconfig.json", import.meta.url)) });
const { main } = await import("../src/cli/main.ts");
await main();
