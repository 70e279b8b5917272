/**
 * A real Postgres server for the tests that need two sessions (advisory locks), which PGlite
 * cannot give: started from this machine's binaries (`pg_config --bindir`) when it has them, on
 * a free loopback port, in a temporary folder. Postgres refuses to run as root, so as root the
 * server runs as the `postgres` user. No pgvector is needed for the lock.
 */
import { spawnSync } from "node:child_process";
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The server binaries, and the command prefix that runs them as a non-root user. */
export interface RealPostgresBinaries {
  readonly bin: string;
  readonly asUser: readonly string[];
}

/** A started server: its URL (password `secret`, ignored by trust auth) and how to stop it. */
export interface RealPostgres {
  readonly url: string;
  stop(): void;
}

/** This machine's Postgres binaries, or undefined when there are none (tests then skip). */
export function findRealPostgres(): RealPostgresBinaries | undefined {
  const probe = spawnSync("pg_config", ["--bindir"], { encoding: "utf8" });
  const bin = probe.status === 0 ? probe.stdout.trim() : undefined;
  if (bin === undefined || spawnSync(join(bin, "initdb"), ["--version"]).status !== 0) {
    return undefined;
  }
  if (process.getuid?.() !== 0) return { bin, asUser: [] };
  const hasUser = spawnSync("id", ["-u", "postgres"]).status === 0;
  const hasRunuser = spawnSync("runuser", ["--version"]).status === 0;
  return hasUser && hasRunuser ? { bin, asUser: ["runuser", "-u", "postgres", "--"] } : undefined;
}

/** initdb + pg_ctl start in a fresh folder; `stop()` stops it and removes the folder. */
export async function startRealPostgres(server: RealPostgresBinaries): Promise<RealPostgres> {
  const run = (tool: string, args: string[]) => {
    const [command, ...prefix] = [...server.asUser, join(server.bin, tool)];
    const result = spawnSync(command as string, [...prefix, ...args], { encoding: "utf8" });
    if (result.status !== 0) throw new Error(`${tool} failed: ${result.stderr}`);
  };
  const base = mkdtempSync(join(tmpdir(), "sluice-realpg-"));
  if (server.asUser.length > 0) {
    const uid = Number(spawnSync("id", ["-u", "postgres"], { encoding: "utf8" }).stdout);
    const gid = Number(spawnSync("id", ["-g", "postgres"], { encoding: "utf8" }).stdout);
    chownSync(base, uid, gid);
  }
  try {
    const port = await freePort();
    run("initdb", ["-D", join(base, "data"), "-A", "trust", "-U", "postgres"]);
    run("pg_ctl", [
      "-D",
      join(base, "data"),
      "-o",
      `-p ${port} -k ${base} -c listen_addresses=127.0.0.1`,
      "-l",
      join(base, "log"),
      "-w",
      "start",
    ]);
    return {
      url: `postgres://postgres:secret@127.0.0.1:${port}/postgres`,
      stop() {
        try {
          run("pg_ctl", ["-D", join(base, "data"), "-m", "immediate", "-w", "stop"]);
        } finally {
          rmSync(base, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    rmSync(base, { recursive: true, force: true });
    throw error;
  }
}

/** A TCP port nobody listens on at this moment. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}
