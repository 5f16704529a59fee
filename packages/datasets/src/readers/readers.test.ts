import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetError, ReadReport } from '../errors.js';
import { collect, type QARecord } from '../records.js';
import { HAS_SHARED, shared, tempDir } from '../test/helpers.js';
import { readCsv } from './csv.js';
import { headingToTopic, readAdvice } from './etiquette.js';
import { readGutenberg, stripGutenberg } from './gutenberg.js';
import { readJsonl, readJsonlRecords } from './jsonl.js';
import { readSquad } from './squad.js';
import { readText } from './text.js';

let dir = '';
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterAll(() => cleanup());

async function file(name: string, text: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, text);
  return p;
}

describe('readJsonlRecords', () => {
  it.skipIf(!HAS_SHARED)('reads the SQuAD art rows as Q&A records with file and line', async () => {
    const report = new ReadReport();
    const recs = (await collect(readJsonlRecords(shared('squad11_art_qa.jsonl'), { report }))) as QARecord[];
    expect(recs.length).toBe(1427); // SOURCES.md: 1,427 rows
    expect(report.records).toBe(1427);
    expect(recs[0].kind).toBe('qa');
    expect(recs[0].title).toBe('Cubism');
    expect(recs[0].question).toBe('Name the 8 peopl who began the movement');
    expect(recs[0].context).toMatch(/^The movement was pioneered by Georges Braque/);
    expect(recs[5].source).toEqual({ file: shared('squad11_art_qa.jsonl'), line: 6, record: 6 });
  });

  it('fails on invalid JSON naming file and line, or skips and counts it', async () => {
    const p = await file('bad.jsonl', '{"text":"one"}\n\n{"text":"two"}\n{"text": "thr\n{"text":"four"}\n');
    await expect(collect(readJsonlRecords(p))).rejects.toThrow(/bad\.jsonl:4: invalid JSON/);
    const report = new ReadReport();
    const recs = await collect(readJsonlRecords(p, { onError: 'skip', report }));
    expect(recs.map((r) => (r.kind === 'text' ? r.text : ''))).toEqual(['one', 'two', 'four']);
    expect(report.skipped).toBe(1);
    expect(report.errors[0].line).toBe(4);
    expect(recs[2].source.line).toBe(5);
  });

  it('names the missing field and honours a field mapping', async () => {
    const p = await file('qa.jsonl', '{"q":"Why?","a":"Because."}\n{"q":"How?"}\n');
    const err = await collect(readJsonlRecords(p, { fields: { question: 'q', answer: 'a' } })).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(DatasetError);
    expect(err.message).toMatch(/qa\.jsonl:2: missing required field \(field "a"\)/);
    const seen: DatasetError[] = [];
    const recs = await collect(
      readJsonlRecords(p, {
        fields: { question: 'q', answer: 'a' },
        onError: 'skip',
        onSkip: (e) => seen.push(e),
      }),
    );
    expect(recs).toEqual([
      { kind: 'qa', question: 'Why?', answer: 'Because.', source: { file: p, line: 1, record: 1 } },
    ]);
    expect(seen.map((e) => e.field)).toEqual(['a']);
  });

  it('readJsonl yields raw values', async () => {
    const p = await file('raw.jsonl', '[1,2]\n"x"\n');
    const rows = await collect(readJsonl(p));
    expect(rows.map((r) => r.value)).toEqual([[1, 2], 'x']);
  });
});

describe('readCsv', () => {
  it.skipIf(!HAS_SHARED)('reads the WikiMovies TSV with a column mapping by index', async () => {
    const recs = (await collect(
      readCsv(shared('wikimovies_wiki-entities_qa_dev.txt'), {
        delimiter: '\t',
        header: false,
        quote: false,
        fields: { question: 0, answer: 1 },
      }),
    )) as QARecord[];
    expect(recs.length).toBe(10000);
    expect(recs[0].question).toBe('1 what movies did Temuera Morrison act in?');
    expect(recs[0].answer).toBe('Once Were Warriors, Tracker, River Queen');
    expect(recs[9999].source.line).toBe(10000);
  });

  it('maps named columns, handles quoted multi-line fields', async () => {
    const p = await file(
      'qa.csv',
      'Question,Answer,Notes\n"Who, exactly?","Me ""myself""",x\n"Line\nbreak",yes,y\n',
    );
    const recs = (await collect(
      readCsv(p, { fields: { question: 'Question', answer: 'Answer' } }),
    )) as QARecord[];
    expect(recs.map((r) => [r.question, r.answer])).toEqual([
      ['Who, exactly?', 'Me "myself"'],
      ['Line\nbreak', 'yes'],
    ]);
  });

  it('reports rows with the wrong column count by line; skip mode counts them', async () => {
    const p = await file('bad.csv', 'question,answer\nq1,a1\nq2,a2,extra\nq3,a3\n');
    await expect(collect(readCsv(p))).rejects.toThrow(/bad\.csv:3: CSV_RECORD_INCONSISTENT/);
    const report = new ReadReport();
    const recs = (await collect(readCsv(p, { onError: 'skip', report }))) as QARecord[];
    expect(recs.map((r) => r.question)).toEqual(['q1', 'q3']);
    expect(report.skipped).toBe(1);
    expect(report.errors[0].line).toBe(3);
  });

  it('reports an unclosed quote with its line, in both modes', async () => {
    const p = await file('quote.csv', 'question,answer\nq1,a1\nq2,"never closed\nq3,a3\n');
    await expect(collect(readCsv(p))).rejects.toThrow(/quote\.csv:\d+: CSV_QUOTE_NOT_CLOSED/);
    const report = new ReadReport();
    const recs = (await collect(readCsv(p, { onError: 'skip', report }))) as QARecord[];
    expect(recs.map((r) => r.question)).toEqual(['q1']);
    expect(report.skipped).toBe(1);
    expect(report.errors[0].message).toMatch(/CSV_QUOTE_NOT_CLOSED/);
  });

  it('names a missing mapped column', async () => {
    const p = await file('cols.tsv', 'q\ta\nhello\tworld\n');
    await expect(collect(readCsv(p, { fields: { question: 'question', answer: 'a' } }))).rejects.toThrow(
      /cols\.tsv:2: .*field "question"/,
    );
  });
});

