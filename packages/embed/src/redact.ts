// Connection URLs carry secrets in two places: `user:password@` and query parameters such as
// libpq's `?password=` or an API's `?api_key=`. Anything that prints a URL goes through here.

const MASK = "***";

/** Parameter names that are a secret as a whole word (after lowercasing, without - _ .). */
const SECRET_WORDS = new Set(["pass", "pwd", "key", "auth", "sig", "signature", "credential"]);
/** Fragments that make any parameter name a secret: sslpassword, access_token, x-api-key… */
const SECRET_PARTS =
  /password|passwd|passphrase|secret|token|apikey|accesskey|privatekey|authorization|credentials|sessionid/;

/** Whether a query parameter of that name holds a secret (case-insensitive, `-`/`_`/`.` ignored). */
export function isSecretName(name: string): boolean {
  const bare = name.toLowerCase().replace(/[-_.]/g, "");
  return SECRET_WORDS.has(bare) || SECRET_PARTS.test(bare);
}

/**
 * The URL without its secrets, for messages and output: the password of `user:password@` and
 * the value of every secret-looking query or fragment parameter (see {@link isSecretName})
 * become `***`; everything else is kept as written. A string that does not parse as a URL (or
 * is a `key=value` connection string) is masked the same way, by pattern, rather than printed
 * whole or dropped.
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return redactUnparsed(url);
  }
  if (parsed.password) parsed.password = MASK;
  if (parsed.search) parsed.search = redactParams(parsed.search.slice(1));
  if (parsed.hash) parsed.hash = redactParams(parsed.hash.slice(1));
  return parsed.toString();
}

/** `a=1&password=x` → `a=1&password=***`, every other byte kept. */
function redactParams(params: string): string {
  return params
    .split("&")
    .map((pair) => {
      const eq = pair.indexOf("=");
      if (eq === -1) return pair;
      const name = pair.slice(0, eq);
      return isSecretName(decodeName(name)) ? `${name}=${MASK}` : pair;
    })
    .join("&");
}

function decodeName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, " "));
  } catch {
    return name;
  }
}

/** The same masking by pattern, for text that is not a valid URL. */
function redactUnparsed(text: string): string {
  return (
    text
      // scheme://user:password@ — the last `@` before the path ends the credentials.
      .replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#:@]*):[^/?#]*@/i, `$1:${MASK}@`)
      // name=value after a start, space, ?, &, ; or #: query strings and libpq key=value lists.
      .replace(/(^|[\s?&;#])([^\s?&;#=]+)=([^\s&;#]*)/g, (whole, lead: string, name: string) =>
        isSecretName(decodeName(name)) ? `${lead}${name}=${MASK}` : whole,
      )
  );
}
