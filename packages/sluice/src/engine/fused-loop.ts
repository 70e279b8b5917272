import { EmitMode } from "./item-worker.js";

/** Why a fused loop stopped before the end of its chunk. */
export const STOP_NONE = 0;
export const STOP_AWAIT = 1;
export const STOP_THREW = 2;

/** Where a fused loop stopped: the stage, the value that stage received, and its result or error. */
export interface FusedStop {
  kind: number;
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

type Fn = (item: unknown) => unknown;

let generated = 0;
let codegen: boolean | undefined;

/**
 * Builds the fused loop for a group of stages. Where the runtime allows `new Function`,
 * each group gets code of its own: every call site then sees one user function, so V8
 * inlines it instead of paying a megamorphic call per item per stage. The source is a
 * fixed template (no user input reaches it). Where code generation is forbidden (a strict
 * Content-Security-Policy), a generic loop gives the same results, only slower.
 */
export function fusedLoop(modes: readonly EmitMode[], fns: readonly Fn[]): FusedLoop {
  // Generated once per group of stages and reused by every run, so runs after the first
  // start with code V8 has already optimized.
  const first = fns[0];
  const cached =
    first === undefined ? undefined : cache.get(first)?.find((c) => sameGroup(c, modes, fns));
  if (cached !== undefined) return cached.loop;
  const loop = build(modes, fns);
  if (first !== undefined) {
    const list = cache.get(first) ?? [];
    list.push({ fns: [...fns], modes: [...modes], loop });
    cache.set(first, list);
  }
  return loop;
}

interface CachedLoop {
  fns: readonly Fn[];
  modes: readonly EmitMode[];
  loop: FusedLoop;
}

const cache = new WeakMap<Fn, CachedLoop[]>();

function sameGroup(c: CachedLoop, modes: readonly EmitMode[], fns: readonly Fn[]): boolean {
  return (
    c.fns.length === fns.length && c.fns.every((f, i) => f === fns[i] && c.modes[i] === modes[i])
  );
}

function build(modes: readonly EmitMode[], fns: readonly Fn[]): FusedLoop {
  if (codegen !== false) {
    try {
      const loop = generate(modes, fns);
      codegen = true;
      return loop;
    } catch {
      codegen = false;
    }
  }
  return genericLoop(modes, fns);
}

const THENABLE = (r: string) =>
  `((typeof ${r} === "object" && ${r} !== null) || typeof ${r} === "function") && typeof ${r}.then === "function"`;

function generate(modes: readonly EmitMode[], fns: readonly Fn[]): FusedLoop {
  const k = fns.length;
  const names = fns.map((_, j) => `f${j}`);
  const lines: string[] = [];
  // A unique first line keeps V8's compilation cache from sharing one function (and its
  // call-site feedback) between groups.
  lines.push(`// sluice fused stage group #${++generated}`);
  lines.push("return function fusedLoop(vals, pos, out, counts, stop) {");
  lines.push("  const n = vals.length;");
  for (let j = 0; j < k; j++) lines.push(`  let c${j} = counts[${j}];`);
  lines.push("  let j = 0, v, r, kind = 0;");
  lines.push("  try {");
  lines.push("    outer: for (; pos < n; pos++) {");
  lines.push("      v = vals[pos];");
  for (let j = 0; j < k; j++) {
    lines.push(`      j = ${j}; c${j}++; r = f${j}(v);`);
    lines.push(`      if (${THENABLE("r")}) { kind = 1; break outer; }`);
    if (modes[j] === EmitMode.MAP) lines.push("      v = r;");
    else if (modes[j] === EmitMode.FILTER) lines.push("      if (!r) continue;");
  }
  lines.push("      out.push(v);");
  lines.push("    }");
  lines.push("  } catch (e) { kind = 2; r = e; }");
  for (let j = 0; j < k; j++) lines.push(`  counts[${j}] = c${j};`);
  lines.push("  stop.kind = kind; stop.stage = j; stop.item = v; stop.value = r;");
  lines.push("  return pos;");
  lines.push("};");
  const factory = new Function(...names, lines.join("\n")) as (...f: Fn[]) => FusedLoop;
  return factory(...fns);
}

function genericLoop(modes: readonly EmitMode[], fns: readonly Fn[]): FusedLoop {
  const k = fns.length;
  return (vals, pos, out, counts, stop) => {
    const n = vals.length;
    let j = 0;
    let v: unknown;
    let r: unknown;
    let kind = STOP_NONE;
    try {
      outer: for (; pos < n; pos++) {
        v = vals[pos];
        for (j = 0; j < k; j++) {
          counts[j] = (counts[j] ?? 0) + 1;
          r = (fns[j] as Fn)(v);
          if (
            ((typeof r === "object" && r !== null) || typeof r === "function") &&
            typeof (r as { then?: unknown }).then === "function"
          ) {
            kind = STOP_AWAIT;
            break outer;
          }
          if (modes[j] === EmitMode.MAP) v = r;
          else if (modes[j] === EmitMode.FILTER && !r) continue outer;
        }
        out.push(v);
      }
    } catch (e) {
      kind = STOP_THREW;
      r = e;
    }
    stop.kind = kind;
    stop.stage = j;
    stop.item = v;
    stop.value = r;
    return pos;
  };
}
