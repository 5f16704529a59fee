import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer } from '@atelier/tokenizer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchLoader, loadPacked } from './pack.js';
import { detectFormat, prepareDataset, readAny } from './prepare.js';
import { collect } from './records.js';
import { postToMarkdown } from './reddit/format.js';
import { HAS_SHARED, shared, tempDir } from './test/helpers.js';
import { listing, t3 } from './test/reddit-fixtures.js';

let dir = '';
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterAll(() => cleanup());

const post = (id: string, score: number) => ({
  id,
  title: `Question ${id}: how do I thank a host properly after a dinner party?`,
  selftext: 'We were six guests and the hosts cooked for hours.',
  score,
  created_utc: 1760000000,
  permalink: `/r/etiquette/comments/${id}/s/`,
  comments: [
    {
      id: `${id}c`,
      body: `Write a short note within two days and mention the dish you liked (${id}).`,
      score: 40,
    },
  ],
});

describe('detectFormat / readAny', () => {
  it('detects formats by extension and content', async () => {
    const jl = join(dir, 'posts.jsonl');
    await writeFile(jl, `${JSON.stringify(post('a1', 10))}\n`);
    const md = join(dir, 'posts.md');
    await writeFile(md, postToMarkdown(post('m1', 5)));
    const notes = join(dir, 'notes.md');
    await writeFile(notes, '# Title\n\nSome text.\n');
    const lst = join(dir, 'top.json');
    await writeFile(lst, JSON.stringify(listing([t3({ id: 'x', title: 'T' })])));
    expect(await detectFormat(jl)).toBe('reddit');
    expect(await detectFormat(md)).toBe('reddit');
    expect(await detectFormat(notes)).toBe('markdown');
    expect(await detectFormat(lst)).toBe('reddit');
    if (HAS_SHARED) {
      expect(await detectFormat(shared('squad11_art_qa.jsonl'))).toBe('jsonl');
      expect(await detectFormat(shared('emily_post_etiquette_1922_pg14314.txt'))).toBe('gutenberg');
      expect(await detectFormat(shared('wikimovies_wiki-entities_qa_dev.txt'))).toBe('text');
    }
    const recs = await collect(readAny(jl));
    expect(recs[0]).toMatchObject({ kind: 'qa', id: 'a1' });
  });
});

describe('prepareDataset', () => {
  it.skipIf(!HAS_SHARED)('writes packed splits and a summary that the loader reads', async () => {
    const reddit = join(dir, 'advice.jsonl');
    const rows = Array.from({ length: 30 }, (_, i) => JSON.stringify(post(`p${i}`, 100 + i)));
    rows.splice(5, 0, '{"id": "cut-off", "title": "trunc');
    await writeFile(reddit, `${rows.join('\n')}\n`);
    const out = join(dir, 'prepared');
    const stages: string[] = [];
    const tok = Tokenizer.gpt2();
    const res = await prepareDataset({
      inputs: [shared('squad11_art_qa.jsonl'), reddit],
      outputDir: out,
      tokenizer: tok,
      blockSize: 128,
      read: { onError: 'skip' },
      split: { ratios: { train: 0.8, validation: 0.2, test: 0 }, seed: 1 },
      parameters: 124_439_808,
      onProgress: (m) => stages.push(m),
    });
    expect(res.read).toMatchObject({ records: 1427 + 30, skipped: 1 });
    expect(res.read.errors[0]).toMatch(/advice\.jsonl:6: invalid JSON/);
    expect(res.records.train + res.records.validation).toBe(res.clean!.kept);
    expect(res.records.test).toBe(0);
    expect(Object.keys(res.files).sort()).toEqual(['train', 'validation']);
    expect(res.warnings.some((w) => /1 bad input records skipped/.test(w))).toBe(true);
    expect(res.warnings.some((w) => /tokens\/parameter/.test(w))).toBe(true);
    expect(stages[0]).toMatch(/^reading .*squad11_art_qa\.jsonl/);
    const train = await loadPacked(res.files.train!);
    expect(train.T).toBe(128);
    expect(train.mask.reduce((a, m) => a + m, 0)).toBe(res.stats.train!.trainedTokens);
    const batch = new BatchLoader(train, { batchSize: 4, seed: 3 }).next();
    expect(batch.inputIds.length).toBe(4 * 128);
    const summary = JSON.parse(await readFile(res.summary, 'utf8'));
    expect(summary.records).toEqual(res.records);
    expect(summary.stats.train.tokens).toBe(res.stats.train!.tokens);
  });
});
