/** One server-sent event: its `event` name (default `message`) and its data lines joined. */
export interface ServerSentEvent {
  readonly event: string;
  readonly data: string;
}

/**
 * Parses a `text/event-stream` body into events, as the HTML standard says: lines end with
 * `\n`, `\r\n` or `\r`; `field: value` lines accumulate (`data` lines joined with `\n`); a blank
 * line dispatches; lines starting with `:` are comments. An event without data is dropped, and
 * so is a last event without its blank line (a cut-off stream).
 */
export async function* parseServerSentEvents(
  body: AsyncIterable<Uint8Array>,
): AsyncGenerator<ServerSentEvent> {
  const decoder = new TextDecoder();
  let buffer = "";
  let event = "";
  let data: string[] = [];
  const line = function* (text: string): Generator<ServerSentEvent> {
    if (text === "") {
      if (data.length > 0) yield { event: event || "message", data: data.join("\n") };
      event = "";
      data = [];
      return;
    }
    if (text.startsWith(":")) return;
    const colon = text.indexOf(":");
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  };
  for await (const bytes of body) {
    buffer += decoder.decode(bytes, { stream: true });
    // A trailing \r may be the first half of \r\n: keep it until the next bytes come.
    for (;;) {
      const match = /\r\n|\r(?!$)|\n/.exec(buffer);
      if (match === null) break;
      const text = buffer.slice(0, match.index);
      buffer = buffer.slice(match.index + match[0].length);
      yield* line(text);
    }
  }
  buffer += decoder.decode();
  for (const text of buffer.split(/\r\n|\r|\n/).slice(0, -1)) yield* line(text);
}
