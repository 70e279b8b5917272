export * from "./otel/index.js";
