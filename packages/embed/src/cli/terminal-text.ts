// Names that reach the terminal come from the file system and from stored chunks: a file called
// "\x1b]0;pwned\x07.md" must not retitle the window, clear the screen or forge output lines.

/**
 * C0 and C1 control characters (ESC, BEL, CR, backspace, CSI …), DEL, and the Unicode
 * bidirectional overrides and isolates that can make a name read as another.
 */
const UNSAFE = /[\p{Cc}\u202a-\u202e\u2066-\u2069]/gu;

/**
 * A text made safe for a terminal: every control character, DEL and bidirectional override is
 * written as a visible escape (`\x1b`, `\n`, `\u202e`), so it can neither move the cursor nor
 * run terminal commands, and a name with a newline stays on one line. A backslash is left alone
 * (it is an ordinary character in a POSIX file name).
 */
export function terminalText(text: string): string {
  return text.replace(UNSAFE, (ch) => {
    switch (ch) {
      case "\n":
        return "\\n";
      case "\r":
        return "\\r";
      case "\t":
        return "\\t";
      default: {
        const code = ch.charCodeAt(0);
        return code <= 0xff
          ? `\\x${code.toString(16).padStart(2, "0")}`
          : `\\u${code.toString(16).padStart(4, "0")}`;
      }
    }
  });
}
