import { open, readFile, rename } from 'node:fs/promises';
import { hash32, permutation } from './hash.js';

/** Token ids and per-token loss mask of one document (what `formatRecord` returns). */
export interface TokenDoc {
  ids: ArrayLike<number>;
  mask?: ArrayLike<number>;
}

/**
 * Documents concatenated into one token stream and cut into `numBlocks` fixed blocks of `T` positions.
 * Block `k` reads tokens `[k*T, k*T + T]` (T + 1 tokens: T inputs, and the T next-token targets shifted by
 * one), so consecutive blocks share one boundary token and every token is a target exactly once.
 * `mask[j]` = 1 when token `j` is trained on as a target (answer tokens and EOS in Q&A data).
 */
export interface PackedDataset {
  tokens: Int32Array;
  mask: Uint8Array;
  T: number;
  numBlocks: number;
  /** Documents packed. */
  documents: number;
  /** Padding tokens (mask 0): filling the last block, and before documents moved to a new block. */
  padded: number;
}

/** Options of {@link packDocuments}. */
export interface PackOptions {
  /** Block length T (context positions per row). */
  blockSize: number;
  /**
   * What to do with tokens after the last full block: `'pad'` (default) fills the block with `padId` tokens
   * that carry mask 0, `'drop'` leaves them out (as nanoGPT and llm.c do with their token files).
   */
  remainder?: 'pad' | 'drop';
  /** Padding id (default 0; use the EOS id). Padding never counts in the loss. */
  padId?: number;
  /**
   * `'pack'` (default): documents follow each other with no gaps, so a document may start in one block and end
   * in the next. `'document'`: a document that would straddle a block boundary but fits in one block starts a
   * new block instead (the rest of the current block is padding with mask 0), so short Q&A documents are never
   * cut away from their prompt. Costs padding; longer documents still straddle (see `maxTokens` in
   * `formatRecord`).
   */
  align?: 'pack' | 'document';
}

/**
 * Packs documents (each already ending in EOS) into fixed blocks, carrying the loss mask through. Without a
 * mask a document is trained on entirely.
 */
export async function packDocuments(
  docs: AsyncIterable<TokenDoc> | Iterable<TokenDoc>,
  options: PackOptions,
): Promise<PackedDataset> {
  const T = options.blockSize;
  if (!Number.isInteger(T) || T < 1)
    throw new Error(`packDocuments: blockSize must be a positive integer, got ${T}`);
  let tokens = new Int32Array(1 << 16);
  let mask = new Uint8Array(1 << 16);
  let n = 0;
  let documents = 0;
  let alignPadding = 0;
  const grow = (need: number) => {
    if (need <= tokens.length) return;
    let cap = tokens.length;
    while (cap < need) cap *= 2;
    const t2 = new Int32Array(cap);
    t2.set(tokens.subarray(0, n));
    const m2 = new Uint8Array(cap);
    m2.set(mask.subarray(0, n));
    tokens = t2;
    mask = m2;
  };
  for await (const d of docs) {
    const len = d.ids.length;
    if (d.mask && d.mask.length !== len)
      throw new Error(`packDocuments: document ${documents} has ${len} ids but ${d.mask.length} mask values`);
    if (options.align === 'document' && n % T !== 0 && len <= T + 1) {
      // Block k = floor(n / T) ends at token (k + 1) * T (shared with block k + 1).
      const blockEnd = (Math.floor(n / T) + 1) * T;
      if (n + len - 1 > blockEnd) {
        grow(blockEnd);
        tokens.fill(options.padId ?? 0, n, blockEnd);
        mask.fill(0, n, blockEnd);
        alignPadding += blockEnd - n;
        n = blockEnd;
      }
    }
    grow(n + len);
    tokens.set(d.ids, n);
    if (d.mask) mask.set(d.mask, n);
    else mask.fill(1, n, n + len);
    n += len;
    documents++;
  }
  const remainder = options.remainder ?? 'pad';
  let numBlocks = n > 1 ? Math.floor((n - 1) / T) : 0;
  let padded = alignPadding;
  if (remainder === 'pad' && n > 1 && (n - 1) % T !== 0) {
    numBlocks++;
    const tail = numBlocks * T + 1 - n;
    grow(n + tail);
    tokens.fill(options.padId ?? 0, n, n + tail);
    mask.fill(0, n, n + tail);
    padded += tail;
  }
  const used = numBlocks > 0 ? numBlocks * T + 1 : n;
  return {
    tokens: tokens.slice(0, used),
    mask: mask.slice(0, used),
    T,
    numBlocks,
    documents,
    padded,
  };
}

