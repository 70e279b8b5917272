import { createHash } from "node:crypto";
import { hostname } from "node:os";
import pg from "pg";
import { redactUrl } from "../redact.ts";
import {
  openSqlVectorStore,
  readSqlIdentity,
  readWriterInfo,
  type SqlExecutor,
  type SqlStoreOptions,
  type SqlVectorStore,
  tableNames,
  type WriterInfo,
} from "./sql.ts";
import { type StoreAccess, type StoreIdentity, VectorStoreError } from "./vector-store.ts";

/** Options of {@link openPostgresStore}. */
export interface PostgresStoreOptions extends SqlStoreOptions {
  /** A `postgres://user:password@host:port/database` URL. */
  readonly url: string;
  /** To write (creates the tables, takes the writer lock, checks the embedder) or to read. */
  readonly access: StoreAccess;
  /** Pool size; default 4 (a writer holds one more connection for its lock). */
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

/** The URL without its secrets, for error messages (moved to `redact.ts`, kept here for importers). */
export { redactUrl };

/** How messages name a Postgres store: its URL without secrets, and its tables. */
function describeStore(url: string, prefix: string): string {
  return `${redactUrl(url)} (tables ${prefix}*)`;
}

/**
 * The advisory-lock key of the store with table prefix `prefix`: the first 8 bytes of
 * sha256("sluice:" + prefix) as a signed 64-bit integer. Advisory locks are per database, so
 * the prefix is all that tells two stores of one database apart.
 */
export function writerLockKey(prefix: string): string {
  return createHash("sha256").update(`sluice:${prefix}`).digest().readBigInt64BE(0).toString();
}

function checkUrl(url: string): void {
  if (!/^postgres(ql)?:\/\//i.test(url)) {
    throw new VectorStoreError("invalid-argument", `not a postgres:// URL: ${redactUrl(url)}`);
  }
}

/** A pool whose first connection worked; `unavailable` (password hidden) when none can be made. */
async function connectPool(url: string, max: number): Promise<pg.Pool> {
  const pool = new pg.Pool({ connectionString: url, max });
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
      `cannot connect to ${redactUrl(url)}: ${(error as Error).message}`,
    );
  }
  return pool;
}

/** A held writer lock of a Postgres store: a session advisory lock on a connection of its own. */
export interface PostgresWriterLock {
  /** What the store records about this writer. */
  readonly writer: WriterInfo;
  /** Unlocks and closes the lock's connection; idempotent. */
  release(): Promise<void>;
}

/** Options of {@link acquirePostgresWriterLock}. */
export interface PostgresWriterLockOptions {
  /**
   * Take the lock shared (`pg_try_advisory_lock_shared`): any number of shared writers (a queue
   * run's coordinator and workers) hold it together, and none while an exclusive writer does.
   */
  readonly shared?: boolean;
}

/**
 * Takes the writer lock of the store with table prefix `prefix`: `pg_try_advisory_lock` on
 * {@link writerLockKey} (or its shared form), on a dedicated connection held until `release()`
 * (a session lock ends with its session, so a killed writer never leaves a stale lock). When it
 * is held in the other mode (or, exclusive, in any mode), fails with code `locked`, naming the
 * exclusive writer's pid, host and start time as recorded in the store's meta table, or that a
 * queue run is writing.
 */
