import { describe, expect, it } from "vitest";
import * as embed from "./index.ts";

describe("@sluice/embed public surface", () => {
  it("exports every stage", () => {
    for (const name of [
      "parseEmbedConfig",
      "discoverFiles",
      "readTextFile",
      "parseFrontmatter",
      "cleanMarkdown",
      "splitBlocks",
      "chunkId",
      "prepareChunks",
      "batchItems",
      "createHashEmbedder",
      "createOpenAIEmbedder",
      "createEmbedder",
      "openPgliteStore",
      "openPostgresStore",
      "openJsonlStore",
      "openVectorStore",
      "planSync",
      "generateCorpus",
      "startEmbeddingServer",
      "embedDocuments",
      "embedDocumentsStreaming",
      "workflowSteps",
      "runCli",
      "collectionOf",
      "NoFilesError",
      "embedderSettings",
      "terminalText",
      "searchStore",
      "lexicalTokens",
      "acquireStoreLock",
      "embedderFlags",
      "openSqliteStore",
      "readStoreIdentity",
      "downloadHubModel",
      "findCachedModel",
      "modelCachePath",
      "ModelDownloadError",
      "prepareTransformersModel",
    ]) {
      expect(typeof (embed as Record<string, unknown>)[name], name).toBe("function");
    }
  });
});
