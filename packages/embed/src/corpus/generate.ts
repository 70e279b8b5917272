import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

/** Options of the synthetic corpus. */
export interface CorpusOptions {
  /** Number of documents. */
  readonly files: number;
  /** Same seed, same corpus, byte for byte; default 1. */
  readonly seed?: number;
}

/** One generated markdown document. */
export interface CorpusDocument {
  readonly index: number;
  /** POSIX path relative to the corpus root, e.g. `part-0/group-03/doc-000312.md`. */
  readonly relativePath: string;
  readonly content: string;
  readonly title: string;
  readonly tags: readonly string[];
  /** A word unique to this document (`ref` + base-36 index), to check that search finds it. */
  readonly marker: string;
  /** Whether the document has a `## Changelog` section (to exercise section removal). */
  readonly hasChangelog: boolean;
}

const TOPICS: Record<string, readonly string[]> = {
  pipelines: ["stream", "backpressure", "operator", "buffer", "throughput", "latency", "stage"],
  databases: ["index", "query", "transaction", "replica", "vacuum", "schema", "postgres"],
  search: ["vector", "embedding", "cosine", "ranking", "recall", "chunk", "similarity"],
  networking: ["socket", "packet", "latency", "retry", "timeout", "handshake", "proxy"],
  testing: ["fixture", "assertion", "coverage", "mock", "snapshot", "property", "flaky"],
  security: ["token", "secret", "audit", "certificate", "sandbox", "policy", "cipher"],
  gardening: ["tomato", "compost", "seedling", "harvest", "mulch", "trellis", "soil"],
  cooking: ["sourdough", "simmer", "saute", "marinade", "braise", "knead", "oven"],
};
const TOPIC_NAMES = Object.keys(TOPICS);
const COMMON = (
  "the a of and to in is for with on as by this that it from at be are can when how " +
  "system data file process value result change support example method approach user team " +
  "should would could first second often usually quickly carefully simple complex small large " +
  "new old common different important useful general specific local remote daily weekly"
).split(" ");
const LANGUAGES = ["ts", "bash", "json", "python", "sql"] as const;

/** mulberry32: tiny, fast, good enough for synthetic text, identical on every platform. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mixes the corpus seed and a document index into a per-document seed (splitmix-style). */
function documentSeed(seed: number, index: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h >>> 0;
}

class Writer {
  constructor(private readonly random: () => number) {}
  int(min: number, max: number): number {
    return min + Math.floor(this.random() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)] as T;
  }
  chance(p: number): boolean {
    return this.random() < p;
  }
  words(topic: readonly string[], count: number): string[] {
    return Array.from({ length: count }, () =>
      this.chance(0.3) ? this.pick(topic) : this.pick(COMMON),
    );
  }
  sentence(topic: readonly string[]): string {
    const words = this.words(topic, this.int(6, 16));
    const first = words[0] ?? "it";
    words[0] = first.charAt(0).toUpperCase() + first.slice(1);
    // Inline markup in some sentences exercises the cleaner.
    if (this.chance(0.2)) words[1] = `*${words[1]}*`;
    if (this.chance(0.15)) words[2] = `**${words[2]}**`;
    if (this.chance(0.1)) words[3] = `\`${words[3]}\``;
    if (this.chance(0.1)) {
      const word = words[4] ?? "link";
      words[4] = `[${word}](https://example.com/${word})`;
    }
    return `${words.join(" ")}${this.pick([".", ".", ".", "?", "!"])}`;
  }
  paragraph(topic: readonly string[]): string {
    return Array.from({ length: this.int(2, 6) }, () => this.sentence(topic)).join(" ");
  }
}

/**
 * Document `index` of the corpus, computed on its own from (seed, index): any document can be
 * made without the ones before it, so huge corpora stream and shard.
 */
