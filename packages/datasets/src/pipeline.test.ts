// The README's snippet, run end to end on real data with assertions (keep the two in step).
import { Tokenizer } from '@atelier/tokenizer';
import { describe, expect, it } from 'vitest';
import {
  BatchLoader,
  cleanRecords,
  collect,
  datasetStats,
  formatRecord,
  packDocuments,
  ReadReport,
  readSquad,
  splitRecords,
} from './index.js';
import { HAS_SHARED, shared } from './test/helpers.js';

describe('read → clean → split → format → pack → batches (README snippet)', () => {
  it.skipIf(!HAS_SHARED)('turns the SQuAD art rows into resumable training batches', async () => {
    const tok = Tokenizer.gpt2();
    const report = new ReadReport();
    const raw = await collect(readSquad(shared('squad11_art_qa.jsonl'), { onError: 'skip', report }));
    const { records, report: cleaning } = await cleanRecords(raw, { minChars: 10 });
    const { train, validation } = await splitRecords(records, {
      ratios: { train: 0.9, validation: 0.1, test: 0 },
      groupKey: (r) => (r.kind === 'qa' ? (r.context ?? '') : ''), // a paragraph's questions stay together
    });
    const docs = train.map((r) => formatRecord(r, tok)); // ids + answer-only loss mask + EOS
    const stats = await datasetStats(docs, { parameters: 124_439_808, clean: cleaning });
    const packed = await packDocuments(docs, { blockSize: 256, padId: tok.eosTokenId });
    const loader = new BatchLoader(packed, { batchSize: 8, seed: 42 });
    const batch = loader.next(); // { inputIds, labels, mask, B: 8, T: 256 }
    const saved = loader.position; // { epoch, index, seed }: store it with the checkpoint

    expect(report.records).toBe(1427);
    expect(cleaning.input).toBe(1427);
    expect(records.length).toBe(cleaning.kept);
    expect(train.length + validation.length).toBe(records.length);
    expect(validation.length).toBeGreaterThan(50);
    const trainContexts = new Set(train.map((r) => r.context));
    expect(validation.some((r) => trainContexts.has(r.context))).toBe(false);
    expect(batch.B).toBe(8);
    expect(batch.T).toBe(256);
    expect(batch.inputIds.length).toBe(8 * 256);
    // Only answer tokens and EOS are trained: a small share of the positions.
    const trained = batch.mask.reduce((a, m) => a + m, 0);
    expect(trained).toBeGreaterThan(0);
    expect(trained / batch.mask.length).toBeLessThan(0.25);
    expect(stats.trainedTokens).toBe(docs.reduce((a, d) => a + d.mask.reduce((x, m) => x + m, 0), 0));
    expect(stats.warnings.join('\n')).toMatch(/tokens\/parameter/);
    expect(saved).toEqual({ epoch: 0, index: 1, seed: 42 });
    const resumed = new BatchLoader(packed, { batchSize: 8, seed: 42 }, saved);
    expect(Array.from(resumed.next().inputIds)).toEqual(Array.from(loader.next().inputIds));
    // Every trained position's label decodes to answer text or EOS.
    const answerIds = Array.from(batch.labels).filter((_, i) => batch.mask[i] === 1);
    expect(tok.decode(answerIds)).toContain('<|endoftext|>');
  });
});
