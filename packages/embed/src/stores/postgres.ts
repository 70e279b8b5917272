import pg from "pg";
import {
  openSqlVectorStore,
  type SqlExecutor,
  type SqlStoreOptions,
  type SqlVectorStore,
} from "./sql.ts";
import { VectorStoreError } from "./vector-store.ts";

/** Options of {@link openPostgresStore}. */
export interface PostgresStoreOptions extends SqlStoreOptions {
  /** A `postgres://user:password@host:port/database` URL. */
  readonly url: string;
  /** Pool size; default 4. */
  readonly maxConnections?: number;
}

/** Adapts a pg pool to the executor the shared SQL store runs on; transactions get one client. */
export function pgPoolExecutor(pool: pg.Pool): SqlExecutor {
  return {
    query: async <Row>(sql: string, params: readonly unknown[] = []) =>
      (await pool.query(sql, [...params])).rows as Row[],
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const result = await fn(
          async <Row>(sql: string, params: readonly unknown[] = []) =>
            (await client.query(sql, [...params])).rows as Row[],
        );
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

/** The URL without its password, for error messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparseable URL)";
  }
}

/**
 * A store in a Postgres server with the pgvector extension (created if missing and allowed),
 * through the `pg` driver. Same tables and SQL as the PGlite store.
 */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<SqlVectorStore> {
  if (!/^postgres(ql)?:\/\//i.test(options.url)) {
    throw new VectorStoreError(
      "invalid-argument",
      `not a postgres:// URL: ${redactUrl(options.url)}`,
    );
  }
  const pool = new pg.Pool({ connectionString: options.url, max: options.maxConnections ?? 4 });
  // An idle client losing its server emits on the pool; unheard, that would crash the process.
  // The next query reports the failure instead.
  pool.on("error", () => undefined);
  try {
    const client = await pool.connect();
    client.release();
  } catch (error) {
    await pool.end();
    throw new VectorStoreError(
      "unavailable",
      `cannot connect to ${redactUrl(options.url)}: ${(error as Error).message}`,
    );
  }
  try {
    return await openSqlVectorStore("postgres", pgPoolExecutor(pool), options, true);
  } catch (error) {
    await pool.end();
    throw error;
  }
}
