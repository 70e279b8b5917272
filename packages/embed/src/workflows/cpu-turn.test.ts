import { describe, expect, it } from "vitest";
import { cpuTurn, inCpuTurn } from "./cpu-turn.ts";

/** Blocks the thread for `ms`. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

describe("cpuTurn", () => {
  it("serves callers of one kind first come, first served", async () => {
    const order: number[] = [];
    await Promise.all([0, 1, 2, 3, 4].map((i) => inCpuTurn(() => order.push(i))));
    expect(order).toEqual([0, 1, 2, 3, 4]);
  });

  it("keeps serving the kind it served last, then the longest waiting", async () => {
    const order: string[] = [];
    const take = (kind: string, label: string) =>
      inCpuTurn(() => {
        order.push(label);
        // A caller of the kind being served arrives while the others wait.
        if (label === "a1") void take("a", "a3");
      }, kind);
    await Promise.all([
      take("a", "a1"),
      take("b", "b1"),
      take("a", "a2"),
      take("c", "c1"),
      take("b", "b2"),
    ]);
    await cpuTurn("a");
    expect(order).toEqual(["a1", "a2", "a3", "b1", "b2", "c1"]);
  });

  it("lets I/O and timers run between turns started together", async () => {
    const events: string[] = [];
    // A timer that falls due during the first turn runs before the second turn, not after all.
    await Promise.all(
      [0, 1, 2].map((i) =>
        inCpuTurn(() => {
          events.push(`turn ${i}`);
          if (i === 0) setTimeout(() => events.push("timer"), 0);
          busy(5);
        }),
      ),
    );
    expect(events).toEqual(["turn 0", "timer", "turn 1", "turn 2"]);
  });

  it("gives one turn per event-loop iteration", async () => {
    let immediates = 0;
    let counting = true;
    const tick = () => {
      immediates += 1;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    const seen: number[] = [];
    await Promise.all([0, 1, 2, 3].map(() => cpuTurn().then(() => seen.push(immediates))));
    counting = false;
    // Each turn saw at least one more loop iteration than the one before.
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i]).toBeGreaterThan(seen[i - 1] as number);
    }
  });

  it("passes on the work's result and error", async () => {
    await expect(inCpuTurn(() => 42)).resolves.toBe(42);
    await expect(inCpuTurn(async () => "async")).resolves.toBe("async");
    await expect(
      inCpuTurn(() => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
  });
});
