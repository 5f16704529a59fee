/**
 * The byte-level BPE model: vocabulary, merge ranks and the merge loop for one pre-token.
 *
 * Merge ranks live in an open-addressing hash table keyed by the packed pair of token ids (no string
 * concatenation, no Map of heap-number keys). The merge loop is the classic one (openai/gpt-2 `bpe()`,
 * tiktoken `byte_pair_merge`): repeatedly merge the adjacent pair with the lowest rank, leftmost first.
 */
import { BYTE_TO_UNICODE, unicodeToBytes } from './bytes.js';

/** Where a merge came from, for error messages (e.g. `merges.txt line 7`). */
export type MergeOrigin = (index: number) => string;

export class TokenizerFileError extends Error {
  override name = 'TokenizerFileError';
}

/** Hash table from (left id, right id) → merge rank. */
export class PairRanks {
  private readonly mask: number;
  private readonly left: Int32Array;
  private readonly right: Int32Array;
  private readonly rank: Int32Array;

  constructor(expected: number) {
    let cap = 16;
    while (cap < expected * 2) cap <<= 1;
    this.mask = cap - 1;
    this.left = new Int32Array(cap).fill(-1);
    this.right = new Int32Array(cap);
    this.rank = new Int32Array(cap);
  }

  private static hash(a: number, b: number): number {
    return (Math.imul(a, 0x9e3779b1) ^ Math.imul(b, 0x85ebca6b)) >>> 0;
  }

  /** Insert unless present; returns false if the pair was already there. */
  set(a: number, b: number, r: number): boolean {
    let h = PairRanks.hash(a, b) & this.mask;
    while (this.left[h] !== -1) {
      if (this.left[h] === a && this.right[h] === b) return false;
      h = (h + 1) & this.mask;
    }
    this.left[h] = a;
    this.right[h] = b;
    this.rank[h] = r;
    return true;
  }

  /** Rank of the pair, or -1. */
  get(a: number, b: number): number {
    let h = PairRanks.hash(a, b) & this.mask;
    for (;;) {
      const l = this.left[h];
      if (l === -1) return -1;
      if (l === a && this.right[h] === b) return this.rank[h];
      h = (h + 1) & this.mask;
    }
  }
}

const NO_MERGE = 0x7fffffff;
/** Pre-tokens longer than this many bytes use the O(n log n) merge (the quadratic loop is faster below). */
const LONG_WORD = 128;

/** Vocabulary + merges, validated. Token strings are in GPT-2's byte-level alphabet. */
export class BpeModel {
  /** Token string → id (byte-level alphabet, e.g. `Ġthe`). */
  readonly encoder: Map<string, number>;
  /** id → token string; holes are undefined. */
  readonly decoderStrings: string[];
  /** id → raw bytes of the token. */
  readonly tokenBytes: Uint8Array[];
  /** Merges in rank order as [left, right] token strings. */
  readonly merges: [string, string][];
  /** byte → id of its single-byte token. */
  readonly byteToId: Int32Array;
  private readonly ranks: PairRanks;
  /** rank → id of the merged token. */
  private readonly mergedId: Int32Array;
  private scratchIds = new Int32Array(64);
  private scratchRanks = new Int32Array(64);

  /**
   * @param vocab token string → id
   * @param merges `[left, right]` in rank order
   * @param vocabOrigin name of the vocabulary source for errors (e.g. `vocab.json`)
   * @param mergeOrigin describes merge `i` for errors (e.g. `merges.txt line 9`)
   */
  constructor(
    vocab: Map<string, number>,
    merges: [string, string][],
    vocabOrigin = 'vocabulary',
    mergeOrigin: MergeOrigin = (i) => `merge #${i}`,
  ) {
    this.encoder = vocab;
    this.merges = merges;
    this.decoderStrings = [];
    this.tokenBytes = [];
    for (const [tok, id] of vocab) {
      if (!Number.isInteger(id) || id < 0 || id >= 1 << 24) {
        throw new TokenizerFileError(`${vocabOrigin}: token ${JSON.stringify(tok)} has invalid id ${id}`);
      }
      if (this.decoderStrings[id] !== undefined) {
        throw new TokenizerFileError(
          `${vocabOrigin}: id ${id} is used by both ${JSON.stringify(this.decoderStrings[id])} and ${JSON.stringify(tok)}`,
        );
      }
      const bytes = unicodeToBytes(tok);
      if (bytes === null || bytes.length === 0) {
        throw new TokenizerFileError(
          `${vocabOrigin}: token ${JSON.stringify(tok)} (id ${id}) is not in GPT-2's byte-level alphabet; is this a byte-level BPE vocabulary?`,
        );
      }
      this.decoderStrings[id] = tok;
      this.tokenBytes[id] = bytes;
    }
    this.byteToId = new Int32Array(256);
    for (let b = 0; b < 256; b++) {
      const id = vocab.get(BYTE_TO_UNICODE[b]);
      if (id === undefined) {
        throw new TokenizerFileError(
          `${vocabOrigin}: no token for byte 0x${b.toString(16).padStart(2, '0')} (${JSON.stringify(BYTE_TO_UNICODE[b])}); a byte-level BPE needs all 256`,
        );
      }
      this.byteToId[b] = id;
    }
    this.ranks = new PairRanks(merges.length);
    this.mergedId = new Int32Array(merges.length);
    for (let r = 0; r < merges.length; r++) {
      const [a, b] = merges[r];
      const ia = vocab.get(a);
      const ib = vocab.get(b);
      const im = vocab.get(a + b);
      if (ia === undefined)
        throw new TokenizerFileError(`${mergeOrigin(r)}: ${JSON.stringify(a)} is not in the ${vocabOrigin}`);
      if (ib === undefined)
        throw new TokenizerFileError(`${mergeOrigin(r)}: ${JSON.stringify(b)} is not in the ${vocabOrigin}`);
      if (im === undefined) {
        throw new TokenizerFileError(
          `${mergeOrigin(r)}: merged token ${JSON.stringify(a + b)} is not in the ${vocabOrigin}`,
        );
      }
      // A repeated merge keeps its first (lowest) rank, as Hugging Face tokenizers does.
      if (this.ranks.set(ia, ib, r)) this.mergedId[r] = im;
    }
  }

