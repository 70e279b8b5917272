import { toSql } from "pgvector";
import type { StoreKind } from "../config.ts";
import type { JsonObject } from "../json-value.ts";
import { compareCodeUnits } from "../steps/code-unit-order.ts";
import {
  bm25Idf,
  type Candidate,
  type CandidateSource,
  type LexicalCandidates,
  lexicalTokens,
  searchStore,
} from "./hybrid-search.ts";
import { identityMismatch } from "./store-identity.ts";
import {
  type ChunkRecord,
  type ChunkRow,
  type Collection,
  type CollectionInfo,
  hitOfRow,
  lastById,
  type ScanOptions,
  type SearchHit,
  type SearchQuery,
  type StoreAccess,
  type StoredChunk,
  type StoreIdentity,
  type StoreStats,
  scanPageFiles,
  type VectorStore,
  VectorStoreError,
  validateRecords,
} from "./vector-store.ts";

/** Runs one parameterized statement and returns its rows. */
export type SqlQuery = <Row>(sql: string, params?: readonly unknown[]) => Promise<Row[]>;

/** The little a Postgres connection must offer for {@link SqlVectorStore}: PGlite and pg both do. */
export interface SqlExecutor {
  readonly query: SqlQuery;
  /** Runs `fn` in one transaction: all of it commits, or none. */
  transaction<T>(fn: (query: SqlQuery) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Options shared by the SQL stores. */
export interface SqlStoreOptions {
  /** Prefix of the three table names; lets stores share one database. Default `"sluice_"`. */
  readonly tablePrefix?: string;
  /**
   * How vector search runs. `"none"` (default): exact, a sequential scan computing every chunk's
   * cosine similarity, so results equal brute force; fine up to a few hundred thousand chunks.
   * `"hnsw"`: a pgvector HNSW index (built by the writer), much faster on large stores but
   * approximate: recall is below 1, so a close chunk may be missed, and a search restricted to
   * one collection may return fewer hits than asked. Its `ef_search` is widened to the number
   * of candidates asked for (up to 1000).
   */
  readonly index?: "hnsw" | "none";
}

/** Who holds a store's writer lock, as recorded in its meta table. */
export interface WriterInfo {
  readonly pid: number;
  readonly hostname: string;
  /** ISO time the writer opened the store. */
  readonly startedAt: string;
}

/** Options of {@link openSqlVectorStore}. */
export interface SqlOpenOptions extends SqlStoreOptions {
  /** To write (creates the tables, checks the embedder) or to read (creates nothing). */
  readonly access: StoreAccess;
  /** How messages name the store: a folder, or a URL without its password. */
  readonly location: string;
  /** How to get rid of the store, for the old-schema message, e.g. `delete <folder>`. */
  readonly removal?: string;
  /** Recorded in the meta table while a writer has the store open (Postgres' lock message). */
  readonly writer?: WriterInfo;
  /** Whether `close()` closes the executor too; default true. */
  readonly ownsExecutor?: boolean;
  /** Runs last in `close()`, e.g. to release a lock. */
  readonly onClose?: () => Promise<void>;
}

/** The schema this code writes: 2 added collections, lexical search and the embedder settings. */
export const SQL_SCHEMA_VERSION = "2";
/** Rows per INSERT: 10 parameters each stays far below Postgres' 65535-parameter limit. */
const ROWS_PER_STATEMENT = 500;
const PREFIX = /^[a-z_][a-z0-9_]{0,40}$/;

/** Table names for a prefix, checked to be safe to splice into SQL. */
export function tableNames(prefix = "sluice_"): { meta: string; files: string; chunks: string } {
  if (!PREFIX.test(prefix)) {
    throw new VectorStoreError(
      "invalid-argument",
      `table prefix ${JSON.stringify(prefix)} must match ${PREFIX} (lowercase letters, digits, _)`,
    );
  }
  return { meta: `${prefix}meta`, files: `${prefix}files`, chunks: `${prefix}chunks` };
}

/**
 * The statements that create the store's tables, for one vector dimension. Chunk ids are unique
 * over the store (they include the collection); files are keyed by (collection, path). The
 * `lexemes` column is a `tsvector` ('simple' configuration, GIN-indexed) built from the text as
 * `lexicalTokens` splits it, so accents and case fold exactly as the query terms do.
 */
export function schemaStatements(
  prefix: string,
  dimensions: number,
  index: "hnsw" | "none",
): string[] {
  const t = tableNames(prefix);
  checkDimensions(dimensions);
  const statements = [
    "CREATE EXTENSION IF NOT EXISTS vector",
    `CREATE TABLE IF NOT EXISTS ${t.meta} (key text PRIMARY KEY, value text NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS ${t.files} (
      collection text NOT NULL,
      path text NOT NULL,
      file_hash text NOT NULL,
      chunk_count integer NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (collection, path)
    )`,
    `CREATE TABLE IF NOT EXISTS ${t.chunks} (
      id text PRIMARY KEY,
      collection text NOT NULL,
      path text NOT NULL,
      ordinal integer NOT NULL,
      text text NOT NULL,
      start_line integer NOT NULL,
      end_line integer NOT NULL,
      metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
      embedding vector(${dimensions}) NOT NULL,
      lexemes tsvector NOT NULL
    )`,
    `CREATE INDEX IF NOT EXISTS ${t.chunks}_file_idx ON ${t.chunks} (collection, path)`,
    `CREATE INDEX IF NOT EXISTS ${t.chunks}_lexemes_idx ON ${t.chunks} USING gin (lexemes)`,
  ];
  if (index === "hnsw") statements.push(hnswStatement(prefix));
  return statements;
}

function hnswStatement(prefix: string): string {
  const t = tableNames(prefix);
  return `CREATE INDEX IF NOT EXISTS ${t.chunks}_embedding_idx ON ${t.chunks} USING hnsw (embedding vector_cosine_ops)`;
}

function checkDimensions(dimensions: number): void {
  if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > 16_000) {
    throw new VectorStoreError(
      "invalid-argument",
      `dimensions must be 1..16000, got ${dimensions}`,
    );
  }
}

/** A `to_tsquery` text matching any of `terms`, each quoted as one lexeme. */
export function tsqueryOf(terms: readonly string[]): string {
  return terms.map((term) => `'${term.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`).join(" | ");
}

interface HitRow extends ChunkRow {
  score: number | string | null;
}

const HIT_COLUMNS = "id, collection, path, ordinal, text, start_line, end_line, metadata";

function candidateOf(row: HitRow): Candidate {
  return { hit: hitOfRow(row), score: Number(row.score) };
}

/**
 * The identity recorded by the store with table prefix `prefix` in a database, or undefined when
 * it has no such store (no meta table). Creates nothing. A store of schema 1 fails with
 * `old-schema`, naming `location` and how to move.
 */
export async function readSqlIdentity(
  query: SqlQuery,
  prefix: string,
  location: string,
  removal = `delete ${location}`,
): Promise<StoreIdentity | undefined> {
  const t = tableNames(prefix);
  const [exists] = await query<{ found: string | null }>("SELECT to_regclass($1)::text AS found", [
    t.meta,
  ]);
  if (exists?.found == null) return undefined;
  const rows = await query<{ key: string; value: string }>(`SELECT key, value FROM ${t.meta}`);
  return identityFromMeta(new Map(rows.map((r) => [r.key, r.value])), location, removal);
}

function identityFromMeta(
  meta: Map<string, string>,
  location: string,
  removal: string,
): StoreIdentity {
  const version = meta.get("schema_version");
  if (version === "1") {
    throw new VectorStoreError(
      "old-schema",
      `${location} was written by an earlier sluice (store schema 1); re-embed into a new store: sluice embed <dir> --store <new location> (then ${removal})`,
    );
  }
  if (version !== SQL_SCHEMA_VERSION) {
    throw new VectorStoreError(
      "corrupt",
      `${location}: store schema ${JSON.stringify(version ?? null)} is not ${SQL_SCHEMA_VERSION}; was it written by a newer sluice?`,
    );
  }
  const embedderId = meta.get("embedder_id");
  const dimensions = Number(meta.get("dimensions"));
  if (embedderId === undefined || !Number.isInteger(dimensions) || dimensions < 1) {
    throw new VectorStoreError("corrupt", `${location}: meta table without embedder or dimensions`);
  }
  const settings = meta.get("embedder");
  let embedder: JsonObject | undefined;
  if (settings !== undefined) {
    try {
      const parsed = JSON.parse(settings) as unknown;
      if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) {
        embedder = parsed as JsonObject;
      }
    } catch {
      throw new VectorStoreError("corrupt", `${location}: the recorded embedder is not JSON`);
    }
  }
  return { embedderId, dimensions, ...(embedder === undefined ? {} : { embedder }) };
}

