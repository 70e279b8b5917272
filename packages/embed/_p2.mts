import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { prepareFile } from "./src/workflows/prepare-file.ts";
import { parseEmbedConfig } from "./src/config.ts";
const root = process.argv[2];
const files: string[] = [];
(function walk(d: string) { for (const e of readdirSync(d)) { const p = join(d, e); if (statSync(p).isDirectory()) walk(p); else if (p.endsWith(".md")) files.push(p); } })(root);
const config = parseEmbedConfig({ root });
const settings = { collection: "c", fingerprint: "f", maxFileBytes: config.maxFileBytes, frontmatter: true, removeSections: [], split: config.split };
for (let round = 0; round < 2; round++) {
  const c0 = process.cpuUsage(); const t0 = performance.now(); let chunks = 0;
  for (const f of files) { const o = await prepareFile({ absolutePath: f, relativePath: f.slice(root.length + 1), storedHash: undefined, settings }); if (o.type === "chunks") chunks += o.items.length; }
  const c = process.cpuUsage(c0);
  console.log(`round ${round}: ${chunks} chunks, wall ${Math.round(performance.now() - t0)} ms, cpu ${Math.round((c.user + c.system) / 1000)} ms, ${((c.user + c.system) / chunks).toFixed(0)} µs/chunk`);
}
