import type { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { vectorStoreContract } from "../testing/vector-store-contract.ts";
import { createPgliteDatabase } from "./pglite.ts";
import { openPostgresStore, redactUrl } from "./postgres.ts";

// A real Postgres wire protocol endpoint on loopback: PGlite behind pglite-socket, reached
// through the pg driver exactly as a Postgres server would be.
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

describe("Postgres store over the wire protocol", () => {
  vectorStoreContract((name, identity) =>
    openPostgresStore({ url, tablePrefix: `${name}_`, maxConnections: 2, ...identity }),
  );

  it("reports an unreachable server without leaking the password", async () => {
    const error = await openPostgresStore({
      url: "postgres://user:hunter2@127.0.0.1:1/db",
      embedderId: "e",
      dimensions: 3,
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "VectorStoreError", code: "unavailable" });
    expect((error as Error).message).toContain("127.0.0.1:1");
    expect((error as Error).message).not.toContain("hunter2");
  });

  it("rejects a URL that is not postgres://", async () => {
    await expect(
      openPostgresStore({ url: "mysql://x@y/z", embedderId: "e", dimensions: 3 }),
    ).rejects.toMatchObject({ code: "invalid-argument" });
    expect(redactUrl("postgres://u:p@h:5432/d")).toBe("postgres://u:***@h:5432/d");
  });
});
