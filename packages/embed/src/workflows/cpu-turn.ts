// Turns for CPU-bound work in a streaming run. A parallel stage starts its items in one go, and a
// synchronous function (parsing markdown, counting tokens) runs as soon as it is called: four
// files cleaned back to back hold the event loop for tens of milliseconds, while embedding
// requests wait to be sent and their answers wait to be read. Awaiting a turn first runs each
// piece of CPU work in an event-loop iteration of its own, so I/O is handled between them.

interface Waiter {
  readonly resolve: () => void;
  /** Arrival order, over all kinds. */
  readonly seq: number;
}

/** Callers waiting, by kind of work, each queue in arrival order. */
const queues = new Map<string, Waiter[]>();
let waiting = 0;
let arrivals = 0;
let scheduled = false;
let lastKind: string | undefined;

/** The queue to serve next: the last kind served while it has callers, else the oldest caller's. */
function nextQueue(): Waiter[] | undefined {
  const same = lastKind === undefined ? undefined : queues.get(lastKind);
  if (same !== undefined && same.length > 0) return same;
  let oldest: Waiter[] | undefined;
  for (const [kind, queue] of queues) {
    const head = queue[0];
    if (head !== undefined && (oldest === undefined || head.seq < (oldest[0] as Waiter).seq)) {
      oldest = queue;
      lastKind = kind;
    }
  }
  return oldest;
}

function grant(): void {
  const next = nextQueue()?.shift();
  waiting -= 1;
  // Scheduled from inside an immediate, the next grant waits for the next loop iteration: the
  // poll phase (sockets, files, timers) comes first.
  if (waiting > 0) setImmediate(grant);
  else scheduled = false;
  next?.resolve();
}

/**
 * Resolves when it is the caller's turn: one caller per event-loop iteration, with pending I/O
 * callbacks handled in between. Callers of the kind served last go first while there are any
 * (the same code and tables stay in the CPU's caches, as when a batch runs one stage over many
 * items); otherwise the caller that has waited longest. Await it right before a synchronous,
 * CPU-heavy piece of work.
 */
export function cpuTurn(kind = ""): Promise<void> {
  return new Promise((resolve) => {
    let queue = queues.get(kind);
    if (queue === undefined) {
      queue = [];
      queues.set(kind, queue);
    }
    queue.push({ resolve, seq: arrivals++ });
    waiting += 1;
    if (!scheduled) {
      scheduled = true;
      setImmediate(grant);
    }
  });
}

/** Runs `work` in its turn (see {@link cpuTurn}). */
export async function inCpuTurn<T>(work: () => T | Promise<T>, kind = ""): Promise<T> {
  await cpuTurn(kind);
  return work();
}