/** The writer a store's meta table names, if any (see {@link WriterInfo}). */
export async function readWriterInfo(
  query: SqlQuery,
  prefix: string,
): Promise<WriterInfo | undefined> {
  const t = tableNames(prefix);
  const [exists] = await query<{ found: string | null }>("SELECT to_regclass($1)::text AS found", [
    t.meta,
  ]);
  if (exists?.found == null) return undefined;
  const [row] = await query<{ value: string }>(`SELECT value FROM ${t.meta} WHERE key = 'writer'`);
  if (row === undefined) return undefined;
  try {
    const value = JSON.parse(row.value) as Partial<WriterInfo>;
    if (typeof value.pid === "number" && typeof value.hostname === "string") {
      return {
        pid: value.pid,
        hostname: value.hostname,
        startedAt: typeof value.startedAt === "string" ? value.startedAt : "an unknown time",
      };
    }
  } catch {
    // an unreadable record names nobody
  }
  return undefined;
}

/**
 * A {@link VectorStore} over Postgres with pgvector, the same SQL for embedded PGlite and a
 * server. Create it with {@link openSqlVectorStore}. Vector search is exact by default (see
 * {@link SqlStoreOptions.index}); lexical search is Postgres full-text search over the
 * `lexemes` column, the query's terms OR-ed, ranked by ts_rank weighted by each term's IDF
 * (higher is better; see `lexicalCandidates`); `search` fuses both through `searchStore`.
 */
