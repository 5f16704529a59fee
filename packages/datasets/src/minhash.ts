import { fmix32, hash32 } from './hash.js';

/** Options of {@link MinHashLSH}. */
export interface MinHashOptions {
  /** Estimated Jaccard similarity at or above which two texts are near-duplicates (default 0.8). */
  threshold?: number;
  /** Number of hash functions in a signature (default 128). */
  numPerm?: number;
  /** Words per shingle (default 5). */
  shingleSize?: number;
  /** Seed of the hash family (default 1). */
  seed?: number;
}

/** Lower-cased words of a text (letters and digits), the units shingles are made of. */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+(?:['’][\p{L}]+)*/gu) ?? [];
}

/**
 * Hashes of the overlapping k-word shingles of a text (one shingle of all words when there are fewer than k).
 * Each word is hashed once; a shingle's hash combines its k word hashes in order (Murmur3 mixing steps), so
 * no shingle strings are built.
 */
export function shingleHashes(text: string, k: number, seed = 0): Uint32Array {
  const w = words(text);
  if (w.length === 0) return new Uint32Array(0);
  const wh = new Uint32Array(w.length);
  for (let i = 0; i < w.length; i++) wh[i] = hash32(w[i], seed);
  const span = Math.min(k, w.length);
  const n = w.length - span + 1;
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    let h = seed ^ span;
    for (let j = 0; j < span; j++) {
      let x = Math.imul(wh[i + j], 0xcc9e2d51);
      x = (x << 15) | (x >>> 17);
      h ^= Math.imul(x, 0x1b873593);
      h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
    }
    out[i] = fmix32(h);
  }
  return out;
}

/**
 * Picks LSH bands × rows (b·r ≤ numPerm): the most rows per band (fewest false candidates) such that a pair
 * exactly at the threshold still becomes a candidate with probability `1 - (1 - s^r)^b ≥ recall` (default
 * 0.99). Candidates are then verified on the full signature, so false candidates cost time, not accuracy.
 * (Leskovec, Rajaraman & Ullman, "Mining of Massive Datasets", ch. 3; datasketch weighs the two error areas.)
 */
export function lshParams(
  threshold: number,
  numPerm: number,
  recall = 0.99,
): { bands: number; rows: number } {
  for (let rows = numPerm; rows >= 1; rows--) {
    const bands = Math.floor(numPerm / rows);
    if (1 - (1 - threshold ** rows) ** bands >= recall) return { bands, rows };
  }
  return { bands: numPerm, rows: 1 };
}

/**
 * Near-duplicate detection with MinHash signatures over word shingles and locality-sensitive hashing:
 * signatures are cut into bands; texts sharing a band bucket are candidates, and a candidate counts when the
 * fraction of equal signature values (an unbiased estimate of the Jaccard similarity of the shingle sets) is
 * at least the threshold. Deterministic for a given seed. Broder (1997); datasketch's MinHashLSH is the
 * reference design.
 */
export class MinHashLSH {
  readonly threshold: number;
  readonly numPerm: number;
  readonly shingleSize: number;
  readonly bands: number;
  readonly rows: number;
  private readonly seeds: Uint32Array;
  private readonly buckets: Map<number, number[]>[];
  private readonly signatures: Uint32Array[] = [];

  constructor(options: MinHashOptions = {}) {
    this.threshold = options.threshold ?? 0.8;
    this.numPerm = options.numPerm ?? 128;
    this.shingleSize = options.shingleSize ?? 5;
    const seed = options.seed ?? 1;
    this.seeds = new Uint32Array(this.numPerm);
    for (let i = 0; i < this.numPerm; i++) this.seeds[i] = hash32(`perm:${i}`, seed);
    const { bands, rows } = lshParams(this.threshold, this.numPerm);
    this.bands = bands;
    this.rows = rows;
    this.buckets = Array.from({ length: bands }, () => new Map());
  }

  /** MinHash signature of a text: for each hash function, the minimum over the text's shingles. */
  signature(text: string): Uint32Array {
    const sh = shingleHashes(text, this.shingleSize);
    const P = this.numPerm;
    const seeds = this.seeds;
    const sig = new Uint32Array(P);
    const n = sh.length;
    for (let p = 0; p < P; p++) {
      const seed = seeds[p];
      let min = 0xffffffff;
      for (let i = 0; i < n; i++) {
        // fmix32(shingle ^ seed_p), inlined: one member of the hash family per seed.
        let h = sh[i] ^ seed;
        h ^= h >>> 16;
        h = Math.imul(h, 0x85ebca6b);
        h ^= h >>> 13;
        h = Math.imul(h, 0xc2b2ae35);
        h = (h ^ (h >>> 16)) >>> 0;
        if (h < min) min = h;
      }
      sig[p] = min;
    }
    return sig;
  }

  /** Estimated Jaccard similarity of two signatures. */
  static similarity(a: Uint32Array, b: Uint32Array): number {
    let eq = 0;
    for (let i = 0; i < a.length; i++) if (a[i] === b[i]) eq++;
    return eq / a.length;
  }

  /**
   * A 32-bit hash of one band of a signature (its `rows` values). Two texts whose band hashes collide without
   * equal bands only become a false candidate, which the full-signature check then rejects.
   */
  private bandKey(sig: Uint32Array, band: number): number {
    const start = band * this.rows;
    let h = band;
    for (let i = start; i < start + this.rows; i++) {
      let k = Math.imul(sig[i], 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      h ^= Math.imul(k, 0x1b873593);
      h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
    }
    return fmix32(h);
  }

  /**
   * The best earlier text this one near-duplicates (`{ index, similarity }`), or null. Does not add it.
   */
  query(sig: Uint32Array): { index: number; similarity: number } | null {
    let best: { index: number; similarity: number } | null = null;
    const seen = new Set<number>();
    for (let b = 0; b < this.bands; b++) {
      const hits = this.buckets[b].get(this.bandKey(sig, b));
      if (!hits) continue;
      for (const idx of hits) {
        if (seen.has(idx)) continue;
        seen.add(idx);
        const s = MinHashLSH.similarity(sig, this.signatures[idx]);
        if (s >= this.threshold && (!best || s > best.similarity)) best = { index: idx, similarity: s };
      }
    }
    return best;
  }

  /** Adds a signature to the index; returns its index. */
  insert(sig: Uint32Array): number {
    const idx = this.signatures.length;
    this.signatures.push(sig);
    for (let b = 0; b < this.bands; b++) {
      const key = this.bandKey(sig, b);
      const list = this.buckets[b].get(key);
      if (list) list.push(idx);
      else this.buckets[b].set(key, [idx]);
    }
    return idx;
  }

  /**
   * Checks a text against everything added so far and adds it if it is new. Returns the index of the earlier
   * near-duplicate, or -1 when the text is new (then it is added).
   */
  addIfNew(text: string): number {
    const sig = this.signature(text);
    const hit = this.query(sig);
    if (hit) return hit.index;
    this.insert(sig);
    return -1;
  }
}
