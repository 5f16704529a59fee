import { initBackend } from '@atelier/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Chunk } from './chunk.js';
import { reciprocalRankFusion, VectorIndex } from './vectors.js';
import { chunkWindow, splitSentences } from './window.js';

beforeAll(async () => {
  await initBackend('cpu');
});

/** Deterministic pseudo-random numbers (mulberry32). */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}

describe('VectorIndex (cosine top-k on the backend)', () => {
  it('matches a float64 brute-force cosine ranking, across incremental adds', async () => {
    const r = rng(7);
    const dim = 24;
    const N = 300;
    const rows = Array.from({ length: N }, () => Array.from({ length: dim }, r));
    const queries = Array.from({ length: 4 }, () => Array.from({ length: dim }, r));
    const index = new VectorIndex(dim);
    index.add({ data: Float32Array.from(rows.slice(0, 100).flat()), rows: 100, dim });
    index.add({ data: Float32Array.from(rows.slice(100).flat()), rows: N - 100, dim });
    expect(index.size).toBe(N);
    const got = await index.search({ data: Float32Array.from(queries.flat()), rows: 4, dim }, 5);
    const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    queries.forEach((q, qi) => {
      const cos = rows.map((v, i) => ({
        index: i,
        score: v.reduce((s, x, j) => s + x * q[j], 0) / (norm(v) * norm(q)),
      }));
      cos.sort((a, b) => b.score - a.score);
      expect(got[qi].map((h) => h.index)).toEqual(cos.slice(0, 5).map((h) => h.index));
      for (const [j, h] of got[qi].entries()) expect(h.score).toBeCloseTo(cos[j].score, 5);
    });
    index.dispose();
  });

  it('rejects mismatched dimensions', async () => {
    const index = new VectorIndex(3);
    expect(() => index.add({ data: new Float32Array(4), rows: 1, dim: 4 })).toThrow(/dim 4, index has 3/);
    expect(await index.search({ data: new Float32Array(3), rows: 1, dim: 3 }, 2)).toEqual([[]]);
  });
});

describe('reciprocalRankFusion', () => {
  it('sums 1/(k + rank) over lists', () => {
    const bm25 = [
      { index: 3, score: 9 },
      { index: 1, score: 5 },
    ];
    const dense = [
      { index: 1, score: 0.9 },
      { index: 7, score: 0.8 },
      { index: 3, score: 0.1 },
    ];
    const fused = reciprocalRankFusion([bm25, dense], 60);
    // doc 1: 1/62 + 1/61, doc 3: 1/61 + 1/63, doc 7: 1/62
    expect(fused.map((h) => h.index)).toEqual([1, 3, 7]);
    expect(fused[0].score).toBeCloseTo(1 / 62 + 1 / 61, 15);
    expect(fused[1].score).toBeCloseTo(1 / 61 + 1 / 63, 15);
    expect(reciprocalRankFusion([bm25, dense], 60, 1)).toHaveLength(1);
  });
});

describe('windowing', () => {
  const doc = 'S0 a. S1 b. S2 c. S3 d.';
  const chunk = (docId: string, index: number, s: number, e: number): Chunk => ({
    id: `${docId}#${index}`,
    docId,
    index,
    text: doc.slice(s, e),
    charStart: s,
    charEnd: e,
    tokenStart: 0,
    tokenEnd: 0,
  });
  // Overlapping chunks of doc "d" interleaved with another document's chunk.
  const chunks = [chunk('d', 0, 0, 11), chunk('x', 0, 0, 5), chunk('d', 1, 6, 17), chunk('d', 2, 12, 23)];

  it('merges the hit with its neighbours of the same document, removing overlaps', () => {
    const w = chunkWindow(chunks, 2, 1, 1);
    expect(w.chunks.map((c) => c.id)).toEqual(['d#0', 'd#1', 'd#2']);
    expect(w.text).toBe(doc);
    expect([w.charStart, w.charEnd]).toEqual([0, 23]);
    expect(chunkWindow(chunks, 0, 1, 0).text).toBe('S0 a. S1 b.');
    expect(() => chunkWindow(chunks, 9)).toThrow(/no chunk at position 9/);
  });

  it('splits sentences with spans, not at abbreviations or initials', () => {
    const text = 'Dr. No was made by Eon. It starred Sean Connery! Directed by T. Young?\n\nNext para';
    const s = splitSentences(text);
    expect(s.map((x) => x.text)).toEqual([
      'Dr. No was made by Eon.',
      'It starred Sean Connery!',
      'Directed by T. Young?',
      'Next para',
    ]);
    for (const x of s) expect(text.slice(x.charStart, x.charEnd)).toBe(x.text);
    expect(splitSentences('東京は大きい。大阪も！「はい」と言った？').map((x) => x.text)).toEqual([
      '東京は大きい。',
      '大阪も！',
      '「はい」と言った？',
    ]);
  });
});
