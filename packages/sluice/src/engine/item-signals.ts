/**
 * Per-item abort controllers, reused where building one is costly. Node builds an
 * AbortSignal in JavaScript (about 5–10 µs and a few hundred bytes of garbage each, more
 * than the rest of a parallel stage's work per item), so a stage whose calls read
 * `ctx.signal` would spend most of its time making signals. There, a controller whose call
 * settled goes back to its stage's pool and serves a later call, but only when nothing can
 * still be attached to it: not aborted, `onabort` unset, and every listener added through
 * its `addEventListener` removed again. Everything in Node that attaches to a signal (timers,
 * streams, `fetch`, `events.addAbortListener`) goes through that method, which each pooled
 * signal counts on itself. The pool is the process's, not a run's: a process that runs many
 * short pipelines would otherwise build its signals again in every run. Elsewhere (browsers,
 * Bun, Deno) signals are cheap to build and some built-ins attach to them without listeners,
 * so every call gets a fresh one.
 */

type Listener = unknown;

/** What may be attached to a pooled controller's signal, kept on the controller itself. */
interface Attached {
  readonly signal: AbortSignal;
  /** Listeners added through `addEventListener` and not removed, by type and capture flag. */
  readonly byKey: Map<string, Set<Listener>>;
  /** How many listeners `byKey` holds in all. */
  live: number;
  /** Whether `onabort` holds a handler. */
  handler: boolean;
}

// On the controller rather than in a WeakMap from its signal: the check runs once per call.
const ATTACHED: unique symbol = Symbol("sluice.attached");
type Counted = AbortController & { [ATTACHED]?: Attached };

/** Whether this runtime pools per-item signals (Node). @internal */
export const signalPooling = ((): boolean => {
  const g = globalThis as {
    process?: { versions?: { node?: string } };
    Deno?: unknown;
    Bun?: unknown;
  };
  return (
    typeof g.process?.versions?.node === "string" && g.Deno === undefined && g.Bun === undefined
  );
})();

/** Controllers of settled calls, ready to serve later calls of any run. */
const spare: AbortController[] = [];
/** Enough for every call of a few stages at a concurrency of hundreds; a few hundred KB. */
const MAX_SPARE = 1024;

/** Where a controller sits in its stage's list of calls in flight. */
const SLOT: unique symbol = Symbol("sluice.slot");
type Slotted = AbortController & { [SLOT]?: number | undefined };

/**
 * The controllers of one stage's calls in flight, for the stage's stop to abort, in the order
 * the calls started. An array with each controller's place kept on the controller, so that
 * adding one and removing it (once each per call that reads its signal) cost a few property
 * writes, not a `Set`'s hashing; a removal leaves a hole, and the holes are squeezed out once
 * they are most of the array. A controller is in one such list at a time: it serves one call.
 */
export class InFlightControllers {
  private list: (Slotted | undefined)[] = [];
  private holes = 0;

  add(controller: AbortController): void {
    (controller as Slotted)[SLOT] = this.list.length;
    this.list.push(controller);
  }

  /** Takes `controller` out; false if it was not in (taken out by `drain` already). */
  delete(controller: AbortController): boolean {
    const c = controller as Slotted;
    const slot = c[SLOT];
    const list = this.list;
    if (slot === undefined || list[slot] !== c) return false;
    c[SLOT] = undefined;
    list[slot] = undefined;
    this.holes++;
    if (this.holes > MIN_HOLES && this.holes * 2 > list.length) this.squeeze();
    return true;
  }

  /** Takes every controller out and returns them, first started first. */
  drain(): AbortController[] {
    const all: AbortController[] = [];
    for (const c of this.list) {
      if (c === undefined) continue;
      c[SLOT] = undefined;
      all.push(c);
    }
    this.list = [];
    this.holes = 0;
    return all;
  }

  private squeeze(): void {
    const list = this.list;
    let kept = 0;
    for (const c of list) {
      if (c === undefined) continue;
      c[SLOT] = kept;
      list[kept++] = c;
    }
    list.length = kept;
    this.holes = 0;
  }
}

/** Holes allowed before a squeeze however short the list: a squeeze per call would cost more. */
const MIN_HOLES = 32;

/** A controller for one item's call: a spare one when there is one. */
export function takeItemController(): AbortController {
  return spare.pop() ?? newItemController();
}

/** The call settled: its controller serves a later call if nothing is attached to it. */
export function returnItemController(controller: AbortController): void {
  if (spare.length < MAX_SPARE && reusable(controller)) spare.push(controller);
}

/** A fresh controller for one item's call; counted when it may be pooled. */
function newItemController(): AbortController {
  const controller: Counted = new AbortController();
  if (signalPooling) controller[ATTACHED] = countAttached(controller.signal);
  return controller;
}

/** Whether a settled call's controller can serve another call (see the module comment). */
function reusable(controller: Counted): boolean {
  const attached = controller[ATTACHED];
  return (
    attached !== undefined && attached.live === 0 && !attached.handler && !attached.signal.aborted
  );
}

function captureOf(options: unknown): boolean {
  if (typeof options === "boolean") return options;
  return (
    typeof options === "object" &&
    options !== null &&
    (options as { capture?: unknown }).capture === true
  );
}

/**
 * Shadows the signal's own `addEventListener` / `removeEventListener` with versions that keep
 * count (with EventTarget's identity rule: type, listener and capture), then call through, and
 * its `onabort` with an accessor that notes whether a handler is set.
 */
function countAttached(signal: AbortSignal): Attached {
  const attached: Attached = { signal, byKey: new Map(), live: 0, handler: false };
  const { byKey } = attached;
  const add = signal.addEventListener;
  const remove = signal.removeEventListener;
  const onabort = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(signal), "onabort");
  Object.defineProperties(signal, {
    addEventListener: {
      configurable: true,
      writable: true,
      value(this: AbortSignal, type: string, listener: Listener, options?: unknown): void {
        if (listener !== null && listener !== undefined) {
          const key = `${type}\u0000${captureOf(options)}`;
          let set = byKey.get(key);
          if (set === undefined) byKey.set(key, (set = new Set()));
          if (!set.has(listener)) {
            set.add(listener);
            attached.live++;
          }
        }
        Reflect.apply(add, this, [type, listener, options]);
      },
    },
    removeEventListener: {
      configurable: true,
      writable: true,
      value(this: AbortSignal, type: string, listener: Listener, options?: unknown): void {
        if (byKey.get(`${type}\u0000${captureOf(options)}`)?.delete(listener)) attached.live--;
        Reflect.apply(remove, this, [type, listener, options]);
      },
    },
  });
  if (onabort?.get !== undefined && onabort.set !== undefined) {
    const { get, set } = onabort;
    Object.defineProperty(signal, "onabort", {
      configurable: true,
      enumerable: onabort.enumerable ?? false,
      get(this: AbortSignal) {
        return Reflect.apply(get, this, []);
      },
      set(this: AbortSignal, value: unknown) {
        Reflect.apply(set, this, [value]);
        // As the getter reads it back: EventTarget keeps only functions and objects.
        attached.handler = Reflect.apply(get, this, []) !== null;
      },
    });
  } else {
    // No accessor to shadow: such a signal is never pooled.
    attached.handler = true;
  }
  return attached;
}
