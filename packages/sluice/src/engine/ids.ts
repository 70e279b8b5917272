/*
 * Trace and span ids only need to be unique, not secret. Math.random is used rather than
 * crypto.getRandomValues because the first touch of `globalThis.crypto` loads Node's
 * webcrypto module, which costs about a millisecond in a run's time to first result.
 */
function randomHex(chars: number): string {
  let out = "";
  while (out.length < chars) {
    // 13 hex digits per draw stay within the 52 random bits of a double.
    out += Math.floor(Math.random() * 0x10000000000000)
      .toString(16)
      .padStart(13, "0");
  }
  return out.slice(0, chars);
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
