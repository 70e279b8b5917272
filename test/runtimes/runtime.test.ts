import { describe, expect, it } from "vitest";

// Guards for the cross-runtime runs (test/runtimes/run.ts): the suite really runs in the
// runtime it claims (Vitest's workers could silently fall back to Node), and the global
// unhandled-rejection guard (test/setup/unhandled-rejections.ts) really sees rejections there.
// Under plain `vitest run` SLUICE_RUNTIME is unset and the same checks hold for Node.

const expected = process.env.SLUICE_RUNTIME || "node";
const g = globalThis as { Bun?: { version: string }; Deno?: { version: { deno: string } } };

function current(): string {
  if (g.Bun !== undefined) return "bun";
  if (g.Deno !== undefined) return "deno";
  return "node";
}

describe(`runtime: ${expected}`, () => {
  it("runs in the expected runtime", () => {
    expect(current()).toBe(expected);
    const version =
      g.Bun?.version ?? g.Deno?.version.deno ?? (process.versions.node as string | undefined);
    console.info(`runtime ${current()} ${version}`);
    if (expected === "node") {
      expect(Number(process.versions.node?.split(".")[0])).toBeGreaterThanOrEqual(20);
    }
  });

  it("reports an unhandled rejection through process 'unhandledRejection'", async () => {
    // Lend the event to this test alone, so that the global guard does not fail it.
    const others = process.listeners("unhandledRejection");
    process.removeAllListeners("unhandledRejection");
    const seen: unknown[] = [];
    const listener = (reason: unknown) => {
      seen.push(reason);
    };
    process.on("unhandledRejection", listener);
    try {
      const reason = new Error("probe: deliberately unhandled");
      void Promise.reject(reason);
      for (let i = 0; i < 20 && seen.length === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(seen).toEqual([reason]);
    } finally {
      process.off("unhandledRejection", listener);
      for (const l of others) process.on("unhandledRejection", l);
    }
  });
});
