// The one string order of the workflow (file lists, reports, store listings, search ties). A
// module of its own so that what imports it does not also load discovery's globbing: the
// prepare worker sorts nothing by path, but its bundle pulled tinyglobby in through here.

/** Orders strings by UTF-16 code units: unlike localeCompare, the same on every machine. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
