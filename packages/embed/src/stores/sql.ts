import { toSql } from "pgvector";
import type { StoreKind } from "../config.ts";
import type { JsonObject } from "../json-value.ts";
import { compareCodeUnits } from "../steps/discover.ts";
import {
  type ChunkRecord,
  lastById,
  type SearchHit,
  type StoreIdentity,
  type StoreStats,
  type VectorStore,
  VectorStoreError,
  validateQuery,
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
export interface SqlStoreOptions extends StoreIdentity {
  /** Prefix of the three table names; lets stores share one database. Default `"sluice_"`. */
  readonly tablePrefix?: string;
  /**
   * `"hnsw"` (default) builds an approximate nearest-neighbour index, fast to search but slower
   * to write; `"none"` searches exactly by scanning, fine for small corpora.
   */
  readonly index?: "hnsw" | "none";
}

const SCHEMA_VERSION = "1";
/** Rows per INSERT: 8 parameters each stays far below Postgres' 65535-parameter limit. */
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

/** The statements that create the store's tables, for one vector dimension. */
export function schemaStatements(
  prefix: string,
  dimensions: number,
  index: "hnsw" | "none",
): string[] {
  const t = tableNames(prefix);
  if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > 16_000) {
    throw new VectorStoreError(
      "invalid-argument",
      `dimensions must be 1..16000, got ${dimensions}`,
    );
  }
  const statements = [
    "CREATE EXTENSION IF NOT EXISTS vector",
    `CREATE TABLE IF NOT EXISTS ${t.meta} (key text PRIMARY KEY, value text NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS ${t.files} (
      path text PRIMARY KEY,
      file_hash text NOT NULL,
      chunk_count integer NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE TABLE IF NOT EXISTS ${t.chunks} (
      id text PRIMARY KEY,
      path text NOT NULL,
      ordinal integer NOT NULL,
      text text NOT NULL,
      start_line integer NOT NULL,
      end_line integer NOT NULL,
      metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
      embedding vector(${dimensions}) NOT NULL
    )`,
    `CREATE INDEX IF NOT EXISTS ${t.chunks}_path_idx ON ${t.chunks} (path)`,
  ];
  if (index === "hnsw") {
    statements.push(
      `CREATE INDEX IF NOT EXISTS ${t.chunks}_embedding_idx ON ${t.chunks} USING hnsw (embedding vector_cosine_ops)`,
    );
  }
  return statements;
}

interface HitRow {
  id: string;
  path: string;
  ordinal: number;
  text: string;
  start_line: number;
  end_line: number;
  metadata: JsonObject | string;
  score: number | string;
}

/**
 * A {@link VectorStore} over Postgres with pgvector, the same SQL for embedded PGlite and a
 * server. Create it with {@link openSqlVectorStore}, which creates the tables and checks that an
 * existing store was built by the same embedder.
 */
export class SqlVectorStore implements VectorStore {
  private closed = false;
  private readonly t: ReturnType<typeof tableNames>;

  private constructor(
    readonly kind: StoreKind,
    private readonly sql: SqlExecutor,
    private readonly identity: StoreIdentity,
    prefix: string,
    private readonly ownsExecutor: boolean,
  ) {
    this.t = tableNames(prefix);
  }

  get dimensions(): number {
    return this.identity.dimensions;
  }

  /** Creates the tables if needed and checks the store's embedder and dimension. */
  static async open(
    kind: StoreKind,
    sql: SqlExecutor,
    options: SqlStoreOptions,
    ownsExecutor: boolean,
  ): Promise<SqlVectorStore> {
    const prefix = options.tablePrefix ?? "sluice_";
    const statements = schemaStatements(prefix, options.dimensions, options.index ?? "hnsw");
    const t = tableNames(prefix);
    await sql.transaction(async (query) => {
      for (const statement of statements) await query(statement);
      await query(
        `INSERT INTO ${t.meta} (key, value) VALUES ('schema_version', $1), ('embedder_id', $2), ('dimensions', $3)
         ON CONFLICT (key) DO NOTHING`,
        [SCHEMA_VERSION, options.embedderId, String(options.dimensions)],
      );
      const rows = await query<{ key: string; value: string }>(`SELECT key, value FROM ${t.meta}`);
      const meta = new Map(rows.map((r) => [r.key, r.value]));
      const stored = {
        embedderId: meta.get("embedder_id"),
        dimensions: Number(meta.get("dimensions")),
      };
      if (stored.embedderId !== options.embedderId || stored.dimensions !== options.dimensions) {
        throw new VectorStoreError(
          "identity-mismatch",
          `store ${kind} (${prefix}*) holds vectors of embedder ${stored.embedderId} with ` +
            `${stored.dimensions} dimensions, not ${options.embedderId} with ${options.dimensions}; ` +
            "use another store location or delete this one to re-embed",
        );
      }
      if (meta.get("schema_version") !== SCHEMA_VERSION) {
        throw new VectorStoreError(
          "corrupt",
          `store schema version ${meta.get("schema_version")} is not ${SCHEMA_VERSION}`,
        );
      }
    });
    return new SqlVectorStore(
      kind,
      sql,
      { embedderId: options.embedderId, dimensions: options.dimensions },
      prefix,
      ownsExecutor,
    );
  }

  private assertOpen(): void {
    if (this.closed) throw new VectorStoreError("closed", `the ${this.kind} store is closed`);
  }

