/**
 * The data of the `memory` case: lazily generated 4 KB text documents and the
 * three per-document stages (shout, count words, build a record).
 */
import type { Probe } from "../types.ts";

/** A generated document. */
export interface Doc {
  readonly id: number;
  readonly text: string;
}

/** A document after the word count. */
export interface CountedDoc extends Doc {
  readonly words: number;
}

/** The small record that leaves the pipeline. */
export interface DocRecord {
  readonly id: number;
  readonly words: number;
  readonly hash: number;
}

const WORDS = (
  "stream pipeline buffer iterator async await yield batch window chunk record " +
  "source sink stage filter map reduce flow pressure memory latency throughput " +
  "queue signal abort order token vector embed index search river lock gate"
).split(" ");
const CHUNK = 64;
const CHUNKS_PER_DOC = 64; // 64 × 64 = 4096 characters
const CHUNK_COUNT = 1024;

const lcg = (s: number): number => (Math.imul(s, 1664525) + 1013904223) >>> 0;

/** 1,024 chunks of 63 characters of words plus a space. */
const CHUNKS: readonly string[] = (() => {
  const out: string[] = [];
  let s = 12345;
  for (let c = 0; c < CHUNK_COUNT; c++) {
    let text = "";
    while (text.length < CHUNK) {
      s = lcg(s);
      text += `${WORDS[s % WORDS.length]} `;
    }
    out.push(`${text.slice(0, CHUNK - 1)} `);
  }
  return out;
})();

/** Builds document `id`: a fresh 4,096-character string. */
export function makeDoc(id: number): Doc {
  const parts = new Array<string>(CHUNKS_PER_DOC);
  let s = lcg(id + 1);
  for (let j = 0; j < CHUNKS_PER_DOC; j++) {
    s = lcg(s);
    parts[j] = CHUNKS[s >>> 22]!;
  }
  return { id, text: parts.join("") };
}

/** Generates `size` documents lazily, counting pulls and sampling the heap. */
export function* documents(size: number, probe?: Probe): Generator<Doc> {
  for (let id = 0; id < size; id++) {
    if (probe !== undefined) {
      probe.pulled();
      if ((id & 63) === 0) probe.sample();
    }
    yield makeDoc(id);
  }
}

/** Stage 1: upper-case the text (a new 4 KB string per document). */
export function shout(doc: Doc): Doc {
  return { id: doc.id, text: doc.text.toUpperCase() };
}

/** Stage 2: count the space-separated words. */
export function countWords(doc: Doc): CountedDoc {
  const { text } = doc;
  let words = 0;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const space = text.charCodeAt(i) === 32;
    if (!space && !inWord) words++;
    inWord = !space;
  }
  return { id: doc.id, text, words };
}

/** Stage 3: keep a small record with an FNV-1a hash of every 8th character. */
export function toRecord(doc: CountedDoc): DocRecord {
  const { text } = doc;
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 8) {
    hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  }
  return { id: doc.id, words: doc.words, hash };
}

/** Folds one record into the checksum (order-independent). */
export function addRecord(sum: number, r: DocRecord): number {
  return sum + r.id + r.words + r.hash;
}

/** The expected checksum, computed with a plain loop. */
export function documentsReference(size: number): number {
  let sum = 0;
  for (const doc of documents(size)) sum = addRecord(sum, toRecord(countWords(shout(doc))));
  return sum;
}
