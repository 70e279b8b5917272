import { hostname } from "node:os";
import type { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  findRealPostgres,
  type RealPostgres,
  type RealPostgresBinaries,
  startRealPostgres,
} from "../testing/real-postgres.ts";
import { record, vectorStoreContract } from "../testing/vector-store-contract.ts";
import { createPgliteDatabase } from "./pglite.ts";
import {
  acquirePostgresWriterLock,
  openPostgresStore,
  readPostgresIdentity,
  redactUrl,
  writerLockKey,
} from "./postgres.ts";
import type { StoreAccess, StoreIdentity } from "./vector-store.ts";

// A real Postgres wire protocol endpoint on loopback: PGlite behind pglite-socket, reached
// through the pg driver exactly as a Postgres server would be. PGlite has one session, which
// every connection shares: a second writer's advisory lock cannot conflict here, so the contract
// runs without its lock test here; the lock is tested on a real server below when there is one.
let db: PGlite;
let server: PGLiteSocketServer;
let url: string;

beforeAll(async () => {
  db = await createPgliteDatabase();
  server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: 16 });
  await server.start();
  url = `postgres://postgres:secret@${server.getServerConn()}/postgres`;
}, 60_000);
afterAll(async () => {
  await server?.stop();
  await db?.close();
});

const identity: StoreIdentity = {
  embedderId: "hash-v1:16",
  dimensions: 16,
  embedder: { kind: "hash", dimensions: 16 },
};
const write: StoreAccess = { mode: "write", identity };
const read: StoreAccess = { mode: "read" };

describe("Postgres store over the wire protocol", () => {
  vectorStoreContract(
    (name, access) =>
      openPostgresStore({ url, tablePrefix: `${name}_`, maxConnections: 2, access }),
    { exact: true, lock: false },
  );

  it("holds a session advisory lock and records its writer while open, both gone after close", async () => {
    const advisoryLocks = async () =>
      (
        await db.query<{ key: string }>(
          "SELECT ((classid::bigint << 32) | objid::bigint)::text AS key FROM pg_locks WHERE locktype = 'advisory'",
        )
      ).rows.map((r) => r.key);
    const writerRow = async () =>
      (await db.query<{ value: string }>("SELECT value FROM lock_meta WHERE key = 'writer'")).rows;
    const store = await openPostgresStore({ url, tablePrefix: "lock_", access: write });
    try {
      expect(await advisoryLocks()).toContain(writerLockKey("lock_"));
      const [row] = await writerRow();
      expect(JSON.parse(row?.value ?? "{}")).toMatchObject({
        pid: process.pid,
        hostname: hostname(),
      });
    } finally {
      await store.close();
    }
    expect(await advisoryLocks()).toEqual([]);
    expect(await writerRow()).toEqual([]);
    // Prefixes get different keys: two stores of one database lock independently.
    expect(writerLockKey("lock_")).not.toBe(writerLockKey("sluice_"));
  });

  it("reads the identity without creating anything, and refuses a schema-1 store in one line", async () => {
    expect(await readPostgresIdentity(url, { tablePrefix: "nothing_" })).toBeUndefined();
    const tables = await db.query("SELECT 1 FROM pg_tables WHERE tablename LIKE 'nothing_%'");
    expect(tables.rows).toEqual([]);

    const store = await openPostgresStore({ url, tablePrefix: "ident_", access: write });
    await store.upsert([record("a.md", 0, "hello")]);
    await store.close();
    expect(await readPostgresIdentity(url, { tablePrefix: "ident_" })).toEqual(identity);

    await db.exec(`
      CREATE TABLE old_meta (key text PRIMARY KEY, value text NOT NULL);
      INSERT INTO old_meta VALUES ('schema_version', '1'), ('embedder_id', 'hash-v1:16'), ('dimensions', '16');
    `);
    const error = await openPostgresStore({ url, tablePrefix: "old_", access: read }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: "old-schema" });
    const message = (error as Error).message;
    expect(message).toContain("was written by an earlier sluice (store schema 1)");
    expect(message).toContain("drop its tables old_meta, old_files and old_chunks");
    expect(message).not.toContain("secret");
    expect(message).not.toContain("\n");
    await expect(readPostgresIdentity(url, { tablePrefix: "old_" })).rejects.toMatchObject({
      code: "old-schema",
    });
  });

  it("reports an unreachable server without leaking the password", async () => {
    for (const access of [write, read]) {
      const error = await openPostgresStore({
        url: "postgres://user:hunter2@127.0.0.1:1/db",
        access,
      }).catch((e: unknown) => e);
      expect(error).toMatchObject({ name: "VectorStoreError", code: "unavailable" });
      expect((error as Error).message).toContain("127.0.0.1:1");
      expect((error as Error).message).not.toContain("hunter2");
    }
  });

  it("rejects a URL that is not postgres://", async () => {
    await expect(openPostgresStore({ url: "mysql://x@y/z", access: write })).rejects.toMatchObject({
      code: "invalid-argument",
    });
    await expect(readPostgresIdentity("mysql://x@y/z")).rejects.toMatchObject({
      code: "invalid-argument",
    });
    expect(redactUrl("postgres://u:p@h:5432/d")).toBe("postgres://u:***@h:5432/d");
  });
});

