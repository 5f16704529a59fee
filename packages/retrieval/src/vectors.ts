import { tf } from '@atelier/tensor';
import type { Hit } from './bm25.js';
import type { EmbeddingMatrix } from './embedder.js';

/**
 * A growable matrix of unit-length embeddings searched by cosine similarity on the active tfjs backend.
 * Rows are L2-normalised on insert, so cosine = dot product; the matrix is kept on the backend transposed,
 * [dim, N], so queries [Q, dim] · [dim, N] is one untransposed matmul (the fast path on wasm).
 */
export class VectorIndex {
  readonly dim: number;
  private rows = 0;
  private data: Float32Array;
  private onBackend: tf.Tensor2D | undefined;

  constructor(dim: number) {
    if (!(Number.isInteger(dim) && dim > 0))
      throw new Error(`VectorIndex: dim must be a positive integer, got ${dim}`);
    this.dim = dim;
    this.data = new Float32Array(0);
  }

  /** Number of stored vectors. */
  get size(): number {
    return this.rows;
  }

  /** Row-major [size, dim] copy of the (normalised) vectors. */
  toMatrix(): EmbeddingMatrix {
    return { data: this.data.slice(0, this.rows * this.dim), rows: this.rows, dim: this.dim };
  }

  /**
   * Appends vectors, L2-normalised on the way in unless `unitRows` says they already are (e.g. rows read back
   * from a saved index, which must stay bit-identical); returns the index of the first.
   */
  add(m: EmbeddingMatrix, unitRows = false): number {
    if (m.dim !== this.dim)
      throw new Error(`VectorIndex.add: vectors have dim ${m.dim}, index has ${this.dim}`);
    if (m.data.length !== m.rows * m.dim)
      throw new Error(`VectorIndex.add: ${m.data.length} values for ${m.rows}×${m.dim}`);
    const first = this.rows;
    const need = (this.rows + m.rows) * this.dim;
    if (need > this.data.length) {
      const grown = new Float32Array(Math.max(need, this.data.length * 2));
      grown.set(this.data.subarray(0, this.rows * this.dim));
      this.data = grown;
    }
    this.data.set(m.data, this.rows * this.dim);
    if (!unitRows) normalizeRows(this.data.subarray(this.rows * this.dim, need), this.dim);
    this.rows += m.rows;
    this.onBackend?.dispose();
    this.onBackend = undefined;
    return first;
  }

  /** Top-k rows by cosine similarity for each query (rows of `queries`), best first. */
  async search(queries: EmbeddingMatrix, k = 10): Promise<Hit[][]> {
    if (queries.dim !== this.dim)
      throw new Error(`VectorIndex.search: queries have dim ${queries.dim}, index has ${this.dim}`);
    if (this.rows === 0 || queries.rows === 0) return Array.from({ length: queries.rows }, () => []);
    const kk = Math.min(k, this.rows);
    const matrixT = this.matrixT();
    const { values, indices } = tf.tidy(() => {
      const q = tf.tensor2d(queries.data, [queries.rows, this.dim]);
      const qn = tf.div(q, tf.maximum(tf.norm(q, 'euclidean', 1, true), 1e-12));
      const scores = tf.matMul(qn, matrixT); // [Q, N]
      return tf.topk(scores, kk, true);
    });
    const [v, ix] = await Promise.all([values.data(), indices.data()]);
    tf.dispose([values, indices]);
    return Array.from({ length: queries.rows }, (_, r) =>
      Array.from({ length: kk }, (_, j) => ({ index: ix[r * kk + j], score: v[r * kk + j] })),
    );
  }

  /** Frees the backend copy (the host copy stays). */
  dispose(): void {
    this.onBackend?.dispose();
    this.onBackend = undefined;
  }

  private matrixT(): tf.Tensor2D {
    if (!this.onBackend) {
      const { dim, rows } = this;
      const t = new Float32Array(dim * rows);
      for (let r = 0; r < rows; r++) for (let c = 0; c < dim; c++) t[c * rows + r] = this.data[r * dim + c];
      this.onBackend = tf.tensor2d(t, [dim, rows]);
    }
    return this.onBackend;
  }
}

function normalizeRows(data: Float32Array, dim: number): void {
  for (let r = 0; r < data.length / dim; r++) {
    let s = 0;
    for (let c = 0; c < dim; c++) s += data[r * dim + c] ** 2;
    const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
    for (let c = 0; c < dim; c++) data[r * dim + c] *= inv;
  }
}

/**
 * Reciprocal-rank fusion (Cormack, Clarke & Büttcher 2009): score(d) = Σ_lists 1 / (k + rank_d), rank 1-based.
 * Each list is best first; the result is best first (ties: lower index). k = 60 as in the paper.
 */
export function reciprocalRankFusion(
  lists: readonly (readonly Hit[])[],
  k = 60,
  limit = Number.POSITIVE_INFINITY,
): Hit[] {
  const fused = new Map<number, number>();
  for (const list of lists) {
    list.forEach((h, r) => {
      fused.set(h.index, (fused.get(h.index) ?? 0) + 1 / (k + r + 1));
    });
  }
  return [...fused]
    .map(([index, score]) => ({ index, score }))
    .sort((a, b) => b.score - a.score || a.index - b.index)
    .slice(0, limit);
}
