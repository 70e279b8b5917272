/**
 * Turns texts into vectors. Implementations return one vector of `dimensions` numbers per input
 * text, in input order, and reject with an `AbortError`-like error when `signal` aborts.
 */
export interface Embedder {
  /**
   * Names the model and its settings (e.g. `"hash-v1:384"`); stores record it so a corpus is
   * never searched or extended with vectors from another model.
   */
  readonly id: string;
  readonly dimensions: number;
  embed(texts: readonly string[], signal?: AbortSignal): Promise<number[][]>;
  /** Releases sockets, workers or models, when the embedder holds any. */
  close?(): Promise<void>;
}

/** Thrown when an embedder gets an answer it cannot use (malformed, wrong count or dimension, zero or non-finite vectors). */
export class EmbedderResponseError extends Error {
  override readonly name = "EmbedderResponseError";
}

/**
 * Checks that an embedder returned one usable vector of the right length per text: finite
 * numbers only, and not all zeros (a zero vector has no direction: cosine search could never
 * find it, so storing it would lose the chunk silently).
 */
export function assertVectors(
  vectors: readonly (readonly number[])[],
  count: number,
  dimensions: number,
  source: string,
): void {
  if (vectors.length !== count) {
    throw new EmbedderResponseError(
      `${source} returned ${vectors.length} vectors for ${count} texts`,
    );
  }
  vectors.forEach((vector, i) => {
    if (vector.length !== dimensions) {
      throw new EmbedderResponseError(
        `${source} returned a vector of ${vector.length} dimensions at index ${i}, expected ${dimensions}`,
      );
    }
    // One plain pass rather than two `every` callbacks: this runs on every number received.
    let zero = true;
    for (let j = 0; j < vector.length; j++) {
      const x = vector[j] as number;
      if (!Number.isFinite(x)) {
        throw new EmbedderResponseError(`${source} returned a non-finite number at index ${i}`);
      }
      if (x !== 0) zero = false;
    }
    if (zero) {
      throw new EmbedderResponseError(
        `${source} returned an all-zero vector at index ${i}, which no search could ever find`,
      );
    }
  });
}
