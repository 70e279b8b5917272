// The messages between the parse pool and its worker threads.
import type { CleanBlock } from "../steps/clean.ts";

/** A file for a worker to clean, as `cleanMarkdown` takes it. */
export interface ParseRequest {
  readonly id: number;
  readonly markdown: string;
  readonly lineOffset: number;
  readonly removeSections: readonly string[];
}

/** What a worker answers: ready once loaded, then one reply per request. */
export type ParseReply =
  | { readonly type: "ready" }
  | { readonly type: "done"; readonly id: number; readonly blocks: readonly CleanBlock[] }
  | {
      readonly type: "failed";
      readonly id: number;
      /** The parse recursed past the stack: the markdown is nested too deep. */
      readonly tooDeep: boolean;
      readonly message: string;
    };
