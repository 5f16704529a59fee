import { Tokenizer } from '@atelier/tokenizer';
import { describe, expect, it } from 'vitest';
import { cleanRecords } from './clean.js';
import { formatRecord } from './format.js';
import { readJsonlRecords } from './readers/jsonl.js';
import { collect } from './records.js';
import { datasetStats, tokenBudgetWarning } from './stats.js';
import { HAS_SHARED, shared } from './test/helpers.js';

describe('datasetStats', () => {
  it('counts records, tokens, trained tokens and unique tokens', async () => {
    const docs = [
      { ids: [1, 2, 3, 3], mask: [0, 0, 1, 1] },
      { ids: [3, 4], mask: [1, 1] },
    ];
    const s = await datasetStats(docs);
    expect(s).toMatchObject({
      records: 2,
      tokens: 6,
      trainedTokens: 4,
      uniqueTokens: 4,
      meanTokensPerRecord: 3,
      warnings: [],
    });
  });

  it('warns with numbers when tokens per parameter are far too few', () => {
    const w = tokenBudgetWarning(200_000, 124_439_808, 'finetune')!;
    expect(w).toContain('200.0 k trained tokens for 124.44 M trainable parameters');
    expect(w).toContain('0.0016 tokens/parameter');
    expect(w).toContain('≥ 1.24 M tokens');
    expect(tokenBudgetWarning(2_000_000, 124_439_808, 'finetune')).toBeNull();
    expect(tokenBudgetWarning(2_000_000, 124_439_808, 'pretrain')).toMatch(/from scratch/);
    expect(tokenBudgetWarning(2_000_000, 800_000, 'lora')).toBeNull();
  });

  it.skipIf(!HAS_SHARED)(
    'on the SQuAD art rows: real token counts and a GPT-2 fine-tuning warning',
    async () => {
      const tok = Tokenizer.gpt2();
      const { records, report } = await cleanRecords(
        await collect(readJsonlRecords(shared('squad11_art_qa.jsonl'))),
      );
      const docs = records.map((r) => formatRecord(r, tok));
      const s = await datasetStats(docs, { parameters: 124_439_808, clean: report });
      expect(s.records).toBe(records.length);
      expect(s.tokens).toBe(docs.reduce((a, d) => a + d.ids.length, 0));
      expect(s.trainedTokens).toBeLessThan(s.tokens / 5); // answers are short next to their paragraphs
      expect(s.uniqueTokens).toBeGreaterThan(3000);
      expect(s.duplicateRate).toBe(report.duplicateRate);
      expect(s.warnings.some((w) => w.includes('tokens/parameter'))).toBe(true);
    },
  );
});
