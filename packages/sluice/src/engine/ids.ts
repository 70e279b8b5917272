/*
 * Trace and span ids only need to be unique, not secret. Math.random is used rather than
 * crypto.getRandomValues because the first touch of `globalThis.crypto` loads Node's
 * webcrypto module, which costs about a millisecond in a run's time to first result.
 */
/** "00" … "ff": a byte's two hex digits, looked up rather than formatted. */
const BYTE_HEX: readonly string[] = Array.from({ length: 256 }, (_, i) =>
  i.toString(16).padStart(2, "0"),
);

/**
 * `chars` (a multiple of 4) random hex digits, 16 bits per draw. Formatting a 52-bit draw
 * with `toString(16)` cost ~4 µs per run's trace and span ids (more right after the event
 * loop wakes); two table lookups per draw cost a tenth of that.
 */
function randomHex(chars: number): string {
  let out = "";
  for (let i = 0; i < chars; i += 4) {
    const r = (Math.random() * 0x10000) | 0;
    out += (BYTE_HEX[r >> 8] as string) + (BYTE_HEX[r & 0xff] as string);
  }
  return out;
}

/** W3C forbids the all-zero id; a stubbed Math.random (tests) must not loop, so patch it. */
function nonZero(id: string): string {
  // A loop, not /^0+$/: compiling a regular expression cost the first run about a millisecond.
  for (let i = 0; i < id.length; i++) if (id.charCodeAt(i) !== 48) return id;
  return `${id.slice(0, -1)}1`;
}

/** A W3C trace id: 32 lowercase hex characters, never all zero. */
export function newTraceId(): string {
  return nonZero(randomHex(32));
}

/** A W3C span id: 16 lowercase hex characters, never all zero. */
export function newSpanId(): string {
  return nonZero(randomHex(16));
}
