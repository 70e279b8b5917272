// The loopback embedding server in a child process of its own, for benchmarks: in the same
// process, the server's work (parsing requests, hashing texts, encoding answers) would compete
// for the CPU with the pipeline it is measuring. This module is both the parent's API and, run
// as a script, the child.
import { type ChildProcess, fork } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  type EmbeddingFault,
  type EmbeddingServerLoad,
  type EmbeddingServerOptions,
  startEmbeddingServer,
} from "./embedding-server.ts";

/** {@link EmbeddingServerLoad} plus the CPU time of the server's process. */
export interface EmbeddingServerProcessLoad extends EmbeddingServerLoad {
  /** User + system CPU time of the child process so far, in milliseconds. */
  readonly cpuMs: number;
}

/** A loopback embedding server running in a child process. */
export interface EmbeddingServerProcess {
  /** Base URL including `/v1`, for an OpenAI client's `baseURL`. */
  readonly url: string;
  /** The child's process id. */
  readonly pid: number;
  /** Asks the child how busy its server has been so far. */
  load(): Promise<EmbeddingServerProcessLoad>;
  /** Queues faults in the child's server (see `EmbeddingServer.injectFaults`); resolves once queued. */
  injectFaults(...faults: EmbeddingFault[]): Promise<void>;
  /** Closes the server, ends the child and returns the server's final load. */
  close(): Promise<EmbeddingServerProcessLoad>;
}

/** Options of {@link startEmbeddingServerProcess}: the server's, plus a start-up limit. */
export interface EmbeddingServerProcessOptions extends EmbeddingServerOptions {
  /** Most time to wait for the child to start listening; default 30 s. */
  readonly startTimeoutMs?: number;
}

type ToChild =
  | { readonly type: "load" }
  | { readonly type: "close" }
  | { readonly type: "faults"; readonly faults: readonly EmbeddingFault[] };
type FromChild =
  | { readonly type: "listening"; readonly url: string }
  | { readonly type: "faults" }
  | { readonly type: "load"; readonly load: EmbeddingServerProcessLoad }
  | { readonly type: "closed"; readonly load: EmbeddingServerProcessLoad };

const SELF = fileURLToPath(import.meta.url);
/** Marks the child's command line, so the module knows it runs as the child. */
const CHILD_FLAG = "--sluice-embedding-server-child";

/**
 * Starts {@link startEmbeddingServer} (127.0.0.1, free port) in a child process with its own
 * CPU time, and resolves once it listens. The child runs this TypeScript file through tsx's
 * loader (a development dependency of the repository) and ends when `close()` is called or the
 * parent goes away. Benchmarks must `close()` it.
 */
export function startEmbeddingServerProcess(
  options: EmbeddingServerProcessOptions = {},
): Promise<EmbeddingServerProcess> {
  const { startTimeoutMs = 30_000, ...serverOptions } = options;
  const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
  const child = fork(SELF, [CHILD_FLAG, JSON.stringify(serverOptions)], {
    execArgv: ["--import", tsxLoader],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`embedding server process did not start within ${startTimeoutMs} ms`));
    }, startTimeoutMs);
    const failed = (why: string) => {
      clearTimeout(timer);
      reject(new Error(`embedding server process ${why}`));
    };
    child.once("error", (error) => failed(`failed: ${error.message}`));
    child.once("exit", (code, signal) => failed(`exited (code ${code}, signal ${signal})`));
    child.once("message", (message: FromChild) => {
      clearTimeout(timer);
      child.removeAllListeners("exit");
      child.removeAllListeners("error");
      if (message.type !== "listening") {
        child.kill("SIGKILL");
        reject(new Error(`embedding server process sent ${message.type} before listening`));
        return;
      }
      resolve(serverProcess(child, message.url));
    });
  });
}

function serverProcess(child: ChildProcess, url: string): EmbeddingServerProcess {
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
  const ask = <A extends FromChild["type"]>(request: ToChild, answer: A) =>
    new Promise<Extract<FromChild, { type: A }>>((resolve, reject) => {
      const onMessage = (message: FromChild) => {
        if (message.type !== answer) return;
        child.off("message", onMessage);
        resolve(message as Extract<FromChild, { type: A }>);
      };
      child.on("message", onMessage);
      exited.then(() => {
        child.off("message", onMessage);
        reject(new Error("embedding server process has exited"));
      });
      child.send(request);
    });
  let closing: Promise<EmbeddingServerProcessLoad> | undefined;
  return {
    url,
    pid: child.pid ?? -1,
    load: async () => (await ask({ type: "load" }, "load")).load,
    injectFaults: async (...faults) => {
      await ask({ type: "faults", faults }, "faults");
    },
    close: () => {
      closing ??= (async () => {
        const { load } = await ask({ type: "close" }, "closed");
        await exited;
        return load;
      })();
      return closing;
    },
  };
}

/** The child: serves until the parent says close or goes away. */
async function runChild(optionsJson: string): Promise<void> {
  const send = (message: FromChild) =>
    new Promise<void>((resolve) => {
      process.send?.(message, undefined, {}, () => resolve());
    });
  const server = await startEmbeddingServer(JSON.parse(optionsJson) as EmbeddingServerOptions);
  const load = (): EmbeddingServerProcessLoad => {
    const cpu = process.cpuUsage();
    return { ...server.load(), cpuMs: (cpu.user + cpu.system) / 1000 };
  };
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      await server.close();
      if (process.connected) await send({ type: "closed", load: load() });
      if (process.connected) process.disconnect();
    })();
    return closing;
  };
  process.on("message", (message: ToChild) => {
    if (message.type === "load") void send({ type: "load", load: load() });
    else if (message.type === "faults") {
      server.injectFaults(...message.faults);
      void send({ type: "faults" });
    } else if (message.type === "close") void close();
  });
  process.on("disconnect", () => void close());
  await send({ type: "listening", url: server.url });
}

if (process.argv[2] === CHILD_FLAG && process.send !== undefined) {
  await runChild(process.argv[3] ?? "{}");
}
