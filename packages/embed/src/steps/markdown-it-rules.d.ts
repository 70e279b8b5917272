// markdown-it exports its rule modules ("./*" in its package.json), but @types/markdown-it
// types only the parser; clean.ts wraps the code-span rule.
declare module "markdown-it/lib/rules_inline/backticks.mjs" {
  import type StateInline from "markdown-it/lib/rules_inline/state_inline.mjs";
  export default function backticks(state: StateInline, silent: boolean): boolean;
}

// @types/markdown-it-footnote is typed against an older @types/markdown-it layout.
declare module "markdown-it-footnote" {
  import type MarkdownIt from "markdown-it";
  export default function footnotes(md: MarkdownIt): void;
}
