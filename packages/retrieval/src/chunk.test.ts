import { existsSync, readFileSync } from 'node:fs';
import { Tokenizer } from '@atelier/tokenizer';
import { describe, expect, it } from 'vitest';
import { fitPrompt } from './budget.js';
import { boundaryLevels, type Chunk, chunkDocuments, chunkText } from './chunk.js';
import { spanTokenizer, wordSpanTokenizer } from './spans.js';

const gpt2 = spanTokenizer(Tokenizer.gpt2());

function checkInvariants(text: string, chunks: Chunk[], size: number, nTokens: number) {
  let covered = 0;
  chunks.forEach((c, i) => {
    expect(c.text).toBe(text.slice(c.charStart, c.charEnd));
    expect(c.tokenEnd - c.tokenStart).toBeLessThanOrEqual(size);
    expect(c.index).toBe(i);
    expect(c.tokenStart).toBeLessThanOrEqual(covered); // no gap
    covered = Math.max(covered, c.tokenEnd);
    if (i > 0) expect(c.tokenStart).toBeGreaterThan(chunks[i - 1].tokenStart); // progress
  });
  expect(covered).toBe(nTokens);
}

describe('chunkText', () => {
  const doc = {
    id: 'd',
    text:
      'Alpha one two three four. Beta five six seven eight nine ten.\n\n' +
      'Gamma eleven twelve. Delta thirteen fourteen fifteen sixteen seventeen. Epsilon eighteen.',
  };

  it('keeps offsets, covers every token, respects size, and cuts at sentence/paragraph ends', () => {
    const n = wordSpanTokenizer.tokenSpans(doc.text).length;
    const chunks = chunkText(doc, wordSpanTokenizer, { size: 12, overlap: 3 });
    checkInvariants(doc.text, chunks, 12, n);
    expect(chunks.map((c) => c.text)).toEqual([
      'Alpha one two three four.',
      'Beta five six seven eight nine ten.',
      'Gamma eleven twelve. Delta thirteen fourteen fifteen sixteen seventeen.',
      'Epsilon eighteen.',
    ]);
    expect(chunks[1]).toMatchObject({ id: 'd#1', docId: 'd', index: 1, charStart: 26 });
  });

  it('overlaps by whole sentences when they fit in the overlap', () => {
    const text = 'One two. Three four five six seven. Eight nine.';
    const chunks = chunkText({ id: 's', text }, wordSpanTokenizer, { size: 9, overlap: 6 });
    checkInvariants(text, chunks, 9, wordSpanTokenizer.tokenSpans(text).length);
    expect(chunks.map((c) => c.text)).toEqual([
      'One two. Three four five six seven.',
      'Three four five six seven. Eight nine.',
    ]);
    // The 6-token sentence does not fit an overlap of 4: no fragment is repeated.
    const short = chunkText({ id: 's', text }, wordSpanTokenizer, { size: 9, overlap: 4 });
    expect(short.map((c) => c.text)).toEqual(['One two. Three four five six seven.', 'Eight nine.']);
  });

  it('overlaps by words when a cut falls mid-sentence', () => {
    const text = Array.from({ length: 40 }, (_, i) => `w${i}`).join(' ');
    const chunks = chunkText({ id: 'x', text }, wordSpanTokenizer, { size: 10, overlap: 4 });
    checkInvariants(text, chunks, 10, 40);
    expect(chunks[0].text).toBe('w0 w1 w2 w3 w4 w5 w6 w7 w8 w9');
    expect(chunks[1].text.startsWith('w6 ')).toBe(true);
  });

  it('marks paragraph > sentence > word boundaries', () => {
    const text = 'A b. C d\n\nE';
    const spans = wordSpanTokenizer.tokenSpans(text); // A, b, ., C, d, E
    expect([...boundaryLevels(text, spans)]).toEqual([0, 1, 0, 2, 1, 3]);
  });

  it('finds sentence ends in CJK text without spaces', () => {
    const text = '東京は大きい。大阪も大きい。';
    const spans = Array.from(text, (_, i) => [i, i + 1] as [number, number]); // one token per character
    expect([...boundaryLevels(text, spans)].indexOf(2)).toBe(7);
    const chunks = chunkText({ id: 'ja', text }, { tokenSpans: () => spans }, { size: 10, overlap: 0 });
    expect(chunks.map((c) => c.text)).toEqual(['東京は大きい。', '大阪も大きい。']);
  });

  it('rejects bad options and duplicate ids', () => {
    expect(() => chunkText(doc, wordSpanTokenizer, { size: 4, overlap: 4 })).toThrow(
      /overlap must be an integer in \[0, size\)/,
    );
    expect(() => chunkDocuments([doc, doc], wordSpanTokenizer)).toThrow(/duplicate document id "d"/);
    expect(chunkText({ id: 'e', text: '' }, wordSpanTokenizer)).toEqual([]);
  });
});