/**
 * One training batch: B rows of T positions, row-major (`inputIds[b * T + t]`). `labels[i]` is the token
 * that follows `inputIds[i]` (the next-token target); `mask[i]` is 1 when that target counts in the loss.
 * Loss = Σ mask·CE(logits, labels) / Σ mask. This is the `Batch` shape `@atelier/trainer` consumes.
 */
export interface Batch {
  inputIds: Int32Array;
  labels: Int32Array;
  mask: Float32Array;
  B: number;
  T: number;
}

/** Where a loader stands: the next batch is batch `index` of epoch `epoch`, shuffled with `seed`. */
export interface DataPosition {
  epoch: number;
  index: number;
  seed: number;
}

/** Options of {@link BatchLoader}. */
export interface BatchLoaderOptions {
  /** Rows per batch. */
  batchSize: number;
  /** Shuffle seed (default 0). Each epoch uses its own permutation derived from (seed, epoch). */
  seed?: number;
  /** Shuffle the blocks each epoch (default true); false keeps corpus order. */
  shuffle?: boolean;
  /**
   * Leave out the last, smaller batch of an epoch (default true: every batch has exactly B rows). With fewer
   * blocks than B the loader makes one batch of all blocks per epoch rather than none.
   */
  dropLast?: boolean;
}

/**
 * Seeded, shuffled batches over packed blocks, with epochs and an exactly resumable position: a loader
 * created at a saved {@link DataPosition} returns the same next batch as the run that saved it, because batch
 * `(epoch, index)` is a pure function of the data, B, and the seed. Implements `@atelier/trainer`'s
 * `BatchSource` (`batchesPerEpoch`, `seed`, `batch(epoch, index)`).
 */
export class BatchLoader {
  readonly B: number;
  readonly T: number;
  readonly seed: number;
  readonly batchesPerEpoch: number;
  private readonly shuffle: boolean;
  private readonly rowsPerEpoch: number;
  private permEpoch = -1;
  private perm: Uint32Array = new Uint32Array(0);
  private pos: { epoch: number; index: number };

  constructor(
    readonly data: PackedDataset,
    options: BatchLoaderOptions,
    position?: DataPosition,
  ) {
    if (data.numBlocks < 1)
      throw new Error('BatchLoader: the packed dataset has no blocks (too few tokens for one block)');
    const B = options.batchSize;
    if (!Number.isInteger(B) || B < 1)
      throw new Error(`BatchLoader: batchSize must be a positive integer, got ${B}`);
    this.seed = (options.seed ?? 0) >>> 0;
    this.shuffle = options.shuffle ?? true;
    this.T = data.T;
    const n = data.numBlocks;
    const dropLast = options.dropLast ?? true;
    this.B = Math.min(B, n);
    this.batchesPerEpoch = dropLast ? Math.floor(n / this.B) : Math.ceil(n / this.B);
    this.rowsPerEpoch = n;
    this.pos = { epoch: 0, index: 0 };
    if (position) this.seek(position);
  }

  /** The position of the next batch {@link next} returns; save it with a checkpoint. */
  get position(): DataPosition {
    return { epoch: this.pos.epoch, index: this.pos.index, seed: this.seed };
  }

  /** Moves to a saved position. Throws if it was saved with another seed or is out of range. */
  seek(position: DataPosition): void {
    if (position.seed >>> 0 !== this.seed) {
      throw new Error(
        `BatchLoader: position was saved with seed ${position.seed}, this loader uses ${this.seed}`,
      );
    }
    if (position.index < 0 || position.index > this.batchesPerEpoch || position.epoch < 0) {
      throw new Error(
        `BatchLoader: position ${JSON.stringify(position)} is outside 0..${this.batchesPerEpoch} batches`,
      );
    }
    this.pos = { epoch: position.epoch, index: position.index };
    if (this.pos.index === this.batchesPerEpoch) this.pos = { epoch: this.pos.epoch + 1, index: 0 };
  }