  async upsert(records: readonly ChunkRecord[]): Promise<void> {
    this.assertOpen();
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
            r.path,
            r.ordinal,
            r.text,
            r.startLine,
            r.endLine,
            JSON.stringify(r.metadata),
            toSql([...r.vector]),
          );
          return `($${n + 1}, $${n + 2}, $${n + 3}, $${n + 4}, $${n + 5}, $${n + 6}, $${n + 7}::jsonb, $${n + 8}::vector)`;
        });
        await query(
          `INSERT INTO ${this.t.chunks} (id, path, ordinal, text, start_line, end_line, metadata, embedding)
           VALUES ${values.join(", ")}
           ON CONFLICT (id) DO UPDATE SET path = EXCLUDED.path, ordinal = EXCLUDED.ordinal,
             text = EXCLUDED.text, start_line = EXCLUDED.start_line, end_line = EXCLUDED.end_line,
             metadata = EXCLUDED.metadata, embedding = EXCLUDED.embedding`,
          params,
        );
      }
    });
  }

  async commitFile(path: string, fileHash: string, chunkIds: readonly string[]): Promise<void> {
    this.assertOpen();
    const ids = [...new Set(chunkIds)];
    await this.sql.transaction(async (query) => {
      const [found] = await query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${this.t.chunks} WHERE path = $1 AND id = ANY($2::text[])`,
        [path, ids],
      );
      if ((found?.n ?? 0) !== ids.length) {
        throw new VectorStoreError(
          "missing-chunks",
          `cannot commit ${path}: ${ids.length - (found?.n ?? 0)} of its ${ids.length} chunks were never upserted`,
        );
      }
      await query(`DELETE FROM ${this.t.chunks} WHERE path = $1 AND NOT (id = ANY($2::text[]))`, [
        path,
        ids,
      ]);
      await query(
        `INSERT INTO ${this.t.files} (path, file_hash, chunk_count, updated_at) VALUES ($1, $2, $3, now())
         ON CONFLICT (path) DO UPDATE SET file_hash = EXCLUDED.file_hash,
           chunk_count = EXCLUDED.chunk_count, updated_at = EXCLUDED.updated_at`,
        [path, fileHash, ids.length],
      );
    });
  }

  async deleteByPath(path: string): Promise<void> {
    this.assertOpen();
    await this.sql.transaction(async (query) => {
      await query(`DELETE FROM ${this.t.chunks} WHERE path = $1`, [path]);
      await query(`DELETE FROM ${this.t.files} WHERE path = $1`, [path]);
    });
  }

  async fileHashes(): Promise<Map<string, string>> {
    this.assertOpen();
    const rows = await this.sql.query<{ path: string; file_hash: string }>(
      `SELECT path, file_hash FROM ${this.t.files}`,
    );
    return new Map(rows.map((r) => [r.path, r.file_hash]));
  }

  async listPaths(): Promise<string[]> {
    this.assertOpen();
    const rows = await this.sql.query<{ path: string }>(
      `SELECT path FROM ${this.t.files} UNION SELECT DISTINCT path FROM ${this.t.chunks}`,
    );
    return rows.map((r) => r.path).sort(compareCodeUnits);
  }

  async search(vector: readonly number[], k: number): Promise<SearchHit[]> {
    this.assertOpen();
    validateQuery(vector, k, this.dimensions);
    // Cosine distance to the zero vector is undefined (NaN): nothing is similar to it.
    if (vector.every((x) => x === 0)) return [];
    const select = (query: SqlQuery) =>
      query<HitRow>(
        `SELECT id, path, ordinal, text, start_line, end_line, metadata,
                1 - (embedding <=> $1::vector) AS score
         FROM ${this.t.chunks}
         ORDER BY embedding <=> $1::vector, id
         LIMIT $2`,
        [toSql([...vector]), k],
      );
    // An HNSW scan yields at most ef_search rows (default 40): widen it, for this transaction
    // only, when more are asked for.
    const rows =
      k <= 40
        ? await select(this.sql.query)
        : await this.sql.transaction(async (query) => {
            await query(`SET LOCAL hnsw.ef_search = ${Math.min(k, 1000)}`);
            return select(query);
          });
    return rows.map((r) => ({
      id: r.id,
      path: r.path,
      ordinal: r.ordinal,
      text: r.text,
      startLine: r.start_line,
      endLine: r.end_line,
      metadata:
        typeof r.metadata === "string" ? (JSON.parse(r.metadata) as JsonObject) : r.metadata,
      score: Number(r.score),
    }));
  }

  async stats(): Promise<StoreStats> {
    this.assertOpen();
    const [row] = await this.sql.query<{ chunks: number; files: number }>(
      `SELECT (SELECT count(*)::int FROM ${this.t.chunks}) AS chunks,
              (SELECT count(*)::int FROM ${this.t.files}) AS files`,
    );
    return {
      chunks: row?.chunks ?? 0,
      files: row?.files ?? 0,
      dimensions: this.dimensions,
      embedderId: this.identity.embedderId,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsExecutor) await this.sql.close();
  }
}

/** Opens a SQL-backed store over an executor; `ownsExecutor` makes `close()` close it too. */
export function openSqlVectorStore(
  kind: StoreKind,
  sql: SqlExecutor,
  options: SqlStoreOptions,
  ownsExecutor = true,
): Promise<SqlVectorStore> {
  return SqlVectorStore.open(kind, sql, options, ownsExecutor);
}