// The advisory lock needs two real sessions, which PGlite cannot give: a real Postgres server
// when this machine has one (testing/real-postgres.ts).
const realPostgres = findRealPostgres();

describe.skipIf(realPostgres === undefined)("Postgres writer lock, on a real server", () => {
  let server: RealPostgres | undefined;
  let realUrl: string;

  beforeAll(async () => {
    server = await startRealPostgres(realPostgres as RealPostgresBinaries);
    realUrl = server.url;
  }, 60_000);
  afterAll(() => server?.stop());

  it("refuses a second writer naming the first, frees on release or when its session dies", async () => {
    const first = await acquirePostgresWriterLock(realUrl, "sluice_");
    const admin = new pg.Client(realUrl);
    await admin.connect();
    try {
      // Before the first writer has recorded itself, the message can only say "another session".
      const early = await acquirePostgresWriterLock(realUrl, "sluice_").catch((e: unknown) => e);
      expect(early).toMatchObject({ code: "locked" });
      expect((early as Error).message).toContain("locked by another session");
      // What the store records when it opens (see SqlOpenOptions.writer).
      await admin.query("CREATE TABLE sluice_meta (key text PRIMARY KEY, value text NOT NULL)");
      await admin.query("INSERT INTO sluice_meta VALUES ('writer', $1)", [
        JSON.stringify(first.writer),
      ]);
      const error = await acquirePostgresWriterLock(realUrl, "sluice_").catch((e: unknown) => e);
      expect(error).toMatchObject({ name: "VectorStoreError", code: "locked" });
      expect((error as Error).message).toBe(
        `store ${realUrl.replace("secret", "***")} (tables sluice_*) is locked by pid ${process.pid} on host ${hostname()} (since ${first.writer.startedAt}): another "sluice embed" is writing to it; wait for it to finish`,
      );
      // Another table prefix is another store.
      await (await acquirePostgresWriterLock(realUrl, "other_")).release();
      await first.release();
      await first.release();
      const second = await acquirePostgresWriterLock(realUrl, "sluice_");
      // A writer killed mid-run: its session ends, and so does its lock.
      await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'",
      );
      let third: Awaited<ReturnType<typeof acquirePostgresWriterLock>> | undefined;
      for (let attempt = 0; third === undefined && attempt < 50; attempt++) {
        third = await acquirePostgresWriterLock(realUrl, "sluice_").catch(async () => {
          await new Promise((resolve) => setTimeout(resolve, 100));
          return undefined;
        });
      }
      expect(third).toBeDefined();
      await third?.release();
      await second.release();
    } finally {
      await admin.end();
    }
  }, 30_000);

  it("shared writers (a queue run) hold the lock together; an exclusive writer and they refuse each other", async () => {
    const coordinator = await acquirePostgresWriterLock(realUrl, "queue_", { shared: true });
    const worker = await acquirePostgresWriterLock(realUrl, "queue_", { shared: true });
    const plain = await acquirePostgresWriterLock(realUrl, "queue_").catch((e: unknown) => e);
    expect(plain).toMatchObject({ name: "VectorStoreError", code: "locked" });
    expect((plain as Error).message).toBe(
      `store ${realUrl.replace("secret", "***")} (tables queue_*) is being written by a queue run ("sluice embed --queue" and its "sluice worker"s); wait for it to finish, or stop its workers`,
    );
    await coordinator.release();
    // One shared writer left is still a queue run.
    await expect(acquirePostgresWriterLock(realUrl, "queue_")).rejects.toMatchObject({
      code: "locked",
    });
    await worker.release();
    const exclusive = await acquirePostgresWriterLock(realUrl, "queue_");
    const late = await acquirePostgresWriterLock(realUrl, "queue_", { shared: true }).catch(
      (e: unknown) => e,
    );
    expect(late).toMatchObject({ code: "locked" });
    expect((late as Error).message).toContain('another "sluice embed" is writing to it');
    expect((late as Error).message).toContain("a queue run shares the store only");
    await exclusive.release();
    // The refused probes left nothing behind: both modes can be had again.
    await (await acquirePostgresWriterLock(realUrl, "queue_", { shared: true })).release();
    await (await acquirePostgresWriterLock(realUrl, "queue_")).release();
  });

  it("a reader on a database without the store creates nothing: not-found", async () => {
    const error = await openPostgresStore({
      url: realUrl,
      tablePrefix: "absent_",
      access: read,
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "not-found" });
    const admin = new pg.Client(realUrl);
    await admin.connect();
    try {
      const tables = await admin.query("SELECT 1 FROM pg_tables WHERE tablename LIKE 'absent_%'");
      expect(tables.rows).toEqual([]);
      const extensions = await admin.query("SELECT 1 FROM pg_extension WHERE extname = 'vector'");
      expect(extensions.rows).toEqual([]);
    } finally {
      await admin.end();
    }
  });
});
