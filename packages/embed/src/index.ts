/**
 * @sluice/embed: the building blocks of the embed-documents workflow (markdown folder →
 * searchable vectors), each a plain typed function or object, ready to become a pipeline step.
 * @packageDocumentation
 */

export { capHeapGrowth } from "./cli/heap-growth.ts";
export { type CliIo, EXIT, runCli } from "./cli/main.ts";
export {
  createProgressView,
  type ProgressPoller,
  type ProgressView,
  type ProgressViewKind,
  pollProgress,
} from "./cli/progress-view.ts";
export {
  ConfigError,
  type ConfigIssue,
  configFingerprint,
  type EmbedConfig,
  type EmbedConfigInput,
  embedConfigSchema,
  type ParseConfigOptions,
  parseEmbedConfig,
  type StoreKind,
  storeKindOf,
} from "./config.ts";
export {
  type CorpusDocument,
  type CorpusOptions,
  type CorpusSummary,
  corpusDocument,
  corpusDocuments,
  generateCorpus,
} from "./corpus/generate.ts";
export { createEmbedder } from "./embedders/create.ts";
export { assertVectors, type Embedder, EmbedderResponseError } from "./embedders/embedder.ts";
export {
  createHashEmbedder,
  type HashEmbedderOptions,
  hashEmbedding,
  hashTokens,
} from "./embedders/hash.ts";
export {
  createOpenAIEmbedder,
  decodeEmbeddings,
  EmbedderConfigError,
  EmbeddingRequestError,
  type OpenAIEmbedderOptions,
} from "./embedders/openai.ts";
export {
  createTransformersEmbedder,
  type TransformersEmbedderOptions,
} from "./embedders/transformers.ts";
export { type JsonObject, type JsonValue, toJsonValue } from "./json-value.ts";
export { type BatchOptions, batchItems } from "./steps/batch.ts";
export {
  type ChunkIdInput,
  ChunkPathError,
  chunkId,
  normalizeRelativePath,
  sha256Hex,
} from "./steps/chunk-id.ts";
export {
  type CleanBlock,
  type CleanBlockKind,
  type CleanOptions,
  type CleanResult,
  cleanMarkdown,
  normalizeHeading,
} from "./steps/clean.ts";
export {
  compareCodeUnits,
  DEFAULT_IGNORE,
  DiscoverError,
  type DiscoverErrorCode,
  type DiscoveredFile,
  type DiscoverOptions,
  discoverFiles,
  discoverFilesIncrementally,
  type IncrementalDiscoverOptions,
  relativeFilePath,
  toPosixRelativePath,
} from "./steps/discover.ts";
export {
  type FrontmatterOptions,
  type FrontmatterResult,
  type FrontmatterWarning,
  normalizeTags,
  parseFrontmatter,
} from "./steps/frontmatter.ts";
export {
  type ChunkDraft,
  type PreparedFile,
  type PrepareOptions,
  prepareChunks,
} from "./steps/prepare.ts";
export {
  type ReadOptions,
  type ReadResult,
  type ReadSkipReason,
  readTextFile,
} from "./steps/read.ts";
export {
  countCl100kTokens,
  type Sizer,
  type SizeUnit,
  type SplitOptions,
  SplitOptionsError,
  sizerFor,
  splitBlocks,
  type TextChunk,
} from "./steps/split.ts";
export { type JsonlStoreOptions, openJsonlStore } from "./stores/jsonl.ts";
export { openVectorStore, type StoreLocation } from "./stores/open.ts";
export {
  createPgliteDatabase,
  openPgliteStore,
  type PgliteStoreOptions,
  pgliteExecutor,
} from "./stores/pglite.ts";
export {
  openPostgresStore,
  type PostgresStoreOptions,
  pgPoolExecutor,
  redactUrl,
} from "./stores/postgres.ts";
export {
  openSqlVectorStore,
  type SqlExecutor,
  type SqlQuery,
  type SqlStoreOptions,
  SqlVectorStore,
  schemaStatements,
  tableNames,
} from "./stores/sql.ts";
export { fileVersionHash, planSync, type SyncPlan } from "./stores/sync-plan.ts";
export {
  type ChunkRecord,
  lastById,
  type SearchHit,
  type StoreIdentity,
  type StoreStats,
  type VectorStore,
  VectorStoreError,
  type VectorStoreErrorCode,
  validateQuery,
  validateRecords,
} from "./stores/vector-store.ts";
export {
  type EmbeddingFault,
  type EmbeddingServer,
  type EmbeddingServerLoad,
  type EmbeddingServerOptions,
  type RecordedRequest,
  startEmbeddingServer,
} from "./testing/embedding-server.ts";
export {
  type EmbeddingServerProcess,
  type EmbeddingServerProcessLoad,
  type EmbeddingServerProcessOptions,
  startEmbeddingServerProcess,
} from "./testing/embedding-server-process.ts";
export { embedBatchPipeline, embedDocuments } from "./workflows/embed-documents.ts";
export { embedDocumentsStreaming, embedPipeline } from "./workflows/embed-documents-streaming.ts";
export type { ProgressProbe, ProgressSnapshot, StageProgress } from "./workflows/progress.ts";
export {
  type ErrorEntry,
  type ErrorKind,
  type FailureSubject,
  StageFailure,
} from "./workflows/report.ts";
export {
  EmbedSession,
  type EmbedSummary,
  type EmbedWorkflowOptions,
  errorReport,
} from "./workflows/session.ts";
export {
  batchAll,
  batchOptions,
  type ChunkItem,
  type CleanedFile,
  cleanOf,
  discover,
  discoverIncrementally,
  embedBatch,
  type FrontmatterFile,
  frontmatterOf,
  isChanged,
  type ReadFile,
  readFile,
  splitOf,
  storeBatch,
  type WorkflowSteps,
  type WorkflowStepsOptions,
  workflowSteps,
} from "./workflows/steps.ts";
