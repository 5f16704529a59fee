import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BatchLoader, loadPacked, packDocuments, savePacked } from './pack.js';
import { tempDir } from './test/helpers.js';

/** Documents with recognisable ids: doc d has ids d*100 + 0..len-1; mask marks the second half. */
function docs(lengths: number[]) {
  return lengths.map((len, d) => {
    const ids = Array.from({ length: len }, (_, i) => d * 100 + i);
    const mask = ids.map((_, i) => (i >= len / 2 ? 1 : 0));
    return { ids, mask };
  });
}

describe('packDocuments', () => {
  it('concatenates documents and cuts T+1-token blocks sharing one boundary token', async () => {
    const p = await packDocuments(docs([5, 7, 4]), { blockSize: 4, remainder: 'drop' });
    // 16 tokens → floor(15 / 4) = 3 blocks over tokens 0..12.
    expect(p.numBlocks).toBe(3);
    expect(p.tokens.length).toBe(13);
    expect(Array.from(p.tokens)).toEqual([0, 1, 2, 3, 4, 100, 101, 102, 103, 104, 105, 106, 200]);
    expect(Array.from(p.mask)).toEqual([0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0]);
    expect(p.documents).toBe(3);
  });

  it('pads the last block with mask-0 padding', async () => {
    const p = await packDocuments(docs([5, 7, 4]), { blockSize: 4, padId: 999 });
    expect(p.numBlocks).toBe(4);
    expect(p.padded).toBe(1);
    expect(Array.from(p.tokens.subarray(-2))).toEqual([203, 999]);
    expect(p.mask[p.mask.length - 1]).toBe(0);
  });
});

describe('BatchLoader', () => {
  it('builds inputs, next-token labels and target masks from blocks', async () => {
    const p = await packDocuments(docs([5, 7, 4]), { blockSize: 4, remainder: 'drop' });
    const loader = new BatchLoader(p, { batchSize: 3, shuffle: false });
    const b = loader.next();
    expect(b.B).toBe(3);
    expect(b.T).toBe(4);
    expect(Array.from(b.inputIds)).toEqual([0, 1, 2, 3, 4, 100, 101, 102, 103, 104, 105, 106]);
    expect(Array.from(b.labels)).toEqual([1, 2, 3, 4, 100, 101, 102, 103, 104, 105, 106, 200]);
    expect(Array.from(b.mask)).toEqual([0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0]);
    expect(b.mask).toBeInstanceOf(Float32Array);
  });

  it('shuffles per epoch with a seed, visits every block once per epoch, and resumes exactly', async () => {
    const p = await packDocuments(docs(Array.from({ length: 30 }, (_, i) => 20 + (i % 7))), { blockSize: 8 });
    const opts = { batchSize: 4, seed: 1234 };
    const a = new BatchLoader(p, opts);
    expect(a.batchesPerEpoch).toBe(Math.floor(p.numBlocks / 4));
    // Every block once per epoch (first input id identifies the block).
    const firstIds = (l: BatchLoader, epoch: number) => {
      const out: number[] = [];
      for (let i = 0; i < l.batchesPerEpoch; i++) {
        const b = l.batch(epoch, i);
        for (let r = 0; r < b.B; r++) out.push(b.inputIds[r * b.T]);
      }
      return out;
    };
    const e0 = firstIds(a, 0);
    const e1 = firstIds(a, 1);
    expect(new Set(e0).size).toBe(e0.length);
    expect(e0).not.toEqual(e1);
    expect(firstIds(new BatchLoader(p, { ...opts, seed: 99 }), 0)).not.toEqual(e0);
    // Run 1.5 epochs, save the position, resume in a new loader: the same next batches.
    const steps = a.batchesPerEpoch + Math.floor(a.batchesPerEpoch / 2);
    for (let i = 0; i < steps; i++) a.next();
    const pos = a.position;
    expect(pos).toEqual({ epoch: 1, index: Math.floor(a.batchesPerEpoch / 2), seed: 1234 });
    const saved = JSON.parse(JSON.stringify(pos));
    const b = new BatchLoader(p, opts, saved);
    for (let i = 0; i < a.batchesPerEpoch + 2; i++) {
      const x = a.next();
      const y = b.next();
      expect(Array.from(y.inputIds)).toEqual(Array.from(x.inputIds));
      expect(Array.from(y.labels)).toEqual(Array.from(x.labels));
      expect(Array.from(y.mask)).toEqual(Array.from(x.mask));
    }
    expect(() => new BatchLoader(p, { ...opts, seed: 1 }, saved)).toThrow(/seed 1234/);
  });

  it('keeps a last smaller batch when dropLast is false, and errors on an empty dataset', async () => {
    const p = await packDocuments(docs([11]), { blockSize: 2 }); // 5 blocks
    const l = new BatchLoader(p, { batchSize: 2, dropLast: false, shuffle: false });
    expect(l.batchesPerEpoch).toBe(3);
    expect(l.batch(0, 2).B).toBe(1);
    const empty = await packDocuments([], { blockSize: 4 });
    expect(() => new BatchLoader(empty, { batchSize: 1 })).toThrow(/no blocks/);
  });
});

describe('savePacked / loadPacked', () => {
  it('round-trips and rejects a truncated file', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const p = await packDocuments(docs([40, 33, 9]), { blockSize: 16, padId: 7 });
      const f = join(dir, 'train.bin');
      await savePacked(f, p);
      const q = await loadPacked(f);
      expect(q).toEqual(p);
      const { readFile } = await import('node:fs/promises');
      const buf = await readFile(f);
      await writeFile(f, buf.subarray(0, buf.length - 3));
      await expect(loadPacked(f)).rejects.toThrow(/train\.bin: truncated/);
    } finally {
      await cleanup();
    }
  });
});

describe("packDocuments({ align: 'document' })", () => {
  it('starts a document that would straddle a boundary in a new block, padding with mask 0', async () => {
    // T = 4: block k holds tokens [4k, 4k + 4]. Docs of 3, 4, 2 tokens.
    const d = docs([3, 4, 2]);
    const p = await packDocuments(d, { blockSize: 4, align: 'document', padId: 9, remainder: 'drop' });
    // doc0 at 0..2; doc1 (4 tokens) would end at 6 > 4, so it starts at 4 after one pad; doc2 fits at 8..9.
    expect(Array.from(p.tokens)).toEqual([0, 1, 2, 9, 100, 101, 102, 103, 200]);
    expect(Array.from(p.mask)).toEqual([0, 0, 1, 0, 0, 0, 1, 1, 0]);
    expect(p.numBlocks).toBe(2);
    // Every block's row starts at a document start.
    const l = new BatchLoader(p, { batchSize: 2, shuffle: false });
    const b = l.next();
    expect([b.inputIds[0], b.inputIds[4]]).toEqual([0, 100]);
    const packed = await packDocuments(d, { blockSize: 4, remainder: 'drop' });
    expect(Array.from(packed.tokens.subarray(0, 5))).toEqual([0, 1, 2, 100, 101]);
  });
});