export async function acquirePostgresWriterLock(
  url: string,
  prefix: string,
  options: PostgresWriterLockOptions = {},
): Promise<PostgresWriterLock> {
  const shared = options.shared === true;
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch (error) {
    throw new VectorStoreError(
      "unavailable",
      `cannot connect to ${redactUrl(url)}: ${(error as Error).message}`,
    );
  }
  const key = writerLockKey(prefix);
  const suffix = shared ? "_shared" : "";
  const query = async (sql: string) =>
    (await client.query<{ ok: boolean }>(sql, [key])).rows[0]?.ok === true;
  try {
    if (!(await query(`SELECT pg_try_advisory_lock${suffix}($1::bigint) AS ok`))) {
      // Refused: by an exclusive writer, unless a shared lock can be had (then shared writers
      // hold it). Probed, and let go at once.
      const queueRun =
        !shared && (await query("SELECT pg_try_advisory_lock_shared($1::bigint) AS ok"));
      if (queueRun) await query("SELECT pg_advisory_unlock_shared($1::bigint) AS ok");
      throw new VectorStoreError(
        "locked",
        queueRun
          ? `store ${describeStore(url, prefix)} is being written by a queue run ("sluice embed --queue" and its "sluice worker"s); wait for it to finish, or stop its workers`
          : await exclusiveHolder(client, url, prefix, shared),
      );
    }
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  let held = true;
  return {
    writer: { pid: process.pid, hostname: hostname(), startedAt: new Date().toISOString() },
    async release() {
      if (!held) return;
      held = false;
      await client
        .query(`SELECT pg_advisory_unlock${suffix}($1::bigint)`, [key])
        .catch(() => undefined);
      await client.end().catch(() => undefined);
    },
  };
}

/** The `locked` message for a lock an exclusive writer holds, naming it when it recorded itself. */
async function exclusiveHolder(
  client: pg.Client,
  url: string,
  prefix: string,
  shared: boolean,
): Promise<string> {
  const holder = await readWriterInfo(
    async (sql, params = []) => (await client.query(sql, [...params])).rows,
    prefix,
  );
  const who =
    holder === undefined
      ? "another session"
      : `pid ${holder.pid} on host ${holder.hostname} (since ${holder.startedAt})`;
  return (
    `store ${describeStore(url, prefix)} is locked by ${who}: another "sluice embed" is writing to it; wait for it to finish` +
    (shared ? " (a queue run shares the store only with other queue runs' processes)" : "")
  );
}

/** unique_violation, duplicate_table, duplicate_object: what a lost table-creation race raises. */
const CREATE_RACE_CODES = new Set(["23505", "42P07", "42710"]);

/**
 * A store in a Postgres server with the pgvector extension (created if missing and allowed),
 * through the `pg` driver: same tables and SQL as the PGlite store. Vector search is exact by
 * default (`index: "none"`); `index: "hnsw"` is approximate (see `SqlStoreOptions`).
 *
 * A writer takes the store's session advisory lock ({@link acquirePostgresWriterLock}) and
 * records its pid, host and start time in the meta table until `close()`; a second writer fails
 * with code `locked`, naming them. Shared writers (`access.shared`, a queue run's processes)
 * take the lock shared and record nothing. A reader takes no lock, never creates anything (no tables:
 * `not-found`) and rejects writes (`read-only`).
 */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<SqlVectorStore> {
  const { url, access } = options;
  checkUrl(url);
  const prefix = options.tablePrefix ?? "sluice_";
  tableNames(prefix);
  const location = describeStore(url, prefix);
  const removal = `drop its tables ${prefix}meta, ${prefix}files and ${prefix}chunks`;
  const shared = access.mode === "write" && access.shared === true;
  const lock =
    access.mode === "write" ? await acquirePostgresWriterLock(url, prefix, { shared }) : undefined;
  let pool: pg.Pool | undefined;
  try {
    pool = await connectPool(url, options.maxConnections ?? 4);
    const executor = pgPoolExecutor(pool);
    const open = () =>
      openSqlVectorStore("postgres", executor, {
        ...options,
        location,
        removal,
        // Shared writers are many: none records itself as the writer (an exclusive writer's
        // refusal says a queue run is writing instead).
        ...(lock === undefined ? {} : { onClose: () => lock.release() }),
        ...(lock === undefined || shared ? {} : { writer: lock.writer }),
      });
    for (let attempt = 1; ; attempt++) {
      try {
        return await open();
      } catch (error) {
        // Shared writers starting together may race to create the tables: the loser's
        // transaction fails on a duplicate, and finds them made on the next try.
        const code = (error as { code?: unknown }).code;
        if (!shared || attempt >= 3 || !CREATE_RACE_CODES.has(String(code))) throw error;
      }
    }
  } catch (error) {
    await pool?.end().catch(() => undefined);
    await lock?.release();
    throw error;
  }
}

/**
 * The identity the store at `url` (table prefix default `sluice_`) records, or undefined when the
 * database holds no such store. Creates nothing.
 */
export async function readPostgresIdentity(
  url: string,
  options: { readonly tablePrefix?: string } = {},
): Promise<StoreIdentity | undefined> {
  checkUrl(url);
  const prefix = options.tablePrefix ?? "sluice_";
  const pool = await connectPool(url, 1);
  try {
    return await readSqlIdentity(
      pgPoolExecutor(pool).query,
      prefix,
      describeStore(url, prefix),
      `drop its tables ${prefix}meta, ${prefix}files and ${prefix}chunks`,
    );
  } finally {
    await pool.end();
  }
}