export class SqlVectorStore implements VectorStore {
  private closed = false;
  private readonly t: ReturnType<typeof tableNames>;

  private constructor(
    readonly kind: StoreKind,
    private readonly sql: SqlExecutor,
    readonly identity: StoreIdentity,
    prefix: string,
    private readonly options: SqlOpenOptions,
  ) {
    this.t = tableNames(prefix);
  }

  get dimensions(): number {
    return this.identity.dimensions;
  }

  get readOnly(): boolean {
    return this.options.access.mode === "read";
  }

  /**
   * Write mode: creates the tables if needed (in one transaction) and checks the store's
   * embedder. Read mode: reads the identity and creates nothing; no store there is `not-found`.
   */
  static async open(
    kind: StoreKind,
    sql: SqlExecutor,
    options: SqlOpenOptions,
  ): Promise<SqlVectorStore> {
    const prefix = options.tablePrefix ?? "sluice_";
    const t = tableNames(prefix);
    const { access, location } = options;
    const removal = options.removal ?? `delete ${location}`;
    let identity: StoreIdentity;
    if (access.mode === "read") {
      const stored = await readSqlIdentity(sql.query, prefix, location, removal);
      if (stored === undefined) {
        throw new VectorStoreError(
          "not-found",
          `no store at ${location} (no table ${t.meta}): create it with "sluice embed <dir> --store <location>"`,
        );
      }
      identity = stored;
    } else {
      const wanted = access.identity;
      const index = options.index ?? "none";
      const statements = schemaStatements(prefix, wanted.dimensions, index);
      identity = await sql.transaction(async (query) => {
        await query("CREATE EXTENSION IF NOT EXISTS vector");
        const stored = await readSqlIdentity(query, prefix, location, removal);
        if (stored !== undefined) {
          if (stored.embedderId !== wanted.embedderId || stored.dimensions !== wanted.dimensions) {
            throw identityMismatch(location, stored, wanted);
          }
          if (index === "hnsw") await query(hnswStatement(prefix));
        } else {
          for (const statement of statements) await query(statement);
          await query(
            `INSERT INTO ${t.meta} (key, value) VALUES ('schema_version', $1), ('embedder_id', $2), ('dimensions', $3)`,
            [SQL_SCHEMA_VERSION, wanted.embedderId, String(wanted.dimensions)],
          );
          if (wanted.embedder !== undefined) {
            await query(`INSERT INTO ${t.meta} (key, value) VALUES ('embedder', $1)`, [
              JSON.stringify(wanted.embedder),
            ]);
          }
        }
        if (options.writer !== undefined) {
          await query(
            `INSERT INTO ${t.meta} (key, value) VALUES ('writer', $1)
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
            [JSON.stringify(options.writer)],
          );
        }
        return stored ?? wanted;
      });
    }
    return new SqlVectorStore(kind, sql, identity, prefix, options);
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new VectorStoreError(
        "closed",
        `the ${this.kind} store ${this.options.location} is closed`,
      );
    }
  }

  private assertWritable(): void {
    this.assertOpen();
    if (this.readOnly) {
      throw new VectorStoreError(
        "read-only",
        `the ${this.kind} store ${this.options.location} is open read-only: only "sluice embed" writes to it`,
      );
    }
  }

  async upsert(records: readonly ChunkRecord[]): Promise<void> {
    this.assertWritable();
    validateRecords(records, this.dimensions);
    const unique = lastById(records);
    if (unique.length === 0) return;
    await this.sql.transaction(async (query) => {
      for (let i = 0; i < unique.length; i += ROWS_PER_STATEMENT) {
        const rows = unique.slice(i, i + ROWS_PER_STATEMENT);
        const params: unknown[] = [];
        const values = rows.map((r) => {
          const n = params.length;
          params.push(
            r.id,
            r.collection,
            r.path,
            r.ordinal,
            r.text,
            lexicalTokens(r.text).join(" "),
            r.startLine,
            r.endLine,
            JSON.stringify(r.metadata),
            toSql([...r.vector]),
          );
          const p = (k: number) => `$${n + k}`;
          return `(${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, to_tsvector('simple', ${p(6)}), ${p(7)}, ${p(8)}, ${p(9)}::jsonb, ${p(10)}::vector)`;
        });
        await query(
          `INSERT INTO ${this.t.chunks} (id, collection, path, ordinal, text, lexemes, start_line, end_line, metadata, embedding)
           VALUES ${values.join(", ")}
           ON CONFLICT (id) DO UPDATE SET collection = EXCLUDED.collection, path = EXCLUDED.path,
             ordinal = EXCLUDED.ordinal, text = EXCLUDED.text, lexemes = EXCLUDED.lexemes,
             start_line = EXCLUDED.start_line, end_line = EXCLUDED.end_line,
             metadata = EXCLUDED.metadata, embedding = EXCLUDED.embedding`,
          params,
        );
      }
    });
  }

  async commitFile(
    collection: Collection,
    path: string,
    fileHash: string,
    chunkIds: readonly string[],
  ): Promise<void> {
    this.assertWritable();
    const ids = [...new Set(chunkIds)];
    await this.sql.transaction(async (query) => {
      const [found] = await query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${this.t.chunks}
         WHERE collection = $1 AND path = $2 AND id = ANY($3::text[])`,
        [collection, path, ids],
      );
      if ((found?.n ?? 0) !== ids.length) {
        throw new VectorStoreError(
          "missing-chunks",
          `cannot commit ${path} of ${collection}: ${ids.length - (found?.n ?? 0)} of its ${ids.length} chunks were never upserted`,
        );
      }
      await query(
        `DELETE FROM ${this.t.chunks} WHERE collection = $1 AND path = $2 AND NOT (id = ANY($3::text[]))`,
        [collection, path, ids],
      );
      await query(
        `INSERT INTO ${this.t.files} (collection, path, file_hash, chunk_count, updated_at)
         VALUES ($1, $2, $3, $4, now())
         ON CONFLICT (collection, path) DO UPDATE SET file_hash = EXCLUDED.file_hash,
           chunk_count = EXCLUDED.chunk_count, updated_at = EXCLUDED.updated_at`,
        [collection, path, fileHash, ids.length],
      );
    });
  }

  async deleteFile(collection: Collection, path: string): Promise<void> {
    this.assertWritable();
    await this.sql.transaction(async (query) => {
      await query(`DELETE FROM ${this.t.chunks} WHERE collection = $1 AND path = $2`, [
        collection,
        path,
      ]);
      await query(`DELETE FROM ${this.t.files} WHERE collection = $1 AND path = $2`, [
        collection,
        path,
      ]);
    });
  }

  async deleteCollection(collection: Collection): Promise<number> {
    this.assertWritable();
    return this.sql.transaction(async (query) => {
      await query(`DELETE FROM ${this.t.chunks} WHERE collection = $1`, [collection]);
      const [row] = await query<{ n: number }>(
        `WITH removed AS (DELETE FROM ${this.t.files} WHERE collection = $1 RETURNING 1)
         SELECT count(*)::int AS n FROM removed`,
        [collection],
      );
      return row?.n ?? 0;
    });
  }

  async fileHashes(collection: Collection): Promise<Map<string, string>> {
    this.assertOpen();
    const rows = await this.sql.query<{ path: string; file_hash: string }>(
      `SELECT path, file_hash FROM ${this.t.files} WHERE collection = $1`,
      [collection],
    );
    return new Map(rows.map((r) => [r.path, r.file_hash]));
  }

  async listPaths(collection: Collection): Promise<string[]> {
    this.assertOpen();
    const rows = await this.sql.query<{ path: string }>(
      `SELECT path FROM ${this.t.files} WHERE collection = $1
       UNION SELECT DISTINCT path FROM ${this.t.chunks} WHERE collection = $1`,
      [collection],
    );
    return rows.map((r) => r.path).sort(compareCodeUnits);
  }

  async collections(): Promise<CollectionInfo[]> {
    this.assertOpen();
    const rows = await this.sql.query<{ collection: string; files: number; chunks: number }>(
      `SELECT collection, sum(files)::int AS files, sum(chunks)::int AS chunks FROM (
         SELECT collection, count(*) AS files, 0 AS chunks FROM ${this.t.files} GROUP BY collection
         UNION ALL
         SELECT collection, 0 AS files, count(*) AS chunks FROM ${this.t.chunks} GROUP BY collection
       ) AS counts GROUP BY collection`,
    );
    return rows
      .map((r) => ({ collection: r.collection, files: r.files, chunks: r.chunks }))
      .sort((a, b) => compareCodeUnits(a.collection, b.collection));
  }

  /**
   * Pages by path through the `(collection, path)` index: the next `pageFiles` paths that have
   * chunks, then their chunks, in the database's own text order (its default collation, which the index follows).
   */
  async *scanChunks(collection: Collection, options?: ScanOptions): AsyncIterable<StoredChunk> {
    const pageFiles = scanPageFiles(options);
    let after: string | undefined;
    for (;;) {
      this.assertOpen();
      const paths = (
        await this.sql.query<{ path: string }>(
          `SELECT DISTINCT path FROM ${this.t.chunks}
           WHERE collection = $1 ${after === undefined ? "" : "AND path > $3"}
           ORDER BY 1 LIMIT $2`,
          after === undefined ? [collection, pageFiles] : [collection, pageFiles, after],
        )
      ).map((r) => r.path);
      const first = paths[0];
      const last = paths.at(-1);
      if (first === undefined || last === undefined) return;
      const rows = await this.sql.query<ChunkRow>(
        `SELECT id, collection, path, ordinal, text, start_line, end_line, metadata
         FROM ${this.t.chunks}
         WHERE collection = $1 AND path >= $2 AND path <= $3
         ORDER BY path, ordinal, id`,
        [collection, first, last],
      );
      for (const row of rows) yield hitOfRow(row);
      after = last;
    }
  }

  /** The best `query.k` chunks: exact (or HNSW) vector ranking and full-text ranking, fused. */
  async search(query: SearchQuery): Promise<SearchHit[]> {
    this.assertOpen();
    const source: CandidateSource = {
      vectorCandidates: (vector, n, collection) => this.vectorCandidates(vector, n, collection),
      lexicalCandidates: (terms, n, collection) => this.lexicalCandidates(terms, n, collection),
    };
    return searchStore(query, this.dimensions, source);
  }

  private async vectorCandidates(
    vector: readonly number[],
    n: number,
    collection: Collection | undefined,
  ): Promise<Candidate[]> {
    const params = [toSql([...vector]), n, collection ?? null];
    if ((this.options.index ?? "none") === "none") {
      // Ordered by the score expression, which no index serves: a scan computing every chunk's
      // similarity, exact. A zero vector's similarity is NaN: it is similar to nothing.
      const rows = await this.sql.query<HitRow>(
        `SELECT * FROM (
           SELECT ${HIT_COLUMNS}, 1 - (embedding <=> $1::vector) AS score
           FROM ${this.t.chunks} WHERE ($3::text IS NULL OR collection = $3::text)
         ) AS scored
         WHERE score <> 'NaN'::float8
         ORDER BY score DESC, id
         LIMIT $2`,
        params,
      );
      return rows.map(candidateOf);
    }
    const select = (query: SqlQuery) =>
      query<HitRow>(
        `SELECT ${HIT_COLUMNS}, 1 - (embedding <=> $1::vector) AS score
         FROM ${this.t.chunks} WHERE ($3::text IS NULL OR collection = $3::text)
         ORDER BY embedding <=> $1::vector, id
         LIMIT $2`,
        params,
      );
    // An HNSW scan yields at most ef_search rows (default 40): widen it, for this transaction
    // only, when more are asked for.
    const rows =
      n <= 40
        ? await select(this.sql.query)
        : await this.sql.transaction(async (query) => {
            await query(`SET LOCAL hnsw.ef_search = ${Math.min(n, 1000)}`);
            return select(query);
          });
    return rows.map(candidateOf).filter((c) => !Number.isNaN(c.score));
  }

  /**
   * Ranks by Postgres full-text search weighted as BM25 weighs terms: ts_rank alone knows
   * nothing of how rare a word is, so a chunk matching many common words would outrank the one
   * holding the query's rare word. The score is Σ idf(t) · ts_rank(chunk, t) over the query's
   * terms, with idf as FTS5 computes it from each term's document frequency (counted first,
   * through the full-text index) and ts_rank normalized by the chunk's length.
   */
  private async lexicalCandidates(
    terms: readonly string[],
    n: number,
    collection: Collection | undefined,
  ): Promise<LexicalCandidates> {
    const termQueries = terms.map((term) => tsqueryOf([term]));
    const counts = terms.map(
      (_, t) =>
        `(SELECT count(*)::int FROM ${this.t.chunks}
          WHERE lexemes @@ to_tsquery('simple', $${t + 2}) AND ($1::text IS NULL OR collection = $1::text)) AS d${t}`,
    );
    const [row] = await this.sql.query<Record<string, number>>(
      `SELECT (SELECT count(*)::int FROM ${this.t.chunks}
               WHERE $1::text IS NULL OR collection = $1::text) AS documents, ${counts.join(", ")}`,
      [collection ?? null, ...termQueries],
    );
    const documents = row?.documents ?? 0;
    const documentFrequencies = terms.map((_, t) => row?.[`d${t}`] ?? 0);
    const idf = documentFrequencies.map((df) => bm25Idf(documents, df));
    // $1 all terms, $2 n, $3 collection, then per term its query and its idf.
    const weighted = terms.map(
      (_, t) =>
        `$${4 + 2 * t + 1}::float8 * ts_rank(lexemes, to_tsquery('simple', $${4 + 2 * t}), 1)`,
    );
    const rows = await this.sql.query<HitRow>(
      `SELECT ${HIT_COLUMNS}, (${weighted.join(" + ")}) AS score
       FROM ${this.t.chunks}
       WHERE lexemes @@ to_tsquery('simple', $1) AND ($3::text IS NULL OR collection = $3::text)
       ORDER BY score DESC, id
       LIMIT $2`,
      [
        tsqueryOf(terms),
        n,
        collection ?? null,
        ...terms.flatMap((_, t) => [termQueries[t], idf[t]]),
      ],
    );
    return { candidates: rows.map(candidateOf), documents, documentFrequencies };
  }

  async stats(): Promise<StoreStats> {
    this.assertOpen();
    const [row] = await this.sql.query<{ chunks: number; files: number; collections: number }>(
      `SELECT (SELECT count(*)::int FROM ${this.t.chunks}) AS chunks,
              (SELECT count(*)::int FROM ${this.t.files}) AS files,
              (SELECT count(*)::int FROM (
                 SELECT collection FROM ${this.t.files} UNION SELECT collection FROM ${this.t.chunks}
               ) AS c) AS collections`,
    );
    return {
      chunks: row?.chunks ?? 0,
      files: row?.files ?? 0,
      collections: row?.collections ?? 0,
      dimensions: this.dimensions,
      embedderId: this.identity.embedderId,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.options.writer !== undefined) {
        await this.sql
          .query(`DELETE FROM ${this.t.meta} WHERE key = 'writer'`)
          .catch(() => undefined);
      }
      if (this.options.ownsExecutor ?? true) await this.sql.close();
    } finally {
      await this.options.onClose?.();
    }
  }
}

/** Opens a SQL-backed store over an executor (see {@link SqlVectorStore.open}). */
export function openSqlVectorStore(
  kind: StoreKind,
  sql: SqlExecutor,
  options: SqlOpenOptions,
): Promise<SqlVectorStore> {
  return SqlVectorStore.open(kind, sql, options);
}
