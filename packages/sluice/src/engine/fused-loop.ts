import { EmitMode } from "./item-worker.js";
import { LoopStop } from "./loop-stop.js";

/**
 * Where a fused loop stopped: the stage, the value that stage received, and its result or
 * error. `kind` is a {@link LoopStop} value and is always written; the other fields are
 * written only when `kind` is not `LoopStop.NONE`, and keep their old values otherwise.
 */
export interface FusedStop {
  kind: LoopStop;
  stage: number;
  item: unknown;
  value: unknown;
}

/**
 * Runs a chunk through consecutive sync stages, item by item, pushing survivors to `out`.
 * `counts[j]` counts items that entered stage j. Returns the position it stopped at: the
 * chunk's end, or the item whose stage returned a promise or threw (described in `stop`).
 */
export type FusedLoop = (
  vals: readonly unknown[],
  pos: number,
  out: unknown[],
  counts: number[],
  stop: FusedStop,
) => number;

/**
 * Takes one item that is through stages 0 … from − 1 (the awaited result of stage
 * from − 1 applied) on from stage `from` (0: every stage): pushed to `out` or filtered out
 * (`stop.kind` LoopStop.NONE), or stopped again at a promise or a throw, described in `stop`.
 */
export type FusedResume = (
  from: number,
  item: unknown,
  out: unknown[],
  counts: number[],
  stop: FusedStop,
) => void;

/** A group's loop over a chunk, and the way back in for an item after an await. */
export interface FusedGroup {
  loop: FusedLoop;
  resume: FusedResume;
}

type Fn = (item: unknown) => unknown;

let generated = 0;
let codegen: boolean | undefined;

/**
 * Builds the fused loop (and resume) for a group of stages. Where the runtime allows
 * `new Function`, each group gets code of its own: every call site then sees one user
 * function, so V8 inlines it instead of paying a megamorphic call per item per stage. The
 * source is a fixed template (no user input reaches it). Where code generation is forbidden
 * (a strict Content-Security-Policy), a generic loop gives the same results, only slower.
 * Any other error from compiling the template is a bug in the template, and is thrown.
 */
export function fusedGroup(modes: readonly EmitMode[], fns: readonly Fn[]): FusedGroup {
  // Generated once per group of stages and reused by every run, so runs after the first
  // start with code V8 has already optimized.
  const first = fns[0];
  const cached =
    first === undefined ? undefined : cache.get(first)?.find((c) => sameGroup(c, modes, fns));
  if (cached !== undefined) return cached.group;
  const group = build(modes, fns);
  if (first !== undefined) {
    const list = cache.get(first) ?? [];
    list.push({ fns: [...fns], modes: [...modes], group });
    cache.set(first, list);
  }
  return group;
}

interface CachedLoop {
  fns: readonly Fn[];
  modes: readonly EmitMode[];
  group: FusedGroup;
}

const cache = new WeakMap<Fn, CachedLoop[]>();

function sameGroup(c: CachedLoop, modes: readonly EmitMode[], fns: readonly Fn[]): boolean {
  return (
    c.fns.length === fns.length && c.fns.every((f, i) => f === fns[i] && c.modes[i] === modes[i])
  );
}

function build(modes: readonly EmitMode[], fns: readonly Fn[]): FusedGroup {
  if (codegen !== false) {
    try {
      const group = { loop: generate(modes, fns), resume: generateResume(modes, fns) };
      codegen = true;
      return group;
    } catch (error) {
      // A refusal to compile strings is an EvalError wherever it is specified or seen: CSP's
      // EnsureCSPDoesNotBlockStringCompilation (browsers), V8's
      // --disallow-code-generation-from-strings (Node, Deno) and edge runtimes. Anything else
      // means the template is broken: falling back would hide that behind a slower process.
      if (!(error instanceof EvalError)) throw error;
      codegen = false;
    }
  }
  return genericGroup(modes, fns);
}

const THENABLE = (r: string) =>
  `((typeof ${r} === "object" && ${r} !== null) || typeof ${r} === "function") && typeof ${r}.then === "function"`;

/**
 * The template's code for stage `j`: count the item in, call the stage, leave through `stop`
 * on a promise, apply its emit mode (leaving through `drop` when a filter says no).
 */
function stageLines(
  mode: EmitMode | undefined,
  j: number,
  pad: string,
  counter: string,
  stop: string,
  drop: string,
): string[] {
  const lines = [
    `${pad}j = ${j}; ${counter}++; r = f${j}(v);`,
    `${pad}if (${THENABLE("r")}) { kind = ${LoopStop.AWAIT}; ${stop}; }`,
  ];
  if (mode === EmitMode.MAP) lines.push(`${pad}v = r;`);
  else if (mode === EmitMode.FILTER) lines.push(`${pad}if (!r) ${drop};`);
  return lines;
}

