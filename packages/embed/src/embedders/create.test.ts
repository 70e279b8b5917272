import { describe, expect, it } from "vitest";
import { parseEmbedConfig } from "../config.ts";
import { createEmbedder } from "./create.ts";

describe("createEmbedder", () => {
  it("builds the configured embedder", () => {
    expect(createEmbedder(parseEmbedConfig({}).embedder).id).toBe("hash-v1:384");
    const openai = createEmbedder(
      parseEmbedConfig({
        embedder: {
          kind: "openai",
          model: "m",
          dimensions: 8,
          apiKey: "k",
          endOfTextToken: "<eot>",
        },
      }).embedder,
    );
    expect(openai).toMatchObject({ id: "openai:m:8:eot", dimensions: 8 });
  });
});
