import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { acquireStoreLock } from "./store-lock.ts";
import { VectorStoreError } from "./vector-store.ts";

const LOCK_MODULE = new URL("./store-lock.ts", import.meta.url).href;
const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;

let dir: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-lock-"));
});

afterEach(async () => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
  await rm(dir, { recursive: true, force: true });
});

/** Runs a TypeScript snippet in a child node process; resolves with its exit code and output. */
function runScript(code: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", TSX, "--input-type=module", "-e", code], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (exitCode) => resolve({ code: exitCode, stdout, stderr }));
  });
}

/** A pid that certainly belonged to a process that has exited (and was reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  const pid = child.pid as number;
  await new Promise((resolve) => child.on("close", resolve));
  return pid;
}

/** A live child that sleeps until killed. */
async function sleepingChild(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], {
    stdio: "ignore",
  });
  children.push(child);
  await new Promise((resolve, reject) => {
    child.on("spawn", resolve);
    child.on("error", reject);
  });
  return child;
}

async function expectLocked(promise: Promise<unknown>, pid: number): Promise<VectorStoreError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(VectorStoreError);
  const storeError = error as VectorStoreError;
  expect(storeError.code).toBe("locked");
  expect(storeError.message).toContain(`locked by pid ${pid}`);
  return storeError;
}

describe("acquireStoreLock", () => {
  it("lets one holder in, refuses a second with the holder's pid, and frees on release", async () => {
    const target = join(dir, "store.db");
    const lock = await acquireStoreLock(target);
    expect(lock.path).toBe(`${target}.lock`);
    const owner = JSON.parse(await readFile(`${target}.lock`, "utf8"));
    expect(owner).toMatchObject({ pid: process.pid, hostname: hostname() });
    expect(Number.isNaN(Date.parse(owner.startedAt))).toBe(false);

    const error = await expectLocked(acquireStoreLock(target), process.pid);
    expect(error.message).toContain(`delete ${target}.lock`);

    await lock.release();
    await lock.release(); // idempotent
    expect(existsSync(`${target}.lock`)).toBe(false);
    const again = await acquireStoreLock(target);
    await again.release();
  });

  it("takes over a stale lock left by a process that is gone", async () => {
    const target = join(dir, "store.db");
    const pid = await deadPid();
    await writeFile(
      `${target}.lock`,
      JSON.stringify({ pid, hostname: hostname(), startedAt: "2020-01-01T00:00:00.000Z" }),
    );
    const lock = await acquireStoreLock(target);
    const owner = JSON.parse(await readFile(`${target}.lock`, "utf8"));
    expect(owner.pid).toBe(process.pid);
    await lock.release();
  });

  it("clears a break lock left by a breaker that died, then takes the stale lock", async () => {
    const target = join(dir, "store.db");
    const stale = JSON.stringify({
      pid: await deadPid(),
      hostname: hostname(),
      startedAt: "2020-01-01T00:00:00.000Z",
    });
    await writeFile(`${target}.lock`, stale);
    await writeFile(`${target}.lock.break`, stale);
    const lock = await acquireStoreLock(target);
    expect(existsSync(`${target}.lock.break`)).toBe(false);
    await lock.release();
  });

  it("respects a lock held by a live process, even past a short wait", async () => {
    const target = join(dir, "store.db");
    const child = await sleepingChild();
    await writeFile(
      `${target}.lock`,
      JSON.stringify({ pid: child.pid, hostname: hostname(), startedAt: new Date().toISOString() }),
    );
    await expectLocked(acquireStoreLock(target), child.pid as number);
    await expectLocked(acquireStoreLock(target, { waitMs: 250, pollMs: 20 }), child.pid as number);
    expect(JSON.parse(await readFile(`${target}.lock`, "utf8")).pid).toBe(child.pid);
  });

  it("never judges a lock from another host stale", async () => {
    const target = join(dir, "store.db");
    const pid = await deadPid();
    await writeFile(
      `${target}.lock`,
      JSON.stringify({ pid, hostname: `not-${hostname()}`, startedAt: new Date().toISOString() }),
    );
    const error = await expectLocked(acquireStoreLock(target), pid);
    expect(error.message).toContain(`on host not-${hostname()}`);
  });

  it("respects a lock file that names no process while it is fresh", async () => {
    const target = join(dir, "store.db");
    await writeFile(`${target}.lock`, "");
    const error = await acquireStoreLock(target).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "locked" });
    expect((error as Error).message).toContain("names no process");
    expect(existsSync(`${target}.lock`)).toBe(true);
  });

  it("takes over a lock file that has named no process for a while (a crash mid-write)", async () => {
    const target = join(dir, "store.db");
    await writeFile(`${target}.lock`, "");
    const old = new Date(Date.now() - 60_000);
    await utimes(`${target}.lock`, old, old);
    const lock = await acquireStoreLock(target);
    expect(JSON.parse(await readFile(`${target}.lock`, "utf8")).pid).toBe(process.pid);
    await lock.release();
  });

  it("leaves no file behind but the lock itself, and nothing after release", async () => {
    const target = join(dir, "store.db");
    const lock = await acquireStoreLock(target);
    expect(await readdir(dir)).toEqual(["store.db.lock"]);
    await acquireStoreLock(target).catch(() => undefined);
    expect(await readdir(dir)).toEqual(["store.db.lock"]);
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it("with waitMs, succeeds once the holder releases", async () => {
    const target = join(dir, "store.db");
    const first = await acquireStoreLock(target);
    const timer = setTimeout(() => void first.release(), 150);
    try {
      const second = await acquireStoreLock(target, { waitMs: 10_000, pollMs: 20 });
      await second.release();
    } finally {
      clearTimeout(timer);
    }
  });

  it("is respected across processes while the holder lives, and freed when it exits", async () => {
    const target = join(dir, "store.db");
    // The child takes the lock, reports, then exits without releasing once told to: the exit
    // safety net must remove the lock file.
    const script = `
      import { acquireStoreLock } from ${JSON.stringify(LOCK_MODULE)};
      await acquireStoreLock(${JSON.stringify(target)});
      process.stdout.write("held\\n");
      process.stdin.once("data", () => process.exit(0));
    `;
    const child = spawn(process.execPath, ["--import", TSX, "--input-type=module", "-e", script], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout?.once("data", () => resolve());
      child.once("error", reject);
      child.once("exit", (code) => reject(new Error(`child exited early with ${code}`)));
    });
    await expectLocked(acquireStoreLock(target), child.pid as number);
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.stdin?.write("go\n");
    expect(await exited).toBe(0);
    expect(existsSync(`${target}.lock`)).toBe(false);
    const lock = await acquireStoreLock(target);
    await lock.release();
  });

  it("lets exactly one of many concurrent takers of one stale lock win", async () => {
    const target = join(dir, "store.db");
    const pid = await deadPid();
    await writeFile(
      `${target}.lock`,
      JSON.stringify({ pid, hostname: hostname(), startedAt: "2020-01-01T00:00:00.000Z" }),
    );
    const script = `
      import { acquireStoreLock } from ${JSON.stringify(LOCK_MODULE)};
      try {
        await acquireStoreLock(${JSON.stringify(target)});
        process.stdout.write("won");
        setTimeout(() => {}, 2000);
      } catch (error) {
        process.stdout.write(error.code);
      }
    `;
    const results = await Promise.all([runScript(script), runScript(script), runScript(script)]);
    const outcomes = results.map((r) => r.stdout).sort();
    expect(outcomes).toEqual(["locked", "locked", "won"]);
  }, 30_000);
});