  /** The block order of an epoch. */
  order(epoch: number): Uint32Array {
    if (this.permEpoch !== epoch) {
      if (this.shuffle) this.perm = permutation(this.rowsPerEpoch, hash32(`epoch:${epoch}`, this.seed));
      else {
        this.perm = new Uint32Array(this.rowsPerEpoch);
        for (let i = 0; i < this.rowsPerEpoch; i++) this.perm[i] = i;
      }
      this.permEpoch = epoch;
    }
    return this.perm;
  }

  /** Batch `index` of `epoch` (deterministic; does not move the position). */
  batch(epoch: number, index: number): Batch {
    if (index < 0 || index >= this.batchesPerEpoch) {
      throw new Error(`BatchLoader: batch index ${index} outside 0..${this.batchesPerEpoch - 1}`);
    }
    const order = this.order(epoch);
    const T = this.T;
    const first = index * this.B;
    const B = Math.min(this.B, this.rowsPerEpoch - first);
    const inputIds = new Int32Array(B * T);
    const labels = new Int32Array(B * T);
    const mask = new Float32Array(B * T);
    const { tokens, mask: m } = this.data;
    for (let b = 0; b < B; b++) {
      const start = order[first + b] * T;
      inputIds.set(tokens.subarray(start, start + T), b * T);
      labels.set(tokens.subarray(start + 1, start + T + 1), b * T);
      for (let t = 0; t < T; t++) mask[b * T + t] = m[start + t + 1];
    }
    return { inputIds, labels, mask, B, T };
  }

  /** The next batch; advances the position (across epochs). */
  next(): Batch {
    const b = this.batch(this.pos.epoch, this.pos.index);
    this.pos.index++;
    if (this.pos.index >= this.batchesPerEpoch) this.pos = { epoch: this.pos.epoch + 1, index: 0 };
    return b;
  }
}

const MAGIC = 'ATDS1';

/**
 * Writes a packed dataset to one binary file, atomically (temp file + rename): a JSON header line
 * (`{"magic":"ATDS1","T":..,"numBlocks":..,"tokens":N,...}`), then N little-endian int32 token ids, then N mask
 * bytes.
 */
export async function savePacked(file: string, data: PackedDataset): Promise<void> {
  const header = JSON.stringify({
    magic: MAGIC,
    T: data.T,
    numBlocks: data.numBlocks,
    documents: data.documents,
    padded: data.padded,
    tokens: data.tokens.length,
  });
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w');
  try {
    await fh.write(`${header}\n`);
    const tok = new Int32Array(data.tokens); // platform order is little-endian on every supported Node target
    await fh.write(new Uint8Array(tok.buffer, tok.byteOffset, tok.byteLength));
    await fh.write(data.mask);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

/** Reads a file written by {@link savePacked}; throws naming the file when it is not one or is truncated. */
export async function loadPacked(file: string): Promise<PackedDataset> {
  const buf = await readFile(file);
  const nl = buf.indexOf(10);
  let header: {
    magic?: string;
    T: number;
    numBlocks: number;
    documents: number;
    padded: number;
    tokens: number;
  };
  try {
    header = JSON.parse(buf.subarray(0, nl).toString('utf8'));
  } catch {
    throw new Error(`${file}: not a packed dataset (no JSON header line)`);
  }
  if (header.magic !== MAGIC) throw new Error(`${file}: not a packed dataset (magic ${header.magic})`);
  const n = header.tokens;
  const need = nl + 1 + n * 5;
  if (buf.length !== need)
    throw new Error(`${file}: truncated or padded: ${buf.length} bytes, expected ${need}`);
  const tokBytes = buf.subarray(nl + 1, nl + 1 + n * 4);
  const tokens = new Int32Array(n);
  new Uint8Array(tokens.buffer).set(tokBytes);
  const mask = new Uint8Array(buf.subarray(nl + 1 + n * 4, need));
  return {
    tokens,
    mask,
    T: header.T,
    numBlocks: header.numBlocks,
    documents: header.documents,
    padded: header.padded,
  };
}
