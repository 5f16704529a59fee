/**
 * Learning a byte-level BPE (for models trained from scratch), the way GPT-2's vocabulary was built and
 * Hugging Face `tokenizers`' BpeTrainer does it:
 *
 * 1. split the corpus with GPT-2's pre-tokenizer and count each distinct word;
 * 2. start from the 256 single-byte tokens (every text stays encodable);
 * 3. repeatedly merge the most frequent adjacent pair of tokens (ties: the pair of smaller ids), counting a
 *    pair once per occurrence weighted by its word's frequency, until the vocabulary is full or the best pair
 *    occurs fewer than `minFrequency` times.
 *
 * Pair counts are updated incrementally: only words containing the merged pair are revisited, and a lazy
 * max-heap holds candidate pairs.
 */
import { BYTE_TO_UNICODE, utf8 } from './bytes.js';
import { nextPieceEnd } from './pretokenize.js';
import { Tokenizer } from './tokenizer.js';

export interface TrainBpeOptions {
  /** Final vocabulary size, including the 256 byte tokens and the special tokens. */
  vocabSize: number;
  /** Stop when the most frequent pair occurs fewer times than this (default 2). */
  minFrequency?: number;
  /** Special tokens, given ids after the learned tokens (default `['<|endoftext|>']`). */
  specialTokens?: string[];
  /** Called every 100 merges and at the end with (merges done, merges wanted). */
  onProgress?: (done: number, total: number) => void;
}

const SHIFT = 2 ** 24;
const pairKey = (a: number, b: number) => a * SHIFT + b;

/** Max-heap of (count, pair key) with ties broken towards the smaller key. */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];

  get size(): number {
    return this.keys.length;
  }

  private above(i: number, j: number): boolean {
    return (
      this.counts[i] > this.counts[j] || (this.counts[i] === this.counts[j] && this.keys[i] < this.keys[j])
    );
  }

  private swap(i: number, j: number): void {
    [this.counts[i], this.counts[j]] = [this.counts[j], this.counts[i]];
    [this.keys[i], this.keys[j]] = [this.keys[j], this.keys[i]];
  }

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.keys.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.above(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  pop(): [number, number] {
    const top: [number, number] = [this.counts[0], this.keys[0]];
    const last = this.keys.length - 1;
    this.swap(0, last);
    this.counts.pop();
    this.keys.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.keys.length && this.above(l, m)) m = l;
      if (r < this.keys.length && this.above(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }
}

/** Learn a byte-level BPE tokenizer from texts; see the module comment for the algorithm. */
export function trainBpe(corpus: Iterable<string>, options: TrainBpeOptions): Tokenizer {
  const specials = options.specialTokens ?? ['<|endoftext|>'];
  const minFrequency = options.minFrequency ?? 2;
  const target = options.vocabSize - specials.length;
  if (!Number.isInteger(options.vocabSize) || target < 256) {
    throw new Error(
      `trainBpe: vocabSize must be an integer ≥ 256 + ${specials.length} special tokens, got ${options.vocabSize}`,
    );
  }

  // 1. Word frequencies.
  const wordCounts = new Map<string, number>();
  for (const text of corpus) {
    for (let i = 0; i < text.length; ) {
      const e = nextPieceEnd(text, i, text.length);
      const w = text.slice(i, e);
      wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);
      i = e;
    }
  }

  // 2. Byte alphabet, ordered like GPT-2's first 256 ids (by the byte's printable character).
  const tokens: string[] = [...BYTE_TO_UNICODE].sort((a, b) => a.charCodeAt(0) - b.charCodeAt(0));
  const byteId = new Int32Array(256);
  tokens.forEach((ch, id) => {
    byteId[BYTE_TO_UNICODE.indexOf(ch)] = id;
  });
  const words: number[][] = [];
  const freqs: number[] = [];
  for (const [w, n] of wordCounts) {
    words.push([...utf8(w)].map((b) => byteId[b]));
    freqs.push(n);
  }

  // 3. Pair statistics.
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPairs = (wi: number, sign: number, changed: Set<number>) => {
    const sym = words[wi];
    for (let i = 0; i + 1 < sym.length; i++) {
      const k = pairKey(sym[i], sym[i + 1]);
      pairCount.set(k, (pairCount.get(k) ?? 0) + sign * freqs[wi]);
      changed.add(k);
      if (sign > 0) {
        let set = pairWords.get(k);
        if (set === undefined) pairWords.set(k, (set = new Set()));
        set.add(wi);
      }
    }
  };
  const heap = new PairHeap();
  const initial = new Set<number>();
  for (let wi = 0; wi < words.length; wi++) addPairs(wi, 1, initial);
  for (const k of initial) heap.push(pairCount.get(k) as number, k);

  const merges: [string, string][] = [];
  const wanted = target - 256;
  while (tokens.length < target && heap.size > 0) {
    const [count, key] = heap.pop();
    if (pairCount.get(key) !== count) continue; // stale entry
    if (count < minFrequency || count <= 0) break;
    const a = Math.floor(key / SHIFT);
    const b = key % SHIFT;
    const id = tokens.length;
    tokens.push(tokens[a] + tokens[b]);
    merges.push([tokens[a], tokens[b]]);
    const changed = new Set<number>();
    for (const wi of pairWords.get(key) ?? []) {
      const sym = words[wi];
      let has = false;
      for (let i = 0; i + 1 < sym.length; i++) {
        if (sym[i] === a && sym[i + 1] === b) {
          has = true;
          break;
        }
      }
      if (!has) continue;
      addPairs(wi, -1, changed);
      const next: number[] = [];
      for (let i = 0; i < sym.length; i++) {
        if (i + 1 < sym.length && sym[i] === a && sym[i + 1] === b) {
          next.push(id);
          i++;
        } else next.push(sym[i]);
      }
      words[wi] = next;
      addPairs(wi, 1, changed);
    }
    pairWords.delete(key);
    for (const k of changed) {
      const c = pairCount.get(k) as number;
      if (c > 0) heap.push(c, k);
      else {
        pairCount.delete(k);
        pairWords.delete(k);
      }
    }
    if (merges.length % 100 === 0) options.onProgress?.(merges.length, wanted);
  }
  options.onProgress?.(merges.length, wanted);

  const vocab = new Map<string, number>(tokens.map((t, i) => [t, i]));
  const specialTokens = new Map<string, number>(specials.map((t, i) => [t, tokens.length + i]));
  return new Tokenizer({
    vocab,
    merges,
    specialTokens,
    eosToken: specials.includes('<|endoftext|>') ? '<|endoftext|>' : specials[0],
    vocabOrigin: 'trained vocabulary',
  });
}
