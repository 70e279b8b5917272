/**
 * The `sluice` package for the cases' sluice implementations. Imported inside `prepare`, so
 * that the children measuring other libraries never load it.
 */
export function loadSluice(): Promise<typeof import("sluice")> {
  return import("sluice");
}
