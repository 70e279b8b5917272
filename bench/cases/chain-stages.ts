/**
 * The five stages shared by `sync-chain`, `async-chain` and `merge-sources`: three maps and
 * two filters over numbers, summed at the end, and how those cases measure them.
 */
import type { BenchCase } from "../types.ts";

/** Stage 1: map x → 2x. */
export const double = (x: number): number => x * 2;
/** Stage 2: drop multiples of 3. */
export const notThree = (x: number): boolean => x % 3 !== 0;
/** Stage 3: map x → x + 1. */
export const inc = (x: number): number => x + 1;
/** Stage 4: drop multiples of 5. */
export const notFive = (x: number): boolean => x % 5 !== 0;
/** Stage 5: map x → x / 2. */
export const half = (x: number): number => x * 0.5;

/** Async versions of the three maps (the filters stay synchronous). */
export const doubleAsync = async (x: number): Promise<number> => x * 2;
/** Async stage 3. */
export const incAsync = async (x: number): Promise<number> => x + 1;
/** Async stage 5. */
export const halfAsync = async (x: number): Promise<number> => x * 0.5;

/** The input: the integers 0 … size − 1, built before timing starts. */
export function chainInput(size: number): number[] {
  return Array.from({ length: size }, (_, i) => i);
}

/** The expected sum, computed with a plain loop. */
export function chainReference(size: number): number {
  let sum = 0;
  for (let i = 0; i < size; i++) {
    const a = double(i);
    if (!notThree(a)) continue;
    const b = inc(a);
    if (!notFive(b)) continue;
    sum += half(b);
  }
  return sum;
}

/** Summing reducer. */
export const add = (acc: number, x: number): number => acc + x;

/**
 * What the chain cases measure alike: ns per input item, cold and over 3 warm runs, at one
 * size (1M items; 20k in quick mode), checked against {@link chainReference}.
 */
export const chainMeasurement = {
  columns: ["nsPerItem"],
  warmRuns: 3,
  figures: [{ key: "warmNsPerItem", header: "warm ns/item", digits: 1 }],
  variants: (quick: boolean) => {
    const size = quick ? 20_000 : 1_000_000;
    return [{ name: `n=${size}`, params: { size } }];
  },
  reference: ({ size }: { size: number }) => chainReference(size),
} satisfies Partial<BenchCase>;