export function corpusDocument(index: number, seed = 1): CorpusDocument {
  if (!Number.isInteger(index) || index < 0) {
    throw new RangeError(`document index must be a non-negative integer, got ${index}`);
  }
  const w = new Writer(prng(documentSeed(seed, index)));
  const topicName = TOPIC_NAMES[index % TOPIC_NAMES.length] as string;
  const topic = TOPICS[topicName] as readonly string[];
  const marker = `ref${index.toString(36)}`;
  const titleWords = w.words(topic, w.int(2, 5));
  const title = `${topicName[0]?.toUpperCase()}${topicName.slice(1)}: ${titleWords.join(" ")}`;
  const tags = [topicName, ...new Set(Array.from({ length: w.int(0, 3) }, () => w.pick(topic)))];
  const hasChangelog = w.chance(0.2);

  const lines: string[] = ["---", `title: "${title}"`];
  // Both tag spellings occur in real corpora.
  lines.push(w.chance(0.5) ? `tags: [${tags.join(", ")}]` : `tags: ${tags.join(", ")}`);
  lines.push(`date: 20${w.int(18, 24)}-0${w.int(1, 9)}-1${w.int(0, 9)}`);
  if (w.chance(0.3)) lines.push(`author: ${w.pick(["ada", "grace", "linus", "barbara"])}`);
  lines.push(
    "---",
    "",
    `# ${title}`,
    "",
    `${w.paragraph(topic)} Internal reference: ${marker}.`,
    "",
  );

  const sections = w.chance(0.1) ? w.int(8, 14) : w.int(2, 5);
  for (let s = 0; s < sections; s++) {
    lines.push(`## ${w.words(topic, w.int(1, 4)).join(" ")} ${s + 1}`, "");
    for (let p = w.int(1, 3); p > 0; p--) lines.push(w.paragraph(topic), "");
    if (w.chance(0.35)) {
      const ordered = w.chance(0.3);
      for (let i = 0; i < w.int(2, 5); i++) {
        lines.push(`${ordered ? `${i + 1}.` : "-"} ${w.sentence(topic)}`);
        if (w.chance(0.2)) lines.push(`  - ${w.sentence(topic)}`);
      }
      lines.push("");
    }
    if (w.chance(0.3)) {
      const language = w.pick(LANGUAGES);
      lines.push(`\`\`\`${language}`);
      for (let i = 0; i < w.int(2, 8); i++) {
        lines.push(`${w.pick(topic)}_${i} = compute("${w.pick(COMMON)}", ${w.int(0, 999)})`);
      }
      lines.push("```", "");
    }
    if (w.chance(0.2)) {
      lines.push("| name | value | note |", "| --- | ---: | --- |");
      for (let i = 0; i < w.int(2, 5); i++) {
        lines.push(`| ${w.pick(topic)} | ${w.int(1, 100)} | ${w.words(topic, 3).join(" ")} |`);
      }
      lines.push("");
    }
    if (w.chance(0.25)) {
      lines.push(`### ${w.words(topic, 2).join(" ")}`, "", w.paragraph(topic), "");
    }
  }
  if (hasChangelog) {
    lines.push("## Changelog", "", `- ${w.sentence(topic)}`, `- ${w.sentence(topic)}`, "");
  }

  const group = Math.floor(index / 100);
  const relativePath = `part-${Math.floor(group / 100)}/group-${String(group % 100).padStart(2, "0")}/doc-${String(index).padStart(6, "0")}.md`;
  return { index, relativePath, content: lines.join("\n"), title, tags, marker, hasChangelog };
}

/** The corpus's documents in index order, generated one at a time as they are pulled. */
export function* corpusDocuments(options: CorpusOptions): Generator<CorpusDocument> {
  checkCount(options.files);
  for (let index = 0; index < options.files; index++)
    yield corpusDocument(index, options.seed ?? 1);
}

/** What {@link generateCorpus} wrote. */
export interface CorpusSummary {
  readonly files: number;
  readonly bytes: number;
}

/**
 * Writes the corpus under `root`, one file at a time (memory stays flat however many files:
 * 100,000 is fine). Folders hold at most 100 documents, in two levels of nesting.
 */
export async function generateCorpus(
  root: string,
  options: CorpusOptions & { readonly signal?: AbortSignal },
): Promise<CorpusSummary> {
  let files = 0;
  let bytes = 0;
  let lastFolder = "";
  for (const doc of corpusDocuments(options)) {
    options.signal?.throwIfAborted();
    const path = join(root, ...doc.relativePath.split("/"));
    const folder = dirname(path);
    // Documents come in folder order, so each folder is created once.
    if (folder !== lastFolder) {
      await mkdir(folder, { recursive: true });
      lastFolder = folder;
    }
    await writeFile(path, doc.content);
    files += 1;
    bytes += Buffer.byteLength(doc.content);
  }
  return { files, bytes };
}

function checkCount(files: number): void {
  if (!Number.isInteger(files) || files < 0) {
    throw new RangeError(`corpus file count must be a non-negative integer, got ${files}`);
  }
}
