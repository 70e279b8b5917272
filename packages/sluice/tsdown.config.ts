import { defineConfig } from "tsdown";

export default defineConfig({
  entry: ["src/index.ts", "src/entry-node.ts", "src/entry-otel.ts"],
  format: ["esm"],
  dts: true,
  clean: true,
  fixedExtension: false,
  platform: "neutral",
  external: [/^node:/, /^@opentelemetry\//],
  target: "es2022",
  tsconfig: "tsconfig.build.json",
});
