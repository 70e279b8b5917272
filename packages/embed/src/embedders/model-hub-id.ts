// Apart from model-hub.ts so that the config schema can check ids without loading a downloader.

const ID_PART = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Whether `id` is a hub model id `owner/name` (e.g. `Xenova/all-MiniLM-L6-v2`) that is safe to
 * use as a path under the model cache: two plain parts, no `..`.
 */
export function isHubModelId(id: string): boolean {
  const parts = id.split("/");
  return (
    parts.length === 2 && parts.every((p) => ID_PART.test(p) && !p.includes("..") && p.length <= 96)
  );
}
