import { type Analyzer, analyzeEnglish } from './analyzer.js';

/** Okapi BM25 parameters. */
export interface Bm25Params {
  /** Term-frequency saturation. Default 1.2. */
  k1: number;
  /** Length normalisation, 0 (none) … 1 (full). Default 0.75. */
  b: number;
}

/** A scored hit: `index` is the document's position in the order it was added. */
export interface Hit {
  index: number;
  score: number;
}

/** Serialisable BM25 statistics (see Bm25Index.toJSON). */
export interface Bm25State {
  format: 'atelier-bm25';
  version: 1;
  params: Bm25Params;
  /** Number of terms of each document. */
  docLengths: number[];
  /** term → flat [docIndex, termFrequency, docIndex, termFrequency, …], docIndex ascending. */
  postings: Record<string, number[]>;
}

/**
 * Okapi BM25 over an inverted index (Robertson & Zaragoza 2009), with Lucene's non-negative IDF
 * idf(t) = ln(1 + (N − df + 0.5) / (df + 0.5)) and
 * score(d, q) = Σ_t∈q idf(t) · tf·(k1 + 1) / (tf + k1·(1 − b + b·|d| / avgdl)).
 * Documents are appended with `add` (incremental; statistics stay exact) and addressed by insertion index.
 */
export class Bm25Index {
  readonly params: Bm25Params;
  private readonly analyzer: Analyzer;
  private readonly docLengths: number[] = [];
  private readonly postings = new Map<string, number[]>();
  private totalLength = 0;

  constructor(params: Partial<Bm25Params> = {}, analyzer: Analyzer = analyzeEnglish) {
    this.params = { k1: params.k1 ?? 1.2, b: params.b ?? 0.75 };
    if (!(this.params.k1 >= 0)) throw new Error(`Bm25Index: k1 must be >= 0, got ${this.params.k1}`);
    if (!(this.params.b >= 0 && this.params.b <= 1))
      throw new Error(`Bm25Index: b must be in [0, 1], got ${this.params.b}`);
    this.analyzer = analyzer;
  }

  /** Number of indexed documents. */
  get size(): number {
    return this.docLengths.length;
  }

  /** Index more documents; returns the index of the first one added. */
  add(texts: readonly string[]): number {
    const first = this.docLengths.length;
    texts.forEach((text, i) => {
      const doc = first + i;
      const tf = new Map<string, number>();
      const terms = this.analyzer(text);
      for (const t of terms) tf.set(t, (tf.get(t) ?? 0) + 1);
      for (const [t, n] of tf) {
        let list = this.postings.get(t);
        if (!list) this.postings.set(t, (list = []));
        list.push(doc, n);
      }
      this.docLengths.push(terms.length);
      this.totalLength += terms.length;
    });
    return first;
  }

  /** Inverse document frequency of an analysed term (0 for unknown terms). */
  idf(term: string): number {
    const list = this.postings.get(term);
    if (!list) return 0;
    const df = list.length / 2;
    const n = this.docLengths.length;
    return Math.log(1 + (n - df + 0.5) / (df + 0.5));
  }

  /** BM25 score of every document for `query` (Float64Array of length `size`). */
  scores(query: string): Float64Array {
    const n = this.docLengths.length;
    const out = new Float64Array(n);
    if (n === 0) return out;
    const { k1, b } = this.params;
    const avgdl = this.totalLength / n || 1;
    // Repeated query terms count once per occurrence, as in Lucene's BooleanQuery of term clauses.
    for (const term of this.analyzer(query)) {
      const list = this.postings.get(term);
      if (!list) continue;
      const idf = this.idf(term);
      for (let i = 0; i < list.length; i += 2) {
        const doc = list[i];
        const tf = list[i + 1];
        const norm = k1 * (1 - b + (b * this.docLengths[doc]) / avgdl);
        out[doc] += (idf * (tf * (k1 + 1))) / (tf + norm);
      }
    }
    return out;
  }

  /** The k best documents for `query`, best first; documents with score 0 are left out. Ties: lower index first. */
  search(query: string, k = 10): Hit[] {
    return topK(this.scores(query), k);
  }

  /** Statistics for persistence (JSON-serialisable). */
  toJSON(): Bm25State {
    return {
      format: 'atelier-bm25',
      version: 1,
      params: { ...this.params },
      docLengths: [...this.docLengths],
      postings: Object.fromEntries(this.postings),
    };
  }

  /** Rebuild an index from `toJSON()` output; `analyzer` must be the one it was built with. */
  static fromJSON(state: Bm25State, analyzer: Analyzer = analyzeEnglish): Bm25Index {
    if (state?.format !== 'atelier-bm25' || state.version !== 1) {
      throw new Error(`Bm25Index.fromJSON: not an atelier-bm25 v1 state (format=${String(state?.format)})`);
    }
    const index = new Bm25Index(state.params, analyzer);
    index.docLengths.push(...state.docLengths);
    index.totalLength = state.docLengths.reduce((s, x) => s + x, 0);
    for (const [term, list] of Object.entries(state.postings)) {
      if (list.length % 2 !== 0) throw new Error(`Bm25Index.fromJSON: postings of "${term}" have odd length`);
      index.postings.set(term, list);
    }
    return index;
  }
}

/** Indices of the k largest positive scores, best first (ties broken by lower index). */
export function topK(scores: ArrayLike<number>, k: number, keepNonPositive = false): Hit[] {
  const hits: Hit[] = [];
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i];
    if (!keepNonPositive && !(s > 0)) continue;
    if (hits.length < k) {
      hits.push({ index: i, score: s });
      if (hits.length === k) hits.sort(byScore);
    } else if (s > hits[k - 1].score) {
      // Insert into the sorted list and drop the last.
      let j = k - 1;
      while (j > 0 && hits[j - 1].score < s) j--;
      hits.splice(j, 0, { index: i, score: s });
      hits.pop();
    }
  }
  if (hits.length < k) hits.sort(byScore);
  return hits;
}

function byScore(a: Hit, b: Hit): number {
  return b.score - a.score || a.index - b.index;
}
