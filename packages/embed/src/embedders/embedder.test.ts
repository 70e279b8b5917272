import { describe, expect, it } from "vitest";
import { assertVectors, EmbedderResponseError } from "./embedder.ts";

describe("assertVectors", () => {
  it("accepts one finite, non-zero vector of the right length per text", () => {
    expect(() =>
      assertVectors(
        [
          [0, 1],
          [-0.5, 0],
        ],
        2,
        2,
        "model m",
      ),
    ).not.toThrow();
  });

  it("rejects vectors that no search could find, naming the source and the index", () => {
    expect(() =>
      assertVectors(
        [
          [1, 0],
          [0, 0],
        ],
        2,
        2,
        "model m",
      ),
    ).toThrow("model m returned an all-zero vector at index 1");
    expect(() => assertVectors([[-0, 0]], 1, 2, "model m")).toThrow(EmbedderResponseError);
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(() =>
        assertVectors(
          [
            [1, 1],
            [1, bad],
          ],
          2,
          2,
          "model m",
        ),
      ).toThrow("model m returned a non-finite number at index 1");
    }
  });

  it("rejects a wrong count or length", () => {
    expect(() => assertVectors([[1, 1]], 2, 2, "m")).toThrow(/1 vectors for 2 texts/);
    expect(() => assertVectors([[1]], 1, 2, "m")).toThrow(/1 dimensions at index 0, expected 2/);
  });
});