  /** Rank of merging tokens `a` and `b`, or -1. */
  rank(a: number, b: number): number {
    return this.ranks.get(a, b);
  }

  /** Append the BPE token ids of `bytes[0, n)` to `out` and return how many were appended. */
  encodeBytes(bytes: Uint8Array, n: number, out: number[]): number {
    if (n === 1) {
      out.push(this.byteToId[bytes[0]]);
      return 1;
    }
    if (n > LONG_WORD) return this.encodeLong(bytes, n, out);
    if (this.scratchIds.length < n) {
      this.scratchIds = new Int32Array(n * 2);
      this.scratchRanks = new Int32Array(n * 2);
    }
    const ids = this.scratchIds;
    const ranks = this.scratchRanks;
    for (let i = 0; i < n; i++) ids[i] = this.byteToId[bytes[i]];
    let len = n;
    for (let i = 0; i + 1 < len; i++) ranks[i] = this.pairRank(ids[i], ids[i + 1]);
    while (len > 1) {
      // Lowest rank, leftmost on ties.
      let best = NO_MERGE;
      let at = -1;
      for (let i = 0; i + 1 < len; i++) {
        if (ranks[i] < best) {
          best = ranks[i];
          at = i;
        }
      }
      if (at < 0) break;
      ids[at] = this.mergedId[best];
      ids.copyWithin(at + 1, at + 2, len);
      ranks.copyWithin(at + 1, at + 2, len - 1);
      len--;
      if (at + 1 < len) ranks[at] = this.pairRank(ids[at], ids[at + 1]);
      if (at > 0) ranks[at - 1] = this.pairRank(ids[at - 1], ids[at]);
    }
    for (let i = 0; i < len; i++) out.push(ids[i]);
    return len;
  }

  /**
   * The same merges for long pre-tokens (a 100 kB run of letters, say) in O(n log n): a doubly linked list of
   * parts and a min-heap of (rank, position) candidates, validated lazily when popped. Leftmost-first on equal
   * ranks holds because positions keep their order.
   */
  private encodeLong(bytes: Uint8Array, n: number, out: number[]): number {
    const ids = new Int32Array(n);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    const alive = new Uint8Array(n).fill(1);
    for (let i = 0; i < n; i++) {
      ids[i] = this.byteToId[bytes[i]];
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    // Heap entries packed as rank * 2^32 + position (both < 2^21 and 2^32): smaller = better.
    const heap: number[] = [];
    const push = (v: number) => {
      heap.push(v);
      let i = heap.length - 1;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (heap[p] <= v) break;
        heap[i] = heap[p];
        i = p;
      }
      heap[i] = v;
    };
    const pop = (): number => {
      const top = heap[0];
      const last = heap.pop() as number;
      if (heap.length > 0) {
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          if (l >= heap.length) break;
          const c = l + 1 < heap.length && heap[l + 1] < heap[l] ? l + 1 : l;
          if (heap[c] >= last) break;
          heap[i] = heap[c];
          i = c;
        }
        heap[i] = last;
      }
      return top;
    };
    const consider = (i: number) => {
      const j = next[i];
      if (j < 0) return;
      const r = this.ranks.get(ids[i], ids[j]);
      if (r >= 0) push(r * 2 ** 32 + i);
    };
    for (let i = 0; i + 1 < n; i++) consider(i);
    while (heap.length > 0) {
      const v = pop();
      const r = Math.floor(v / 2 ** 32);
      const i = v - r * 2 ** 32;
      const j = next[i];
      if (!alive[i] || j < 0 || this.ranks.get(ids[i], ids[j]) !== r) continue; // stale
      ids[i] = this.mergedId[r];
      alive[j] = 0;
      next[i] = next[j];
      if (next[j] >= 0) prev[next[j]] = i;
      if (prev[i] >= 0) consider(prev[i]);
      consider(i);
    }
    let count = 0;
    for (let i = 0; i >= 0; i = next[i]) {
      out.push(ids[i]);
      count++;
    }
    return count;
  }

  private pairRank(a: number, b: number): number {
    const r = this.ranks.get(a, b);
    return r < 0 ? NO_MERGE : r;
  }
}
