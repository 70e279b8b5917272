import { join } from "node:path";
import ts from "typescript";

/**
 * The repository's own compiler options (root `tsconfig.json`) for tests that compile
 * snippets in memory, with emit and unused-name checks off: snippets are checked, not built.
 */
export function rootCompilerOptions(root: string): ts.CompilerOptions {
  const config = ts.getParsedCommandLineOfConfigFile(
    join(root, "tsconfig.json"),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
      },
    },
  );
  if (config === undefined) throw new Error("tsconfig.json did not parse");
  return { ...config.options, noEmit: true, noUnusedLocals: false, noUnusedParameters: false };
}
