import { describe, expect, it } from 'vitest';
import { readJsonlRecords } from './readers/jsonl.js';
import { collect, type QARecord } from './records.js';
import { splitOf, splitRecords } from './split.js';
import { HAS_SHARED, shared } from './test/helpers.js';

describe('splits', () => {
  it('is a pure function of key and seed, close to the ratios', () => {
    const counts = { train: 0, validation: 0, test: 0 };
    for (let i = 0; i < 20000; i++)
      counts[splitOf(`doc-${i}`, { ratios: { train: 0.8, validation: 0.1, test: 0.1 } })]++;
    // Binomial standard deviation for p = 0.1, n = 20000 is 42; allow 5 sigma.
    expect(Math.abs(counts.validation - 2000)).toBeLessThan(212);
    expect(Math.abs(counts.test - 2000)).toBeLessThan(212);
    expect(splitOf('doc-1')).toBe(splitOf('doc-1'));
    const moved = Array.from(
      { length: 200 },
      (_, i) => splitOf(`k${i}`, { seed: 1 }) !== splitOf(`k${i}`, { seed: 2 }),
    );
    expect(moved.some(Boolean)).toBe(true);
    expect(() => splitOf('x', { ratios: { train: 0.5, validation: 0.1, test: 0.1 } })).toThrow(/sum to 1/);
  });

  it.skipIf(!HAS_SHARED)('keeps each SQuAD article in one split', async () => {
    const rows = (await collect(readJsonlRecords(shared('squad11_film_tv_qa.jsonl')))) as QARecord[];
    const s = await splitRecords(rows, { ratios: { train: 0.5, validation: 0.25, test: 0.25 }, seed: 3 });
    expect(s.train.length + s.validation.length + s.test.length).toBe(rows.length);
    const where = new Map<string, Set<string>>();
    for (const [name, recs] of Object.entries(s)) {
      for (const r of recs) {
        const set = where.get(r.title!) ?? new Set();
        set.add(name);
        where.set(r.title!, set);
      }
    }
    expect(where.size).toBe(8); // 8 articles
    for (const set of where.values()) expect(set.size).toBe(1);
    // Same call, same split.
    const again = await splitRecords(rows, { ratios: { train: 0.5, validation: 0.25, test: 0.25 }, seed: 3 });
    expect(again.test.map((r) => r.source.line)).toEqual(s.test.map((r) => r.source.line));
  });
});