describe('readText', () => {
  it('strips YAML front-matter, splits Markdown into sections and paragraphs', async () => {
    const md = [
      '---',
      'title: Care of brushes',
      'author: "A. Painter"',
      '---',
      'Intro paragraph.',
      '',
      '# Washing',
      'Rinse in cold water.',
      'Then soap.',
      '',
      '<!-- an editor note -->',
      'Second paragraph.',
      '## Drying',
      'Flat, never upright.',
    ].join('\n');
    const p = await file('notes.md', md);
    const sections = await collect(readText(p, { split: 'section' }));
    expect(sections.map((s) => [s.title, s.text])).toEqual([
      [undefined, 'Intro paragraph.'],
      ['Washing', 'Rinse in cold water.\nThen soap.\n\nSecond paragraph.'],
      ['Drying', 'Flat, never upright.'],
    ]);
    expect(sections[1].meta).toEqual({ title: 'Care of brushes', author: 'A. Painter' });
    expect(sections[1].source.line).toBe(8);
    const paras = await collect(readText(p));
    expect(paras.length).toBe(4);
  });

  it('reads a whole document as one record, titled from the front-matter', async () => {
    const p = await file('doc.md', '---\ntitle: Brushes\n---\n# Washing\nRinse.\n\n## Drying\nFlat.\n');
    const docs = await collect(readText(p, { split: 'document' }));
    expect(docs).toHaveLength(1);
    expect(docs[0].title).toBe('Brushes');
    expect(docs[0].text).toBe('# Washing\n\nRinse.\n\n## Drying\n\nFlat.');
  });

  it('strips a Key: value metadata header and unwraps plain-text paragraphs', async () => {
    const p = await file('letter.txt', 'Title: A letter\nDate: 1886\n\nDear Sir,\nthank you.\n\n\nYours.\n');
    const recs = await collect(readText(p));
    expect(recs.map((r) => r.text)).toEqual(['Dear Sir, thank you.', 'Yours.']);
    expect(recs[0].meta).toEqual({ title: 'A letter', date: '1886' });
    expect(recs[0].source.line).toBe(4);
  });
});

