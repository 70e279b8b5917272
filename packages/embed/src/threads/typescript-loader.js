// Preloaded by a worker thread that loads TypeScript (see worker-module.ts). A worker is a fresh
// Node instance that knows nothing of the TypeScript loader its parent may run under (tsx for the CLI,
// Vitest's own for tests), so it registers tsx the way bin/sluice.js does, before the pool loads
// the TypeScript task module.
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";

register({ tsconfig: fileURLToPath(new URL("../../../../tsconfig.json", import.meta.url)) });
