import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { generateCorpus } from "../corpus/generate.ts";
import { type ChatServer, startChatServer } from "../testing/chat-server.ts";
import { runSluice } from "../testing/sluice-process.ts";

let cwd: string;
let server: ChatServer | undefined;
const env = { ...process.env, OPENAI_API_KEY: "sk-test" };

/** Runs the real `sluice` command in the test folder, with an API key in its environment. */
const sluice = (...args: string[]) => runSluice({ cwd, env }, ...args);

beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), "sluice-ask-cli-"));
  await generateCorpus(join(cwd, "notes"), { files: 8, seed: 5 });
  const embed = await sluice("embed", "notes", "--store", "notes.db", "--quiet");
  expect(embed.code).toBe(0);
}, 60_000);
afterAll(async () => {
  await rm(cwd, { recursive: true, force: true });
});
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe("sluice ask", () => {
  it("streams the answer, then lists the cited source with its path and lines", async () => {
    server = await startChatServer();
    const result = await sluice(
      "ask",
      "what is a pipeline?",
      "--store",
      "notes.db",
      "--chat-endpoint",
      server.url,
      "--chat-model",
      "m1",
      "-k",
      "3",
    );
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^About "what is a pipeline\?": see \[1\]\.\n\nSources:\n {2}\[1\] \S+\.md:\d+-\d+ {2}\(score /,
    );
    expect(result.stdout).toMatch(/tokens: \d+ prompt, \d+ answer\n$/);
    const user = server.requests[0]?.messages.find((m) => m.role === "user")?.content ?? "";
    expect(user.match(/^\[\d\] /gm)).toEqual(["[1] ", "[2] ", "[3] "]);
  });

  it("prints { answer, sources, usage } with --json", async () => {
    server = await startChatServer();
    const result = await sluice(
      "ask",
      "bounded memory",
      "--store",
      "notes.db",
      "--chat-endpoint",
      server.url,
      "--rerank",
      "--json",
    );
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(out.answer).toBe('About "bounded memory": see [1].');
    expect(out.sources).toHaveLength(5);
    expect(out.sources[0]).toMatchObject({
      n: 1,
      cited: true,
      lines: { start: expect.any(Number) },
    });
    expect(out.sources[1].cited).toBe(false);
    expect(out.usage).toMatchObject({ completionTokens: expect.any(Number) });
    // Rerank drops chunks that overlap a better one of the same file.
    const spans = out.sources.map((s: { path: string }) => s.path);
    expect(spans.length).toBe(out.sources.length);
  });

  it("says on stderr why the answer is late when the endpoint fails and is retried", async () => {
    server = await startChatServer();
    server.fail({ kind: "status", status: 503 });
    const result = await sluice(
      "ask",
      "pipelines",
      "--store",
      "notes.db",
      "--chat-endpoint",
      server.url,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(
      /^sluice: note: chat endpoint http:\/\/127\.0\.0\.1:\d+\/v1 answered HTTP 503[^\n]*; trying again in \d+(\.\d)? s \(attempt 2 of 3\)\n$/,
    );
    expect(result.stdout).toMatch(/^About "pipelines"/);
  });

  it("keeps a stalled answer's start on screen and exits 1 with the reason", async () => {
    server = await startChatServer();
    server.fail({ kind: "stall", afterTokens: 2 });
    const result = await sluice(
      "ask",
      "pipelines",
      "--store",
      "notes.db",
      "--chat-endpoint",
      server.url,
      "--idle-timeout",
      "400",
    );
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('About "pipelines": \n');
    expect(result.stderr).toMatch(
      /^sluice: the answer from http:\/\/127\.0\.0\.1:\d+\/v1 stalled: nothing came for 400 ms \(the answer so far, 19 characters, stays above\)\n$/,
    );
  });

  it("reports an error event mid-answer with the server's message", async () => {
    server = await startChatServer();
    server.fail({ kind: "error-event", afterTokens: 1, message: "rate limit reached" });
    const result = await sluice("ask", "x", "--store", "notes.db", "--chat-endpoint", server.url);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/sent an error mid-answer: rate limit reached/);
  });

  it("stops at once on Ctrl-C, aborting the request (exit 130)", async () => {
    server = await startChatServer({ tokenDelayMs: 300 });
    let sent = 0;
    const result = await runSluice(
      {
        cwd,
        env,
        onSpawn: (child) => {
          child.stdout?.on("data", () => {
            if (sent++ === 0) {
              sent = Date.now();
              child.kill("SIGINT");
            }
          });
        },
      },
      "ask",
      "pipelines",
      "--store",
      "notes.db",
      "--chat-endpoint",
      server.url,
    );
    expect(result.code).toBe(130);
    expect(Date.now() - sent).toBeLessThan(3_000);
    expect(result.stderr).toMatch(/interrupted; the answer was cut off/);
    await expect.poll(() => server?.aborted, { timeout: 2_000 }).toBe(1);
  });

  it("says to embed first for a missing or empty store, and needs an API key", async () => {
    server = await startChatServer();
    const missing = await sluice("ask", "x", "--store", "none.db", "--chat-endpoint", server.url);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no store there; run "sluice embed <dir>" first/);
    const noKey = await runSluice(
      { cwd, env: { ...process.env, OPENAI_API_KEY: "" } },
      "ask",
      "x",
      "--store",
      "notes.db",
      "--chat-endpoint",
      server.url,
    );
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/needs an API key: set OPENAI_API_KEY/);
    expect(server.requests).toHaveLength(0);
  });
});
