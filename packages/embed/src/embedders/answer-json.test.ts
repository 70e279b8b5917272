import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseAnswerBytes } from "./answer-json.ts";

const bytes = (text: string) => Buffer.from(text, "utf8");

/** JSON text of `value` with white space of JSON's four kinds sprinkled between its tokens. */
function spaced(value: unknown, space: readonly string[]): string {
  let n = 0;
  const gap = () => space[n++ % space.length] ?? "";
  const write = (v: unknown): string => {
    if (Array.isArray(v))
      return `[${gap()}${v.map((x) => `${write(x)}${gap()}`).join(`,${gap()}`)}]`;
    if (v !== null && typeof v === "object") {
      const entries = Object.entries(v).map(
        ([k, x]) => `${gap()}${JSON.stringify(k)}${gap()}:${gap()}${write(x)}${gap()}`,
      );
      return `{${entries.join(",")}}`;
    }
    return JSON.stringify(v);
  };
  return `${gap()}${write(value)}${gap()}`;
}

const element = fc.record({
  object: fc.constant("embedding"),
  index: fc.nat(),
  embedding: fc.oneof(
    fc.base64String(),
    fc.array(fc.double({ noNaN: true, noDefaultInfinity: true })),
  ),
  extra: fc.jsonValue(),
});

describe("parseAnswerBytes", () => {
  it("equals JSON.parse of the text for any answer-shaped object, spaced any way", () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 4 }),
        fc.array(element, { maxLength: 6 }),
        fc.array(fc.constantFrom("", " ", "\n", "\r\n", "\t", "  \n "), { minLength: 1 }),
        (rest, data, space) => {
          const text = spaced({ ...rest, data }, space);
          expect(parseAnswerBytes(bytes(text))).toEqual(JSON.parse(text));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("reads strings with escaped quotes and backslashes, non-ASCII text and nested lists", () => {
    const text =
      '{"model":"a\\"b\\\\","data":[{"embedding":"q\\\\\\"]}","note":"é 𝄞 \\u0022 ]}"},' +
      '[[1,[2]],{"x":[{}]}],"[{",-1.5e-3,true,null],"usage":{"x":"}"}}';
    expect(parseAnswerBytes(bytes(text))).toEqual(JSON.parse(text));
  });

  it("keeps the last of duplicate keys, and __proto__ as an own key, as JSON.parse does", () => {
    const text = '{"data":[1],"__proto__":{"polluted":true},"data":[2,3]}';
    const parsed = parseAnswerBytes(bytes(text));
    expect(parsed).toEqual(JSON.parse(text));
    expect(parsed?.data).toEqual([2, 3]);
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(Object.hasOwn(parsed ?? {}, "__proto__")).toBe(true);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
  });

  it("leaves anything but valid JSON with a data list to the whole-text parse", () => {
    const refused = [
      "",
      "   ",
      "[]",
      '"data"',
      "{}",
      '{"data":{}}',
      '{"data":"[1]"}',
      '{"data":[1,2]', // cut off
      '{"data":[1,2]} x', // trailing text
      '{"data":[1,]}',
      '{"data":[1 2]}',
      '{"data":[{"a":1]}]}', // mismatched brackets
      '{"data":[tru]}',
      '{"data":[1],}',
      "{data:[1]}",
      '{"data" [1]}',
      '{"data":[1],"x":01}',
      '{"data":["\\q"]}',
      '\uFEFF{"data":[1]}', // a byte-order mark: the text decoder drops it, then parses whole
      "<html><body>Bad gateway</body></html>",
    ];
    for (const text of refused) expect(parseAnswerBytes(bytes(text)), text).toBeUndefined();
    // Not UTF-8 inside an element: left to the decoder that replaces bad bytes.
    const bad = Buffer.concat([bytes('{"data":["'), Buffer.from([0xff, 0xfe]), bytes('"]}')]);
    expect(parseAnswerBytes(bad)).toBeUndefined();
  });

  it("refuses every cut-off prefix of a valid answer", () => {
    const text = '{ "object": "list", "data": [ {"index": 0, "embedding": "AAAA"}, [1, "]"] ] }';
    for (let end = 0; end < text.length; end++) {
      expect(parseAnswerBytes(bytes(text.slice(0, end))), text.slice(0, end)).toBeUndefined();
    }
    expect(parseAnswerBytes(bytes(text))).toEqual(JSON.parse(text));
  });
});
