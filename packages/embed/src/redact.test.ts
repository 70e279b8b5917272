import { describe, expect, it } from "vitest";
import { isSecretName, redactUrl } from "./redact.ts";
import { redactUrl as fromPostgres, openPostgresStore } from "./stores/postgres.ts";

describe("redactUrl", () => {
  it("masks the password of user:password@, keeping the user", () => {
    expect(redactUrl("postgres://u:p@h:5432/d")).toBe("postgres://u:***@h:5432/d");
    expect(redactUrl("https://only-user@example.com/v1")).toBe("https://only-user@example.com/v1");
  });

  it("masks every secret-looking query parameter, whatever its case, and keeps the others", () => {
    const secrets = [
      "password",
      "PASSWORD",
      "Pass",
      "pwd",
      "passwd",
      "sslpassword",
      "token",
      "access_token",
      "key",
      "api_key",
      "apikey",
      "Api-Key",
      "secret",
      "client_secret",
    ];
    for (const name of secrets) {
      const out = redactUrl(`postgres://u@db.example:5432/app?sslmode=require&${name}=hunter2&x=1`);
      expect(out, name).not.toContain("hunter2");
      expect(out, name).toContain(`${name}=***`);
      expect(out, name).toContain("sslmode=require");
      expect(out, name).toContain("x=1");
    }
  });

  it("masks both forms at once, every repeat, and percent-encoded names", () => {
    const out = redactUrl(
      "postgresql://admin:s3cr3t@h/db?password=p1&PASSWORD=p2&pass%77ord=p3&application_name=sluice",
    );
    expect(out).toBe(
      "postgresql://admin:***@h/db?password=***&PASSWORD=***&pass%77ord=***&application_name=sluice",
    );
  });

  it("masks secrets in the fragment too (tokens handed over after #)", () => {
    expect(redactUrl("https://example.com/cb#access_token=abc&state=1")).toBe(
      "https://example.com/cb#access_token=***&state=1",
    );
  });

  it("masks an unparseable URL that still holds secrets, rather than printing it whole", () => {
    const outs = [
      redactUrl("postgres://user:hunter2@host:notaport/db?password=hunter3"),
      redactUrl("postgres://[bad-host/db?sslmode=disable&password=hunter3"),
      redactUrl("host=localhost password=hunter3 dbname=x"),
      redactUrl("not a url ?token=hunter3;key=hunter4"),
    ];
    for (const out of outs) {
      expect(out).not.toMatch(/hunter/);
      expect(out).toContain("***");
    }
    expect(outs[0]).toContain("host:notaport");
    expect(outs[2]).toContain("dbname=x");
  });

  it("leaves a URL without secrets as it is", () => {
    expect(redactUrl("http://127.0.0.1:8080/v1")).toBe("http://127.0.0.1:8080/v1");
    expect(redactUrl("postgres://h/db?sslmode=require")).toBe("postgres://h/db?sslmode=require");
  });

  it("is what the Postgres store exports", () => {
    expect(fromPostgres).toBe(redactUrl);
  });
});

describe("isSecretName", () => {
  it("tells secret parameter names from ordinary ones", () => {
    for (const name of [
      "password",
      "sslpassword",
      "X-Api-Key",
      "auth_token",
      "sig",
      "passphrase",
    ]) {
      expect(isSecretName(name), name).toBe(true);
    }
    for (const name of ["sslmode", "host", "user", "dbname", "application_name", "keepalives"]) {
      expect(isSecretName(name), name).toBe(false);
    }
  });
});

describe("Postgres store errors", () => {
  const open = (url: string) =>
    openPostgresStore({ url, access: { mode: "read" } } as Parameters<
      typeof openPostgresStore
    >[0]).then(
      () => new Error("opened"),
      (e: unknown) => e as Error,
    );

  it("never print a password given as a query parameter", async () => {
    const unreachable = await open("postgres://user@127.0.0.1:1/db?password=hunter2");
    expect(unreachable.message).toContain("127.0.0.1:1");
    expect(unreachable.message).toContain("password=***");
    expect(unreachable.message).not.toContain("hunter2");
    const notPostgres = await open("mysql://db/x?password=hunter2");
    expect(notPostgres.message).toContain("password=***");
    expect(notPostgres.message).not.toContain("hunter2");
  });
});
