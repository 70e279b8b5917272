// The body of a parse worker thread (started through parse-worker-entry.js): cleans the markdown
// it is sent and answers with the blocks. It runs one file at a time; the pool owns deadlines.
import { parentPort } from "node:worker_threads";
import { cleanMarkdown } from "../steps/clean.ts";
import type { ParseReply, ParseRequest } from "./parse-protocol.ts";

const port = parentPort;
if (port === null) throw new Error("parse-worker.ts must run in a worker thread");

port.on("message", (request: ParseRequest) => {
  let reply: ParseReply;
  try {
    const { blocks } = cleanMarkdown(request.markdown, {
      lineOffset: request.lineOffset,
      removeSections: request.removeSections,
    });
    reply = { type: "done", id: request.id, blocks };
  } catch (error) {
    reply = {
      type: "failed",
      id: request.id,
      // Deeply nested markdown (thousands of `>` or list levels) recurses past the stack.
      tooDeep: error instanceof RangeError && /call stack/i.test(error.message),
      message: error instanceof Error ? error.message : String(error),
    };
  }
  port.postMessage(reply);
});
port.postMessage({ type: "ready" } satisfies ParseReply);
