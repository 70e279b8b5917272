import { defineConfig } from "tsdown";

export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm"],
  dts: true,
  clean: true,
  fixedExtension: false,
  platform: "neutral",
  target: "es2022",
  tsconfig: "tsconfig.build.json",
});
