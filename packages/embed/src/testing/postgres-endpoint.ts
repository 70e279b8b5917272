/**
 * A Postgres wire-protocol endpoint on loopback for tests: PGlite (with pgvector) behind
 * pglite-socket, reached through the pg driver as a Postgres server would be. PGlite has one
 * session that every connection shares, so advisory locks never conflict here: lock tests need
 * a real server (see postgres.test.ts).
 */
import type { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { createPgliteDatabase } from "../stores/pglite.ts";

/** A running endpoint: its URL, the database behind it (to inspect), and how to stop it. */
export interface PostgresEndpoint {
  readonly url: string;
  readonly db: PGlite;
  stop(): Promise<void>;
}

/** Starts an in-memory PGlite behind a socket server on a free loopback port. */
export async function startPostgresEndpoint(maxConnections = 64): Promise<PostgresEndpoint> {
  const db = await createPgliteDatabase();
  const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections });
  try {
    await server.start();
  } catch (error) {
    await db.close();
    throw error;
  }
  return {
    url: `postgres://postgres:secret@${server.getServerConn()}/postgres`,
    db,
    async stop() {
      try {
        await server.stop();
      } finally {
        await db.close();
      }
    },
  };
}
