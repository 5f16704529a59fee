import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@atelier/tensor';
import { Tokenizer } from '@atelier/tokenizer';
import { describe, expect, it } from 'vitest';
import { chunkText } from './chunk.js';
import { SentenceEmbedder } from './embedder.js';
import { spanTokenizer, wordSpanTokenizer } from './spans.js';
import { buildTriplets, type QaRecord, splitBucket } from './triplets.js';

const FIXTURE = new URL('../../../tools/reference/fixtures/bert-tiny/', import.meta.url).pathname;

const context =
  'Spectre is a 2015 spy film. The film was produced by Eon Productions. ' +
  'It was directed by Sam Mendes. Daniel Craig plays James Bond for the fourth time. ' +
  'Filming took place in Mexico City and Rome. The budget was about 245 million dollars.';
const records: QaRecord[] = [
  { title: 'Spectre', context, question: 'Who directed the film?', answer: 'Sam Mendes' },
  { title: 'Spectre', context, question: 'Which company produced the film?', answer: 'Eon Productions' },
  { title: 'Spectre', context, question: 'Where did filming take place?', answer: 'Mexico City' },
  { title: 'Spectre', context, question: 'How much did it cost?', answer: '300 million' }, // not in the text
  {
    title: 'Jaws',
    context: 'Jaws is a 1975 film by Steven Spielberg.',
    question: 'Who made Jaws?',
    answer: 'Steven Spielberg',
  },
];

describe('buildTriplets', () => {
  it('retrieves the chunk holding the answer, reports answer recall, writes JSONL atomically', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'atelier-triplets-'));
    try {
      const r = await buildTriplets(records, {
        tokenizer: wordSpanTokenizer,
        chunk: { size: 12, overlap: 0 },
        k: 3,
        validationFraction: 0.5,
        outDir: dir,
      });
      expect(r.documents).toBe(2);
      const all = [...r.train, ...r.validation];
      expect(all).toHaveLength(5);
      const byQ = Object.fromEntries(all.map((t) => [t.question, t]));
      expect(byQ['Who directed the film?'].context).toBe('It was directed by Sam Mendes.');
      expect(byQ['Which company produced the film?'].context).toContain('Eon Productions');
      expect(byQ['Where did filming take place?'].context).toContain('Mexico City');
      expect(byQ['Who made Jaws?'].answerInContext).toBe(true);
      // "300 million" is not in the text: a data problem, counted separately and as a miss.
      expect(byQ['How much did it cost?'].answerInContext).toBe(false);
      expect(r.answerNotInDocument).toBe(1);
      expect(r.answerRecallAt1).toBeCloseTo(4 / 5, 12);
      expect(r.answerRecallAtK).toBeCloseTo(4 / 5, 12);
      // Whole documents go to one split.
      for (const split of [r.train, r.validation]) {
        for (const t of split)
          expect(split.filter((u) => u.docId === t.docId)).toHaveLength(
            all.filter((u) => u.docId === t.docId).length,
          );
      }
      const train = (await readFile(join(dir, 'training_data.jsonl'), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(train).toEqual(r.train);
      const val = await readFile(join(dir, 'validation_data.jsonl'), 'utf8');
      expect(
        val === ''
          ? []
          : val
              .trim()
              .split('\n')
              .map((l) => JSON.parse(l)),
      ).toEqual(r.validation);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('splits deterministically, independent of record order', async () => {
    const a = await buildTriplets(records, { tokenizer: wordSpanTokenizer, validationFraction: 0.5 });
    const b = await buildTriplets([...records].reverse(), {
      tokenizer: wordSpanTokenizer,
      validationFraction: 0.5,
    });
    const key = (ts: { question: string }[]) => ts.map((t) => t.question).sort();
    expect(key(a.validation)).toEqual(key(b.validation));
    expect(splitBucket('x')).toBe(splitBucket('x'));
    expect(splitBucket('x')).not.toBe(splitBucket('y'));
  });

  it('with an embedder, picks the chunk of the document with the highest cosine similarity', async () => {
    await initBackend('cpu');
    const embedder = await SentenceEmbedder.load(FIXTURE);
    try {
      const options = {
        tokenizer: wordSpanTokenizer,
        chunk: { size: 12, overlap: 0 },
        embedder,
        validationFraction: 0,
      };
      const r = await buildTriplets(records, options);
      const chunks = chunkText({ id: 'x', text: context }, wordSpanTokenizer, options.chunk);
      const e = await embedder.embed(chunks.map((c) => c.text));
      for (const t of r.train.filter((t) => t.docId.startsWith('Spectre'))) {
        const q = (await embedder.embed([t.question])).data;
        const cos = chunks.map((_, i) =>
          e.data.slice(i * e.dim, (i + 1) * e.dim).reduce((s, x, j) => s + x * q[j], 0),
        );
        expect(t.context).toBe(chunks[cos.indexOf(Math.max(...cos))].text);
      }
    } finally {
      embedder.dispose();
    }
  });

  it('names the record with a bad field', async () => {
    await expect(
      buildTriplets([{ question: 'q', context: 'c' } as QaRecord], { tokenizer: wordSpanTokenizer }),
    ).rejects.toThrow(/record 0: field "answer" must be a string/);
  });
});

const SQUAD = new URL('../../../../shared/data/squad11_film_tv_qa.jsonl', import.meta.url).pathname;

describe.skipIf(!existsSync(SQUAD))('triplets on SQuAD v1.1 film/TV with GPT-2 chunks', () => {
  it('the BM25-retrieved 64-token chunk holds the answer for most questions', async () => {
    const rows = readFileSync(SQUAD, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as QaRecord);
    const r = await buildTriplets(rows, {
      tokenizer: spanTokenizer(Tokenizer.gpt2()),
      chunk: { size: 64, overlap: 16 },
      k: 3,
    });
    console.log(
      `SQuAD film/TV triplets: ${rows.length} records, ${r.documents} documents, ${r.chunks} chunks (64 tokens): ` +
        `answer recall@1 ${r.answerRecallAt1.toFixed(4)}, @3 ${r.answerRecallAtK.toFixed(4)}, ` +
        `answer not verbatim in document ${r.answerNotInDocument}, validation ${r.validation.length}`,
    );
    expect(r.train.length + r.validation.length).toBe(rows.length);
    expect(r.validation.length / rows.length).toBeGreaterThan(0.05);
    expect(r.validation.length / rows.length).toBeLessThan(0.2);
    // Measured 2026-11-22: answer recall@1 0.8427, @3 0.9848 (4 answers not verbatim in their paragraph).
    expect(r.answerRecallAt1).toBeGreaterThan(0.82);
    expect(r.answerRecallAtK).toBeGreaterThan(0.97);
  });

  it('searching all 1,429 chunks of all documents (scope corpus) still finds the answer chunk often', async () => {
    const rows = readFileSync(SQUAD, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as QaRecord);
    const tokenizer = spanTokenizer(Tokenizer.gpt2());
    const r = await buildTriplets(rows, {
      tokenizer,
      chunk: { size: 64, overlap: 16 },
      k: 5,
      scope: 'corpus',
    });
    console.log(
      `SQuAD film/TV triplets, corpus scope: answer recall@1 ${r.answerRecallAt1.toFixed(4)}, @5 ${r.answerRecallAtK.toFixed(4)}`,
    );
    // Measured 2026-11-22: answer recall@1 0.5909, @5 0.8082.
    expect(r.answerRecallAt1).toBeGreaterThan(0.57);
    expect(r.answerRecallAtK).toBeGreaterThan(0.79);
  });
});
