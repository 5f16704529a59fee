import { Tokenizer } from '@atelier/tokenizer';
import { describe, expect, it } from 'vitest';
import {
  ALPACA_TEMPLATE,
  CONTEXT_QA_TEMPLATE,
  formatRecord,
  promptFor,
  QA_TEMPLATE,
  templateFor,
} from './format.js';
import { readJsonlRecords } from './readers/jsonl.js';
import { collect, type InstructionRecord, type QARecord, type TextRecord } from './records.js';
import { HAS_SHARED, shared } from './test/helpers.js';

const tok = Tokenizer.gpt2();
const EOS = 50256;
const source = { file: 'mem', record: 1 };

function masked(doc: { ids: Int32Array; mask: Uint8Array }, want: 0 | 1): number[] {
  return Array.from(doc.ids).filter((_, i) => doc.mask[i] === want);
}

describe('formatRecord', () => {
  it('Q: … A: … trains only on the answer tokens and EOS', () => {
    const r: QARecord = {
      kind: 'qa',
      question: 'Who painted the Mona Lisa?',
      answer: 'Leonardo da Vinci',
      source,
    };
    const doc = formatRecord(r, tok);
    expect(doc.text).toBe('Q: Who painted the Mona Lisa?\nA: Leonardo da Vinci');
    expect(tok.decode(masked(doc, 0))).toBe('Q: Who painted the Mona Lisa?\nA:');
    expect(tok.decode(masked(doc, 1))).toBe(' Leonardo da Vinci<|endoftext|>');
    expect(doc.ids[doc.ids.length - 1]).toBe(EOS);
    // The mask is a prefix of zeros then ones.
    const first1 = doc.mask.indexOf(1);
    expect(Array.from(doc.mask.subarray(first1)).every((m) => m === 1)).toBe(true);
    expect(promptFor(r)).toBe('Q: Who painted the Mona Lisa?\nA:');
  });

  it('Alpaca instruction and plain text templates', () => {
    const ins: InstructionRecord = {
      kind: 'instruction',
      instruction: 'Name a Cubist painter.',
      output: 'Georges Braque.',
      source,
    };
    const d = formatRecord(ins, tok);
    expect(templateFor(ins)).toBe(ALPACA_TEMPLATE);
    expect(d.text.endsWith('### Response:\nGeorges Braque.')).toBe(true);
    expect(tok.decode(masked(d, 1))).toBe('Georges Braque.<|endoftext|>');
    const withInput = formatRecord({ ...ins, input: 'Early 20th century.' }, tok);
    expect(withInput.text).toContain('### Input:\nEarly 20th century.\n\n### Response:\n');
    const t: TextRecord = { kind: 'text', text: 'A plain paragraph.', source };
    const td = formatRecord(t, tok);
    expect(Array.from(td.mask).every((m) => m === 1)).toBe(true);
    expect(tok.decode(Array.from(td.ids))).toBe('A plain paragraph.<|endoftext|>');
    const noEos = formatRecord(t, tok, { eos: false });
    expect(noEos.ids.length).toBe(td.ids.length - 1);
  });

  it('a custom template and a missing field error naming the record', () => {
    const r: QARecord = {
      kind: 'qa',
      question: 'Q?',
      answer: 'A.',
      source: { file: 'x.jsonl', line: 3, record: 3 },
    };
    const doc = formatRecord(r, tok, {
      qa: { name: 'chat', prompt: 'User: {question}\nBot:', completion: ' {answer}' },
    });
    expect(doc.text).toBe('User: Q?\nBot: A.');
    expect(() =>
      formatRecord(r, tok, { qa: { name: 'bad', prompt: '{context}', completion: '{answer}' } }),
    ).toThrow(/x\.jsonl:3: template needs field "context"/);
  });

  it.skipIf(!HAS_SHARED)(
    'on real SQuAD rows the two-part encoding equals encoding the joined text',
    async () => {
      const rows = (
        (await collect(readJsonlRecords(shared('squad11_film_tv_qa.jsonl')))) as QARecord[]
      ).slice(0, 300);
      let answerTokens = 0;
      for (const r of rows) {
        for (const useContext of [true, false]) {
          const doc = formatRecord(r, tok, { useContext });
          expect(Array.from(doc.ids.subarray(0, -1))).toEqual(tok.encode(doc.text));
          expect(tok.decode(masked(doc, 1))).toBe(` ${r.answer}<|endoftext|>`);
          expect(templateFor(r, { useContext })).toBe(useContext ? CONTEXT_QA_TEMPLATE : QA_TEMPLATE);
          answerTokens += masked(doc, 1).length;
        }
      }
      expect(answerTokens).toBeGreaterThan(600);
    },
  );
});

describe('maxTokens', () => {
  it('cuts the start of the prompt first, then the end of the completion, keeping EOS', () => {
    const r: QARecord = {
      kind: 'qa',
      context: 'one two three four five six seven eight nine ten',
      question: 'Which number?',
      answer: 'eleven twelve',
      source,
    };
    const full = formatRecord(r, tok);
    const cut = formatRecord(r, tok, { maxTokens: full.ids.length - 3 });
    expect(cut.truncated).toBe(3);
    expect(Array.from(cut.ids)).toEqual(Array.from(full.ids.subarray(3)));
    expect(Array.from(cut.mask)).toEqual(Array.from(full.mask.subarray(3)));
    const answerOnly = formatRecord(r, tok, { maxTokens: 2 });
    expect(tok.decode(Array.from(answerOnly.ids))).toBe(' eleven<|endoftext|>');
    expect(Array.from(answerOnly.mask)).toEqual([1, 1]);
  });
});
