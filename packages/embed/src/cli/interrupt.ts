/** How long the first Ctrl-C lets a run wind down before the process exits anyway. */
export const INTERRUPT_GRACE_MS = 500;

/** The exit code of a run ended by Ctrl-C (128 + SIGINT). */
export const INTERRUPTED_EXIT_CODE = 130;

/** Ctrl-C (and SIGTERM) handling for one CLI run; see {@link handleInterrupts}. */
export interface InterruptHandling {
  /** Aborted by the first signal. */
  readonly signal: AbortSignal;
  /**
   * The run is over. Before any signal: stops listening. After one: the process exits with 130
   * as soon as the caller's current turn is done (it has closed the store and said so): a
   * handle some library leaves open must not keep an interrupted process alive.
   */
  dispose(): void;
}

/** Options of {@link handleInterrupts}. */
export interface InterruptOptions {
  /** Where the notices go. */
  readonly stderr: NodeJS.WritableStream;
  /** Default {@link INTERRUPT_GRACE_MS}. */
  readonly graceMs?: number;
  /** Default `process.exit`. */
  readonly exit?: (code: number) => void;
}

/**
 * Makes SIGINT and SIGTERM end a run promptly. The first aborts the returned signal, so the run
 * stops its work in flight and closes its store; if that has not ended the process within the
 * grace period, it exits with 130 anyway. That is safe at any moment: a file is committed only
 * once all its chunks are stored, so an exit between writes leaves what was committed and the
 * next run redoes the rest. A second signal exits with 130 at once.
 */
export function handleInterrupts(options: InterruptOptions): InterruptHandling {
  const controller = new AbortController();
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const graceMs = options.graceMs ?? INTERRUPT_GRACE_MS;
  let disposed = false;
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      options.stderr.write("sluice: interrupted again; exiting now\n");
      exit(INTERRUPTED_EXIT_CODE);
      return;
    }
    controller.abort(new Error(`interrupted (${name})`));
    // Unref'd: a run that ends by itself in time exits without waiting for it.
    setTimeout(() => {
      options.stderr.write(
        "sluice: interrupted; stopping took too long, exiting now (what was committed stays; re-run to resume)\n",
      );
      exit(INTERRUPTED_EXIT_CODE);
    }, graceMs).unref();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    signal: controller.signal,
    dispose() {
      if (disposed) return;
      disposed = true;
      if (controller.signal.aborted) {
        // Still listening: a second Ctrl-C meanwhile exits at once, as promised.
        setImmediate(() => exit(INTERRUPTED_EXIT_CODE));
        return;
      }
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}
