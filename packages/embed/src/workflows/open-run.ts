// A run's two slow starts, overlapped: the prepare pool's workers load the markdown parser and
// the tokenizer (~0.4 s before a worker takes its first file, the larger part of the time to
// the first stored chunk) while this thread lists the folder, opens the store and reads what
// it holds.
import { performance } from "node:perf_hooks";
import { type EmbedConfig, type EmbedConfigInput, parseEmbedConfig } from "../config.ts";
import { type PreparePool, preparePoolFor } from "./prepare-pool.ts";
import { EmbedSession, type EmbedWorkflowOptions } from "./session.ts";

/** A run's session and the pool its files are prepared in. */
export interface OpenedRun {
  readonly session: EmbedSession;
  /** The caller's pool, else one made from the config (none for `threads: 0`). */
  readonly pool: PreparePool | undefined;
  /** Closes the pool (unless it is the caller's), then the session. */
  close(): Promise<void>;
}

/**
 * Opens a run for either workflow: validates the config, starts the pool's workers, then opens
 * the session (the folder listed, the embedder and the store; see `EmbedSession.open`). A run
 * that cannot open its session closes the workers it started.
 */
export async function openRun(
  input: EmbedConfigInput | EmbedConfig,
  options: EmbedWorkflowOptions,
): Promise<OpenedRun> {
  const startedAt = performance.now();
  const config = parseEmbedConfig(input, options);
  const pool = options.pool ?? preparePoolFor(config, options.signal);
  pool?.warmUp();
  const closePool = async () => {
    if (options.pool === undefined) await pool?.close();
  };
  let session: EmbedSession;
  try {
    session = await EmbedSession.open(config, options, startedAt);
  } catch (error) {
    await closePool();
    throw error;
  }
  return {
    session,
    pool,
    async close() {
      try {
        await closePool();
      } finally {
        await session.close();
      }
    },
  };
}
