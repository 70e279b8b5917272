import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redisStreamSink } from "./stream-sink.js";
import { type RedisServer, startRedisServer } from "./testing/redis-server.js";

const root = fileURLToPath(new URL("../../..", import.meta.url));
const fixture = fileURLToPath(new URL("./fixtures/consumer.ts", import.meta.url));

let server: RedisServer;
let admin: Redis;

beforeAll(async () => {
  server = await startRedisServer();
  admin = new Redis(server.url);
});

afterAll(async () => {
  await admin?.quit();
  await server?.stop();
});

function consumer(name: string, claimIdleMs: number): ChildProcess {
  // Run from the repository root, so that tsx maps "sluice" to the library's sources.
  return spawn(
    process.execPath,
    ["--import", "tsx", fixture, server.url, "jobs", name, String(claimIdleMs)],
    {
      cwd: root,
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
}

const exitOf = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
    } else child.once("exit", (code, signal) => resolve({ code, signal }));
  });

describe("a consumer killed mid-run", () => {
  it("loses nothing: another consumer claims what it left pending", async () => {
    const sink = redisStreamSink<{ n: number }>({ connection: server.url, stream: "jobs" });
    await sink.writeAll(Array.from({ length: 300 }, (_, n) => ({ n })));
    await sink.close();

    const a = consumer("a", 60_000);
    let stderr = "";
    a.stderr?.on("data", (d) => {
      stderr += String(d);
    });
    // Let it get going, then kill it as a crash would.
    const deadline = Date.now() + 20_000;
    while ((await admin.hlen("processed")) < 40) {
      if (Date.now() > deadline || a.exitCode !== null)
        throw new Error(`consumer a did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    a.kill("SIGKILL");
    expect((await exitOf(a)).signal).toBe("SIGKILL");
    const pendingWithA = ((await admin.xpending("jobs", "g")) as [number])[0];
    expect(pendingWithA).toBeGreaterThan(0); // read but not acknowledged when it died

    const b = consumer("b", 300);
    let bErr = "";
    b.stderr?.on("data", (d) => {
      bErr += String(d);
    });
    const exit = await exitOf(b);
    expect(exit.code, bErr).toBe(0);

    const processed = (await admin.hgetall("processed")) as Record<string, string>;
    expect(Object.keys(processed)).toHaveLength(300);
    expect(((await admin.xpending("jobs", "g")) as [number])[0]).toBe(0);
    // At least once: only what "a" had in hand when it died can have been done twice.
    const twice = Object.values(processed).filter((count) => Number(count) > 1).length;
    expect(twice).toBeLessThanOrEqual(pendingWithA);
  }, 60_000);
});