const SQUAD = new URL('../../../../shared/data/squad11_film_tv_qa.jsonl', import.meta.url).pathname;

describe.skipIf(!existsSync(SQUAD))('chunking a SQuAD article with the GPT-2 tokenizer', () => {
  it('chunks of ≤ 128 GPT-2 tokens that mostly end at sentence ends', () => {
    const rows = readFileSync(SQUAD, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { title: string; context: string });
    const paragraphs = [
      ...new Set(rows.filter((r) => r.title === 'Spectre_(2015_film)').map((r) => r.context)),
    ];
    const text = paragraphs.join('\n\n');
    const n = gpt2.tokenSpans(text).length;
    const chunks = chunkText({ id: 'spectre', text }, gpt2, { size: 128, overlap: 16 });
    checkInvariants(text, chunks, 128, n);
    const tok = Tokenizer.gpt2();
    // Re-encoded alone, a chunk may gain a token at its start (see chunkText's note).
    for (const c of chunks) expect(tok.tokenCount(c.text)).toBeLessThanOrEqual(129);
    const sentenceEnds = chunks.slice(0, -1).filter((c) => /[.!?]["')\]]*$/.test(c.text)).length;
    expect(sentenceEnds / (chunks.length - 1)).toBeGreaterThan(0.9);
    expect(chunks.length).toBeGreaterThan(n / 128);
  });
});

describe('fitPrompt', () => {
  const render = (p: { prompt: string; chunk: string; answer: string }) =>
    `Context: ${p.chunk}\nQuestion: ${p.prompt}\nAnswer: ${p.answer}`;
  const chunk =
    'Spectre is a 2015 spy film. It was directed by Sam Mendes. Daniel Craig stars as James Bond. It cost a lot.';
  const parts = { prompt: 'Who directed Spectre?', chunk, answer: 'Sam Mendes' };

  it('returns the parts unchanged when they fit', () => {
    const r = fitPrompt(parts, gpt2, { nPositions: 1024, render });
    expect(r.parts).toEqual(parts);
    expect(r.cut.summary).toBe('');
    expect(r.tokens).toBe(Tokenizer.gpt2().tokenCount(render(parts)));
  });

  it('cuts the chunk around the focus first, and reports it', () => {
    const full = Tokenizer.gpt2().tokenCount(render(parts));
    const focus: [number, number] = [chunk.indexOf('Sam Mendes'), chunk.indexOf('Sam Mendes') + 10];
    const r = fitPrompt(parts, gpt2, { nPositions: full - 10, render, focus });
    expect(r.tokens).toBeLessThanOrEqual(full - 10);
    expect(Tokenizer.gpt2().tokenCount(render(r.parts))).toBe(r.tokens);
    expect(r.parts.chunk).toContain('Sam Mendes');
    expect(r.parts.answer).toBe('Sam Mendes');
    expect(r.cut.chunkTokens).toBeGreaterThanOrEqual(10);
    expect(r.cut.answerTokens).toBe(0);
    expect(r.cut.summary).toMatch(/^cut \d+ chunk tokens to fit \d+$/);
  });

  it('then cuts the answer end and the prompt start; throws if nothing fits', () => {
    const r = fitPrompt(parts, gpt2, { nPositions: 14, render });
    expect(r.tokens).toBeLessThanOrEqual(14);
    expect(r.parts.chunk).toBe('');
    expect(r.cut.chunkTokens).toBe(gpt2.tokenSpans(chunk).length);
    expect(() => fitPrompt(parts, gpt2, { nPositions: 3, render })).toThrow(/cannot fit/);
    const noRender = fitPrompt(parts, gpt2, { nPositions: 12, reserve: 1 });
    expect(noRender.limit).toBe(11);
    expect(noRender.tokens).toBeLessThanOrEqual(11);
  });
});