/** Compiles a template body with the stage functions bound as `f0`, `f1`, … */
function compile<T>(fns: readonly Fn[], lines: readonly string[]): T {
  const names = fns.map((_, j) => `f${j}`);
  const factory = new Function(...names, lines.join("\n")) as (...f: Fn[]) => T;
  return factory(...fns);
}

function generate(modes: readonly EmitMode[], fns: readonly Fn[]): FusedLoop {
  const k = fns.length;
  const lines: string[] = [];
  // A unique first line keeps V8's compilation cache from sharing one function (and its
  // call-site feedback) between groups.
  lines.push(`// sluice fused stage group #${++generated}`);
  lines.push("return function fusedLoop(vals, pos, out, counts, stop) {");
  for (let j = 0; j < k; j++) lines.push(`  let c${j} = counts[${j}];`);
  lines.push(`  let j = 0, v, r, kind = ${LoopStop.NONE};`);
  lines.push("  try {");
  // The length is read per item, not cached: a stop empties the chunk (see FusedItemStage).
  lines.push("    outer: for (; pos < vals.length; pos++) {");
  lines.push("      v = vals[pos];");
  for (let j = 0; j < k; j++) {
    lines.push(...stageLines(modes[j], j, "      ", `c${j}`, "break outer", "continue"));
  }
  lines.push("      out.push(v);");
  lines.push("    }");
  lines.push(`  } catch (e) { kind = ${LoopStop.THREW}; r = e; }`);
  for (let j = 0; j < k; j++) lines.push(`  counts[${j}] = c${j};`);
  lines.push(...stopLines());
  lines.push("  return pos;");
  lines.push("};");
  return compile<FusedLoop>(fns, lines);
}

function generateResume(modes: readonly EmitMode[], fns: readonly Fn[]): FusedResume {
  const k = fns.length;
  const lines: string[] = [];
  lines.push(`// sluice fused stage group resume #${generated}`);
  lines.push("return function fusedResume(from, v, out, counts, stop) {");
  lines.push(`  let j = from, r, kind = ${LoopStop.NONE};`);
  lines.push("  try {");
  lines.push("    item: {");
  // Cases fall through: the item enters at stage `from` and goes on through the rest.
  lines.push("      switch (from) {");
  for (let j = 0; j < k; j++) {
    lines.push(`      case ${j}:`);
    lines.push(...stageLines(modes[j], j, "        ", `counts[${j}]`, "break item", "break item"));
  }
  lines.push("      }");
  lines.push("      out.push(v);");
  lines.push("    }");
  lines.push(`  } catch (e) { kind = ${LoopStop.THREW}; r = e; }`);
  lines.push(...stopLines());
  lines.push("};");
  return compile<FusedResume>(fns, lines);
}

/** The template's exit: `kind` always, the rest only for a real stop (see {@link FusedStop}). */
function stopLines(): string[] {
  return [
    "  stop.kind = kind;",
    `  if (kind !== ${LoopStop.NONE}) { stop.stage = j; stop.item = v; stop.value = r; }`,
  ];
}

/**
 * The loop and resume used where code generation is forbidden; exported for tests, which
 * pin them to the same results as the generated ones.
 * @internal
 */
export function genericGroup(modes: readonly EmitMode[], fns: readonly Fn[]): FusedGroup {
  const resume = genericResume(modes, fns);
  return { loop: genericLoop(resume), resume };
}

function genericResume(modes: readonly EmitMode[], fns: readonly Fn[]): FusedResume {
  const k = fns.length;
  return (from, v, out, counts, stop) => {
    let j = from;
    let r: unknown;
    let kind: LoopStop = LoopStop.NONE;
    try {
      let kept = true;
      for (; j < k; j++) {
        counts[j] = (counts[j] ?? 0) + 1;
        r = (fns[j] as Fn)(v);
        if (
          ((typeof r === "object" && r !== null) || typeof r === "function") &&
          typeof (r as { then?: unknown }).then === "function"
        ) {
          kind = LoopStop.AWAIT;
          kept = false;
          break;
        }
        if (modes[j] === EmitMode.MAP) v = r;
        else if (modes[j] === EmitMode.FILTER && !r) {
          kept = false;
          break;
        }
      }
      if (kept) out.push(v);
    } catch (e) {
      kind = LoopStop.THREW;
      r = e;
    }
    stop.kind = kind;
    if (kind !== LoopStop.NONE) {
      stop.stage = j;
      stop.item = v;
      stop.value = r;
    }
  };
}

/** The generic loop: each item through every stage by the generic resume, from stage 0. */
function genericLoop(resume: FusedResume): FusedLoop {
  return (vals, pos, out, counts, stop) => {
    stop.kind = LoopStop.NONE;
    for (; pos < vals.length; pos++) {
      resume(0, vals[pos], out, counts, stop);
      if (stop.kind !== LoopStop.NONE) break;
    }
    return pos;
  };
}
