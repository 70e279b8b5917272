/**
 * @sluice/embed: the building blocks of the embed-documents workflow (markdown folder →
 * searchable vectors), each a plain typed function or object, ready to become a pipeline step.
 * @packageDocumentation
 */

export { capHeapGrowth, capYoungGeneration } from "./cli/heap-growth.ts";
export { type CliIo, EXIT, runCli } from "./cli/main.ts";
export {
  createProgressView,
  type ProgressPoller,
  type ProgressView,
  type ProgressViewKind,
  pollProgress,
} from "./cli/progress-view.ts";
export { terminalText } from "./cli/terminal-text.ts";
export {
  ConfigError,
  type ConfigIssue,
  configFingerprint,
  type EmbedConfig,
  type EmbedConfigInput,
  embedConfigSchema,
  embedderSettings,
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
  type CachedModel,
  DEFAULT_MODEL_HOST,
  type DownloadHubModelOptions,
  defaultModelCacheDir,
  downloadHubModel,
  findCachedModel,
  ModelDownloadError,
  type ModelDownloadProgress,
  modelCachePath,
} from "./embedders/model-hub.ts";
export {
  createOpenAIEmbedder,
  decodeEmbeddings,
  EmbedderConfigError,
  EmbeddingRequestError,
  EmbeddingTimeoutError,
  EndpointUnreachableError,
  type OpenAIEmbedderOptions,
} from "./embedders/openai.ts";
export {
  createTransformersEmbedder,
  type TransformersEmbedderOptions,
} from "./embedders/transformers.ts";
export { prepareTransformersModel } from "./embedders/transformers-model.ts";
export {
  type JsonObject,
  JsonTooLargeError,
  type JsonTooLargeReason,
  type JsonValue,
  toJsonValue,
} from "./json-value.ts";
export { isSecretName, redactUrl } from "./redact.ts";
export { type BatchOptions, batchItems } from "./steps/batch.ts";
export {
  type ChunkIdInput,
  ChunkPathError,
  chunkId,
  normalizeRelativePath,
} from "./steps/chunk-id.ts";
export { chunkMetadata, MAX_HEADING_CHARS } from "./steps/chunk-metadata.ts";
export {
  type CleanBlock,
  type CleanBlockKind,
  type CleanOptions,
  type CleanResult,
  cleanMarkdown,
  normalizeHeading,
} from "./steps/clean.ts";
export { compareCodeUnits } from "./steps/code-unit-order.ts";
export {
  DEFAULT_IGNORE,
  DiscoverError,
  type DiscoverErrorCode,
  type DiscoveredFile,
  type DiscoverOptions,
  type DiscoveryProblem,
  type DiscoveryProblemCode,
  discoverFiles,
  discoverFilesIncrementally,
  type IncrementalDiscoverOptions,
  relativeFilePath,
  toPosixRelativePath,
} from "./steps/discover.ts";
export {
  type FrontmatterOptions,
  type FrontmatterResult,
  FrontmatterTooLargeError,
  type FrontmatterWarning,
  MAX_FRONTMATTER_BYTES,
  MAX_STORED_METADATA_BYTES,
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
export { sha256Hex } from "./steps/sha256.ts";
export {
  type Sizer,
  type SizeUnit,
  type SplitOptions,
  SplitOptionsError,
  sizerFor,
  splitBlocks,
  type TextChunk,
} from "./steps/split.ts";
export { countCl100kTokens } from "./steps/token-count.ts";
export { BM25_B, BM25_K1, type Bm25Score, Bm25Scorer } from "./stores/bm25.ts";
export {
  bm25Idf,
  type Candidate,
  type CandidateSource,
  coverageOf,
  fuse,
  fusionWindow,
  LEXICAL_WEIGHT,
  type LexicalCandidates,
  lexicalTerms,
  lexicalTokens,
  MAX_QUERY_TERMS,
  RRF_K,
  searchStore,
  validateSearchQuery,
} from "./stores/hybrid-search.ts";
export { type JsonlStoreOptions, openJsonlStore, readJsonlIdentity } from "./stores/jsonl.ts";
export { openVectorStore, readStoreIdentity, type StoreLocation } from "./stores/open.ts";
export {
  createPgliteDatabase,
  openPgliteStore,
  type PgliteStoreOptions,
  pgliteExecutor,
  readPgliteIdentity,
} from "./stores/pglite.ts";
export {
  acquirePostgresWriterLock,
  openPostgresStore,
  type PostgresStoreOptions,
  type PostgresWriterLock,
  pgPoolExecutor,
  readPostgresIdentity,
  writerLockKey,
} from "./stores/postgres.ts";
export {
  openSqlVectorStore,
  readSqlIdentity,
  SQL_SCHEMA_VERSION,
  type SqlExecutor,
  type SqlOpenOptions,
  type SqlQuery,
  type SqlStoreOptions,
  SqlVectorStore,
  schemaStatements,
  tableNames,
  type WriterInfo,
} from "./stores/sql.ts";
export { openSqliteStore, readSqliteIdentity, type SqliteStoreOptions } from "./stores/sqlite.ts";
export { embedderFlags, identityMismatch } from "./stores/store-identity.ts";
export {
  acquireStoreLock,
  type LockOwner,
  type StoreLock,
  type StoreLockOptions,
} from "./stores/store-lock.ts";
export { fileVersionHash, planSync, type SyncPlan } from "./stores/sync-plan.ts";
export {
  type ChunkRecord,
  type Collection,
  type CollectionInfo,
  lastById,
  SCAN_PAGE_FILES,
  type ScanOptions,
  type SearchHit,
  type SearchMode,
  type SearchQuery,
  type SignalMatch,
  type StoreAccess,
  type StoredChunk,
  type StoreIdentity,
  type StoreStats,
  type VectorStore,
  VectorStoreError,
  type VectorStoreErrorCode,
  validateRecords,
} from "./stores/vector-store.ts";
export {
  type ChatFault,
  type ChatServer,
  type ChatServerOptions,
  type RecordedChatRequest,
  startChatServer,
} from "./testing/chat-server.ts";
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
export {
  type AskAnswer,
  type AskContext,
  type AskEvent,
  type AskOptions,
  type AskSteps,
  ask,
  askBatchPipeline,
  askFailure,
  askPipeline,
  askSteps,
  askStreaming,
  collectAnswer,
  EmptyStoreError,
  type PromptedQuestion,
  type Retrieval,
} from "./workflows/ask.ts";
export {
  type ChatDelta,
  ChatError,
  type ChatErrorCode,
  type ChatMessage,
  type ChatOptions,
  type ChatUsage,
  DEFAULT_CHAT_RETRY,
  streamChatCompletion,
} from "./workflows/ask-chat.ts";
export {
  type AskSource,
  buildPrompt,
  citedNumbers,
  SYSTEM_PROMPT,
  sourcesOf,
} from "./workflows/ask-prompt.ts";
export { rerankHits, rerankWindow } from "./workflows/ask-rerank.ts";
export { parseServerSentEvents, type ServerSentEvent } from "./workflows/ask-sse.ts";
export { embedBatchPipeline, embedDocuments } from "./workflows/embed-documents.ts";
export { embedDocumentsStreaming, embedPipeline } from "./workflows/embed-documents-streaming.ts";
export {
  type PrepareOutcome,
  type PrepareProblem,
  type PrepareRequest,
  type PrepareSettings,
  prepareFile,
} from "./workflows/prepare-file.ts";
export { defaultThreads, type PreparePool, preparePoolFor } from "./workflows/prepare-pool.ts";
export type { ProgressProbe, ProgressSnapshot, StageProgress } from "./workflows/progress.ts";
export {
  type ReembedOptions,
  type ReembedSummary,
  reembedStore,
  targetFileHash,
} from "./workflows/reembed.ts";
export {
  type ErrorEntry,
  type ErrorKind,
  type FailureSubject,
  StageFailure,
} from "./workflows/report.ts";
export {
  collectionOf,
  EmbedSession,
  type EmbedSummary,
  type EmbedWorkflowOptions,
  errorReport,
} from "./workflows/session.ts";
export { NoFilesError } from "./workflows/started-discovery.ts";
export {
  batchAll,
  batchOptions,
  type ChunkItem,
  discover,
  discoverIncrementally,
  embedBatch,
  prepare,
  storeBatch,
  type WorkflowSteps,
  type WorkflowStepsOptions,
  workflowSteps,
} from "./workflows/steps.ts";
