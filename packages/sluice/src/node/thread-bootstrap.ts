// The code every pool worker runs, and the messages it exchanges with the pool. The bootstrap
// is source text run with `eval: true`, not a file: sluice is loaded from TypeScript sources in
// this repository and from dist/ when published, and a worker entry file would have to exist
// (compiled) next to whichever one is running. As text it works from both, and it needs no
// loader: it imports the preload module, then the task module, by URL.

/** What a worker is told at start, as its `workerData`. */
export interface BootstrapData {
  /** The task module's URL. */
  readonly module: string;
  /** The export to call. */
  readonly exportName: string;
  /** A module imported before the task module (e.g. a TypeScript loader), by URL. */
  readonly preload: string | undefined;
}

/** One call, from the pool to a worker. */
export interface CallMessage {
  readonly id: number;
  readonly input: unknown;
}

/**
 * A thrown value as it crosses the thread boundary. Structured clone keeps only an Error's
 * name, message and stack (and only for built-in names); the data properties callers branch on
 * (`code`, `status`, `retryable`) would be lost, so the worker takes an Error apart itself.
 */
export type EncodedThrown =
  | {
      readonly error: true;
      readonly name: string;
      readonly message: string;
      readonly stack: string | undefined;
      /** Own enumerable properties that survive structured clone (the others are dropped). */
      readonly props: Record<string, unknown>;
      readonly cause?: EncodedThrown;
    }
  | { readonly error: false; readonly value: unknown };

/** What a worker answers: ready (or why it cannot start), then one reply per call. */
export type WorkerMessage =
  | { readonly type: "ready" }
  | { readonly type: "start-failed"; readonly error: EncodedThrown }
  | { readonly type: "done"; readonly id: number; readonly value: unknown }
  | { readonly type: "failed"; readonly id: number; readonly error: EncodedThrown };

/** The key under which a task's result may list what to transfer back instead of copying. */
export const TRANSFER_KEY = "sluice.threadPool.transfer";

// Plain ES2022 in a CommonJS script (what `eval: true` runs): `require` and dynamic `import()`
// are both available there. No template literals inside, so this stays one literal.
export const BOOTSTRAP = `"use strict";
const { parentPort, workerData } = require("node:worker_threads");
const TRANSFER = Symbol.for(${JSON.stringify(TRANSFER_KEY)});
// DOMExceptions (a DataCloneError) have a tag of their own; errors of other realms fail instanceof.
const isError = (value) =>
  value instanceof Error || Object.prototype.toString.call(value) === "[object Error]";

function encode(thrown, depth) {
  try {
    if (!isError(thrown)) {
      try {
        return { error: false, value: structuredClone(thrown) };
      } catch {
        return { error: false, value: String(thrown) };
      }
    }
    const props = {};
    for (const key of Object.keys(thrown)) {
      if (key === "name" || key === "message" || key === "stack" || key === "cause") continue;
      try {
        props[key] = structuredClone(thrown[key]);
      } catch {}
    }
    const out = {
      error: true,
      name: String(thrown.name),
      message: String(thrown.message),
      stack: typeof thrown.stack === "string" ? thrown.stack : undefined,
      props,
    };
    if ("cause" in thrown && depth < 8) out.cause = encode(thrown.cause, depth + 1);
    return out;
  } catch {
    return { error: true, name: "Error", message: "an error that could not be read", stack: undefined, props: {} };
  }
}

let task;

async function onCall(call) {
  let value;
  try {
    value = await task(call.input);
  } catch (thrown) {
    parentPort.postMessage({ type: "failed", id: call.id, error: encode(thrown, 0) });
    return;
  }
  const list =
    value !== null && (typeof value === "object" || typeof value === "function") && Array.isArray(value[TRANSFER])
      ? value[TRANSFER]
      : undefined;
  try {
    parentPort.postMessage({ type: "done", id: call.id, value }, list);
  } catch (thrown) {
    parentPort.postMessage({ type: "failed", id: call.id, error: encode(thrown, 0) });
  }
}

(async () => {
  try {
    if (workerData.preload !== undefined) await import(workerData.preload);
    const module = await import(workerData.module);
    task = module[workerData.exportName];
    if (typeof task !== "function") {
      throw new TypeError(
        workerData.exportName in module
          ? "its export " + JSON.stringify(workerData.exportName) + " is a " + typeof task + ", not a function"
          : "it has no export " + JSON.stringify(workerData.exportName),
      );
    }
  } catch (thrown) {
    // Nothing listens on the port yet, so the worker exits once this is sent.
    parentPort.postMessage({ type: "start-failed", error: encode(thrown, 0) });
    return;
  }
  // One call at a time, in the order sent: calls sent ahead wait here for the one running,
  // also while an async task awaits.
  let running = Promise.resolve();
  parentPort.on("message", (call) => {
    running = running.then(() => onCall(call));
  });
  parentPort.postMessage({ type: "ready" });
})();
`;
