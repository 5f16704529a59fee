import { Rng } from './rng.js';
import type { Batch, BatchSource } from './types.js';

/** Fixed-length rows of token ids (and optional loss masks), e.g. the packed blocks from @atelier/datasets. */
export interface TokenRows {
  /** Row length in tokens. */
  T: number;
  /** rows × T token ids, row-major. */
  ids: Int32Array;
  /** rows × T loss mask (1 = the token counts as a target), optional. */
  mask?: Float32Array | Uint8Array;
}

export interface RowsSourceOptions {
  /** Rows per batch. */
  batchSize: number;
  /** Shuffle the rows anew each epoch with this seed (epoch e uses seed ⊕ e), or keep file order. */
  shuffle: boolean;
  seed: number;
  /** Drop the last incomplete batch (default) or wrap it around with rows from the epoch's start. */
  dropLast?: boolean;
}

/**
 * A `BatchSource` over in-memory rows: epoch `e` is a permutation of the rows drawn from `Rng(seed + e)`,
 * so batch (epoch, index) is a pure function and resuming at a saved position reads the same next batch.
 */
export function rowsBatchSource(rows: TokenRows, o: RowsSourceOptions): BatchSource {
  const { T } = rows;
  if (!Number.isInteger(T) || T < 2) throw new Error(`rows: T must be an integer ≥ 2, got ${T}`);
  if (rows.ids.length % T !== 0)
    throw new Error(`rows: ids.length ${rows.ids.length} is not a multiple of T=${T}`);
  if (rows.mask && rows.mask.length !== rows.ids.length) {
    throw new Error(`rows: mask length ${rows.mask.length} differs from ids length ${rows.ids.length}`);
  }
  const n = rows.ids.length / T;
  const B = o.batchSize;
  if (!Number.isInteger(B) || B < 1) throw new Error(`batchSize must be a positive integer, got ${B}`);
  if (n < B) throw new Error(`only ${n} rows of ${T} tokens: fewer than one batch of ${B}`);
  const batchesPerEpoch = o.dropLast === false ? Math.ceil(n / B) : Math.floor(n / B);
  let cachedEpoch = -1;
  let order: number[] = [];
  const orderOf = (epoch: number) => {
    if (epoch !== cachedEpoch) {
      order = Array.from({ length: n }, (_, i) => i);
      if (o.shuffle) new Rng((o.seed + Math.imul(epoch, 0x9e3779b1)) >>> 0).shuffle(order);
      cachedEpoch = epoch;
    }
    return order;
  };
  return {
    batchesPerEpoch,
    seed: o.seed,
    batch(epoch: number, index: number): Batch {
      if (index < 0 || index >= batchesPerEpoch)
        throw new Error(`batch index ${index} out of range [0, ${batchesPerEpoch})`);
      const ord = orderOf(epoch);
      const inputIds = new Int32Array(B * T);
      const mask = rows.mask ? new Float32Array(B * T) : undefined;
      for (let b = 0; b < B; b++) {
        const r = ord[(index * B + b) % n];
        inputIds.set(rows.ids.subarray(r * T, (r + 1) * T), b * T);
        if (mask && rows.mask) for (let t = 0; t < T; t++) mask[b * T + t] = rows.mask[r * T + t];
      }
      return mask ? { inputIds, mask, B, T } : { inputIds, B, T };
    },
  };
}

/** Number of target tokens a batch contributes to a mean loss (see `Batch` for the two conventions). */
export function targetTokens(batch: Batch): number {
  if (batch.labels) {
    if (!batch.mask) return batch.B * batch.T;
    let s = 0;
    for (let i = 0; i < batch.B * batch.T; i++) s += batch.mask[i];
    return s;
  }
  if (batch.mask) {
    let s = 0;
    // Position 0 is never a target (nothing predicts it).
    for (let b = 0; b < batch.B; b++) for (let t = 1; t < batch.T; t++) s += batch.mask[b * batch.T + t];
    return s;
  }
  return batch.B * (batch.T - 1);
}