describe('Project Gutenberg', () => {
  it.skipIf(!HAS_SHARED)(
    'strips the licence of Emily Post and splits =HEADING= sections with chapters',
    async () => {
      const f = shared('emily_post_etiquette_1922_pg14314.txt');
      const sections = await collect(readGutenberg(f, { split: 'section' }));
      const all = sections.map((s) => s.text).join('\n');
      expect(all).not.toMatch(/Project Gutenberg/i);
      expect(all).not.toMatch(/Produced by Rick Niles/);
      const correct = sections.find((s) => s.title === 'THE CORRECT FORM')!;
      expect(correct.meta?.chapter).toBe('INTRODUCTIONS');
      expect(correct.text).toMatch(/^The word "present" is preferable on formal occasions/);
      expect(correct.source.line).toBe(525);
      const titled = sections.filter((s) => s.title !== undefined);
      expect(titled.length).toBeGreaterThan(600); // 681 =HEADING= lines, a few of them on the title pages
      // The last section ends before the footer.
      expect(sections[sections.length - 1].text).not.toMatch(/END OF/);
    },
  );

  it.skipIf(!HAS_SHARED)('handles the START marker wrapped over two lines (pg26703)', async () => {
    const paras = await collect(readGutenberg(shared('childrens_book_celebrated_pictures_1922_pg26703.txt')));
    expect(paras[0].text).not.toMatch(/PICTURES\*\*\*|E-text prepared|HTML version/);
    expect(paras.some((p) => /Project Gutenberg/i.test(p.text))).toBe(false);
    expect(paras[0].source.line).toBeGreaterThan(40);
  });

  it('strips older header variants and the "End of the Project Gutenberg" footer', async () => {
    const old = [
      'The Project Gutenberg Etext of Something',
      '**Welcome To The World of Free Plain Vanilla Electronic Texts**',
      '*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*',
      '',
      'The real text begins here.',
      '',
      'End of the Project Gutenberg Etext of Something',
      'licence licence',
    ].join('\n');
    expect(await stripGutenberg(old)).toBe('The real text begins here.');
    const noEnd = await file('noend.txt', '*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\nBody.\n');
    await expect(collect(readGutenberg(noEnd, { requireMarkers: true }))).rejects.toThrow(
      /noend\.txt: no Project Gutenberg END marker/,
    );
    expect((await collect(readGutenberg(noEnd))).map((r) => r.text)).toEqual(['Body.']);
    const p = await file('nomarkers.txt', 'Just text.\n');
    await expect(collect(readGutenberg(p, { requireMarkers: true }))).rejects.toThrow(
      /nomarkers\.txt: no Project Gutenberg START marker/,
    );
    const report = new ReadReport();
    expect(await collect(readGutenberg(p, { requireMarkers: true, onError: 'skip', report }))).toEqual([]);
    expect(report.skipped).toBe(1);
    expect((await collect(readGutenberg(p))).map((r) => r.text)).toEqual(['Just text.']);
  });

  it.skipIf(!HAS_SHARED)('readAdvice makes topic → advice instructions from Emily Post', async () => {
    const recs = await collect(readAdvice(shared('emily_post_etiquette_1922_pg14314.txt')));
    expect(recs.length).toBeGreaterThan(500);
    const r = recs.find((x) => x.title === 'WHEN TO SHAKE HANDS')!;
    expect(r.instruction).toBe('What is the proper etiquette for when to shake hands?');
    expect(r.output.length).toBeGreaterThan(200);
    expect(r.meta?.chapter).toBe('INTRODUCTIONS');
    expect(headingToTopic('THE DUTIES OF A U.S.A. HOSTESS')).toBe('the duties of a U.S.A. hostess');
    // The title page and preface are left out; chapter I opens with its untitled lead section.
    expect(recs[0]).toMatchObject({
      instruction: 'What is best society?',
      meta: { chapter: 'WHAT IS BEST SOCIETY?' },
    });
    expect(recs[0].output).toMatch(/^"Society" is an ambiguous term/);
    expect(recs.every((x) => typeof x.meta?.chapter === 'string')).toBe(true);
    expect(recs.some((x) => x.title === 'INDEX')).toBe(false);
    expect(recs.length).toBe(695);
  });
});

describe('readSquad', () => {
  it.skipIf(!HAS_SHARED)('reads nested SQuAD JSON and the flat rows alike', async () => {
    const flat = (await collect(readSquad(shared('squad11_art_qa.jsonl')))) as QARecord[];
    // Build the official nested shape from the flat rows.
    const data: { title: string; paragraphs: { context: string; qas: unknown[] }[] }[] = [];
    flat.forEach((r, i) => {
      let art = data.find((a) => a.title === r.title);
      if (!art) data.push((art = { title: r.title!, paragraphs: [] }));
      let para = art.paragraphs.find((p) => p.context === r.context);
      if (!para) art.paragraphs.push((para = { context: r.context!, qas: [] }));
      para.qas.push({ id: `q${i}`, question: r.question, answers: [{ text: r.answer, answer_start: 0 }] });
    });
    const p = await file('squad.json', JSON.stringify({ version: '1.1', data }));
    const nested = await collect(readSquad(p));
    expect(nested.length).toBe(flat.length);
    const byQ = new Map(nested.map((r) => [r.id, r]));
    expect(byQ.get('q0')!.answer).toBe(flat[0].answer);
    expect(byQ.get('q0')!.context).toBe(flat[0].context);
    expect(byQ.get('q0')!.source.path).toBe('data[0].paragraphs[0].qas[0]');
  });

  it('names the path and field of a malformed entry; filters unanswerable questions', async () => {
    const data = {
      data: [
        {
          title: 'T',
          paragraphs: [
            { context: 'C1', qas: [{ id: 'a', question: 'Q1?', answers: [{ text: 'A1' }] }] },
            {
              context: 'C2',
              qas: [
                { id: 'b', question: 'Q2?', answers: [{ text: 'A2' }, { text: 'A2' }] },
                { id: 'c', question: 'Q3?', answers: [], is_impossible: true },
                { id: 'd', answers: [{ text: 'A4' }] },
              ],
            },
          ],
        },
      ],
    };
    const p = await file('bad-squad.json', JSON.stringify(data));
    await expect(collect(readSquad(p))).rejects.toThrow(
      /bad-squad\.json#4 data\[0\]\.paragraphs\[1\]\.qas\[2\]: missing or mistyped question \(field "question"\)/,
    );
    const report = new ReadReport();
    const recs = await collect(readSquad(p, { onError: 'skip', report }));
    expect(recs.map((r) => r.id)).toEqual(['a', 'b']);
    expect(report).toMatchObject({ records: 2, skipped: 1, filtered: 1 });
  });
});
