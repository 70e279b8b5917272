/**
 * Writes a tiny BERT-style feature-extraction model folder, in the layout Hugging Face tools
 * use (`config.json`, `tokenizer.json`, `tokenizer_config.json`, `onnx/model.onnx`), for
 * tests of the `transformers` embedder on a machine that cannot download a real model.
 *
 * The model is one ONNX `Gather`: each token id picks a row of a seeded random embedding
 * table, so `last_hidden_state[b][t] = table[input_ids[b][t]]`. Mean pooling over the
 * attention mask then gives the mean of the rows of a text's tokens, which a test can
 * compute on its own from {@link TinyBertModel.rowOf}.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { prng } from "../corpus/generate.ts";

/** The written model: where it is, and what a test needs to check its vectors. */
export interface TinyBertModel {
  readonly path: string;
  readonly dimensions: number;
  /** The embedding row of a token of the vocabulary (e.g. `"[CLS]"`, `"hello"`). */
  rowOf(token: string): Float32Array;
}

const SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] as const;
const WORDS = ["hello", "world", "pull", "based", "pipeline", "bounded", "memory", "stream"];
const LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789".split("");

/** The vocabulary: special tokens, a few words, and every letter and digit as a start and a `##` piece. */
function vocabulary(): string[] {
  return [...SPECIAL, ".", ",", ...WORDS, ...LETTERS, ...LETTERS.map((l) => `##${l}`)];
}

/** Writes the model folder at `path` and returns it. */
export async function writeTinyBertModel(path: string, dimensions = 16): Promise<TinyBertModel> {
  const vocab = vocabulary();
  const random = prng(42); // the same weights on every run
  const table = new Float32Array(vocab.length * dimensions);
  for (let i = 0; i < table.length; i++) table[i] = random() * 2 - 1;

  await mkdir(join(path, "onnx"), { recursive: true });
  await writeFile(join(path, "onnx", "model.onnx"), onnxModel(table, vocab.length, dimensions));
  await writeFile(join(path, "config.json"), JSON.stringify(modelConfig(vocab, dimensions)));
  await writeFile(join(path, "tokenizer.json"), JSON.stringify(tokenizerJson(vocab)));
  await writeFile(join(path, "tokenizer_config.json"), JSON.stringify(tokenizerConfig()));

  const ids = new Map(vocab.map((token, id) => [token, id]));
  return {
    path,
    dimensions,
    rowOf(token) {
      const id = ids.get(token);
      if (id === undefined) throw new Error(`"${token}" is not in the tiny model's vocabulary`);
      return table.slice(id * dimensions, (id + 1) * dimensions);
    },
  };
}

function modelConfig(vocab: readonly string[], dimensions: number) {
  return {
    architectures: ["BertModel"],
    model_type: "bert",
    hidden_size: dimensions,
    vocab_size: vocab.length,
    max_position_embeddings: 512,
    num_attention_heads: 1,
    num_hidden_layers: 0,
    pad_token_id: 0,
  };
}

function tokenizerConfig() {
  return {
    tokenizer_class: "BertTokenizer",
    do_lower_case: true,
    model_max_length: 512,
    cls_token: "[CLS]",
    sep_token: "[SEP]",
    pad_token: "[PAD]",
    unk_token: "[UNK]",
    mask_token: "[MASK]",
  };
}

function tokenizerJson(vocab: readonly string[]) {
  const id = (token: string) => vocab.indexOf(token);
  const special = (token: string) => ({ SpecialToken: { id: token, type_id: 0 } });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: SPECIAL.map((content) => ({
      id: id(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: "BertNormalizer",
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: {
      type: "TemplateProcessing",
      single: [special("[CLS]"), { Sequence: { id: "A", type_id: 0 } }, special("[SEP]")],
      pair: [
        special("[CLS]"),
        { Sequence: { id: "A", type_id: 0 } },
        special("[SEP]"),
        { Sequence: { id: "B", type_id: 1 } },
        special("[SEP]"),
      ],
      special_tokens: Object.fromEntries(
        ["[CLS]", "[SEP]"].map((t) => [t, { id: t, ids: [id(t)], tokens: [t] }]),
      ),
    },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: {
      type: "WordPiece",
      unk_token: "[UNK]",
      continuing_subword_prefix: "##",
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab.map((token, i) => [token, i])),
    },
  };
}

// --- A minimal protobuf writer for the few ONNX messages the model needs (onnx.proto3). ---

type Field = Uint8Array;

function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}

const concat = (parts: readonly Field[]): Field => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

/** A varint field (wire type 0). */
const int = (field: number, value: number): Field =>
  Uint8Array.from([...varint(field << 3), ...varint(value)]);

/** A length-delimited field (wire type 2): bytes, a string or a nested message. */
function bytes(field: number, value: Field | string): Field {
  const body = typeof value === "string" ? new TextEncoder().encode(value) : value;
  return concat([Uint8Array.from([...varint((field << 3) | 2), ...varint(body.length)]), body]);
}

const FLOAT = 1;
const INT64 = 7;

/** ValueInfoProto of a tensor whose dimensions are named (`"batch"`) or fixed (16). */
function tensorInfo(name: string, elemType: number, shape: readonly (string | number)[]): Field {
  const dims = shape.map((d) => bytes(1, typeof d === "string" ? bytes(2, d) : int(1, d)));
  const tensorType = concat([int(1, elemType), bytes(2, concat(dims))]);
  return concat([bytes(1, name), bytes(2, bytes(1, tensorType))]);
}

function onnxModel(table: Float32Array, vocabSize: number, dimensions: number): Field {
  const initializer = concat([
    int(1, vocabSize),
    int(1, dimensions),
    int(2, FLOAT),
    bytes(8, "embeddings"),
    bytes(9, new Uint8Array(table.buffer, table.byteOffset, table.byteLength)),
  ]);
  const gather = concat([
    bytes(1, "embeddings"),
    bytes(1, "input_ids"),
    bytes(2, "last_hidden_state"),
    bytes(3, "lookup"),
    bytes(4, "Gather"),
    // attribute axis = 0 (AttributeProto: name 1, i 3, type 20 = INT)
    bytes(5, concat([bytes(1, "axis"), int(3, 0), int(20, 2)])),
  ]);
  const graph = concat([
    bytes(1, gather),
    bytes(2, "tiny-bert"),
    bytes(5, initializer),
    bytes(11, tensorInfo("input_ids", INT64, ["batch", "sequence"])),
    bytes(11, tensorInfo("attention_mask", INT64, ["batch", "sequence"])),
    bytes(12, tensorInfo("last_hidden_state", FLOAT, ["batch", "sequence", dimensions])),
  ]);
  return concat([
    int(1, 8), // ir_version
    bytes(2, "sluice-tests"),
    bytes(7, graph),
    bytes(8, concat([bytes(1, ""), int(2, 14)])), // opset_import: default domain, opset 14
  ]);
}
