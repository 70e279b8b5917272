import { createHash } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sha256Bytes, sha256Hex } from "./sha256.ts";

// FIPS 180-2 test vectors, and inputs whose UTF-8 encoding differs from Latin-1.
const known: [string, string][] = [
  ["", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
  ["abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
  ["hello", "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"],
];
const texts = ["café", "漢字 😀", "a\u0000b", "x".repeat(5000), "lone \ud800 surrogate"];

async function fallback(): Promise<typeof import("./sha256.ts")> {
  vi.resetModules();
  vi.doMock("node:crypto", async (original) => ({
    ...(await original<typeof import("node:crypto")>()),
    hash: undefined,
  }));
  return import("./sha256.ts");
}

afterEach(() => {
  vi.doUnmock("node:crypto");
  vi.resetModules();
});

describe("sha256", () => {
  it("gives the standard digests", () => {
    for (const [text, hex] of known) {
      expect(sha256Hex(text)).toBe(hex);
      expect(sha256Bytes(text).toString("hex")).toBe(hex);
      expect(sha256Hex(Buffer.from(text))).toBe(hex);
    }
  });

  it("hashes a text's UTF-8 bytes, as createHash does", () => {
    for (const text of texts) {
      const expected = createHash("sha256").update(text, "utf8").digest("hex");
      expect(sha256Hex(text)).toBe(expected);
      expect(sha256Bytes(text).toString("hex")).toBe(expected);
    }
  });

  it("gives the same digests through createHash where crypto.hash is missing (Node < 20.12)", async () => {
    const old = await fallback();
    for (const [text, hex] of known) {
      expect(old.sha256Hex(text)).toBe(hex);
      expect(old.sha256Bytes(text).toString("hex")).toBe(hex);
    }
    for (const text of texts) {
      expect(old.sha256Hex(text)).toBe(sha256Hex(text));
      expect(old.sha256Hex(new TextEncoder().encode(text))).toBe(sha256Hex(text));
    }
  });
});
