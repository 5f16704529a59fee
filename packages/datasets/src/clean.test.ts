import { describe, expect, it } from 'vitest';
import { cleanRecords, normalizeText } from './clean.js';
import { lshParams, MinHashLSH } from './minhash.js';
import { readCsv } from './readers/csv.js';
import { readGutenberg } from './readers/gutenberg.js';
import { readJsonlRecords } from './readers/jsonl.js';
import { collect, type QARecord, type TextRecord } from './records.js';
import { sentenceFrame, splitSentences, TemplateDetector } from './templates.js';
import { HAS_SHARED, shared } from './test/helpers.js';

const src = { file: 'mem', record: 0 };
const text = (t: string, i = 0): TextRecord => ({ kind: 'text', text: t, source: { ...src, record: i + 1 } });

/** The distinct SQuAD paragraphs (contexts) of a shared file, as text records. */
async function squadContexts(name: string): Promise<TextRecord[]> {
  const rows = (await collect(readJsonlRecords(shared(name)))) as QARecord[];
  const seen = new Set<string>();
  const out: TextRecord[] = [];
  for (const r of rows) {
    if (seen.has(r.context!)) continue;
    seen.add(r.context!);
    out.push(text(r.context!, out.length));
  }
  return out;
}

describe('normalizeText', () => {
  it('applies NFC by default and NFKC on request', () => {
    const decomposed = 'Le\u0301ger'; // e + combining acute
    expect(normalizeText(decomposed)).toBe('L\u00e9ger');
    expect(normalizeText('\ufb01ne \uff21rt')).toBe('\ufb01ne \uff21rt'); // NFC keeps ligature, full-width A
    expect(normalizeText('\ufb01ne \uff21rt', { unicode: 'NFKC' })).toBe('fine Art');
    expect(normalizeText(decomposed, { unicode: false })).toBe(decomposed);
  });
  it('normalises whitespace and strips control and zero-width characters', () => {
    expect(normalizeText('  a\t\tb \r\n\r\n\r\n\r\nc\u200b d\u0007  ')).toBe('a b\n\nc d');
  });
});

describe('MinHash LSH', () => {
  it('chooses bands × rows that catch pairs at the threshold', () => {
    const { bands, rows } = lshParams(0.8, 128);
    expect(bands * rows).toBeLessThanOrEqual(128);
    expect(1 - (1 - 0.8 ** rows) ** bands).toBeGreaterThanOrEqual(0.99);
    expect({ bands, rows }).toEqual({ bands: 21, rows: 6 });
  });

  it('estimates Jaccard similarity within sampling error', () => {
    const lsh = new MinHashLSH({ numPerm: 256, shingleSize: 1 });
    // Word sets with exact Jaccard 50/150 = 1/3.
    const a = Array.from({ length: 100 }, (_, i) => `w${i}`).join(' ');
    const b = Array.from({ length: 100 }, (_, i) => `w${i + 50}`).join(' ');
    const est = MinHashLSH.similarity(lsh.signature(a), lsh.signature(b));
    expect(Math.abs(est - 1 / 3)).toBeLessThan(0.09); // 3 standard errors of sqrt(p(1-p)/256)
  });

  it.skipIf(!HAS_SHARED)(
    'finds edited copies of real SQuAD paragraphs and nothing among distinct ones',
    async () => {
      const paras = await squadContexts('squad11_art_qa.jsonl');
      expect(paras.length).toBeGreaterThan(200);
      // Every distinct paragraph is new.
      const lsh = new MinHashLSH({ threshold: 0.8, seed: 7 });
      const falseHits = paras.filter((p) => lsh.addIfNew(p.text) >= 0).length;
      expect(falseHits).toBe(0);
      // Edited copies: the exact Jaccard similarity of their 5-word shingle sets decides what must be found.
      const shingles = (t: string) => {
        const w = t.toLowerCase().match(/[\p{L}\p{N}]+(?:['’][\p{L}]+)*/gu) ?? [];
        return new Set(w.slice(0, Math.max(1, w.length - 4)).map((_, i) => w.slice(i, i + 5).join(' ')));
      };
      const jaccard = (a: Set<string>, b: Set<string>) => {
        let inter = 0;
        for (const x of a) if (b.has(x)) inter++;
        return inter / (a.size + b.size - inter);
      };
      let high = 0;
      let highFound = 0;
      let low = 0;
      let lowFound = 0;
      for (const p of paras.filter((q) => q.text.split(' ').length >= 90)) {
        for (const every of [100, 10]) {
          const w = p.text.split(' ');
          for (let i = 7; i < w.length; i += every) w[i] = 'CHANGED';
          const edited = w.join(' ');
          const j = jaccard(shingles(p.text), shingles(edited));
          const hit = lsh.query(lsh.signature(edited));
          if (j >= 0.88) {
            high++;
            if (hit?.index === paras.indexOf(p)) highFound++;
          } else if (j <= 0.6) {
            low++;
            if (hit) lowFound++;
          }
        }
      }
      expect(high).toBeGreaterThan(100);
      expect(low).toBeGreaterThan(200);
      expect(highFound).toBeGreaterThanOrEqual(high - 1);
      expect(lowFound).toBe(0);
    },
  );

  it('is deterministic for a seed', () => {
    const a = new MinHashLSH({ seed: 3 }).signature('the quick brown fox jumps over the lazy dog again');
    const b = new MinHashLSH({ seed: 3 }).signature('the quick brown fox jumps over the lazy dog again');
    const c = new MinHashLSH({ seed: 4 }).signature('the quick brown fox jumps over the lazy dog again');
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
  });
});

describe('template detection', () => {
  it('masks names and numbers into sentence frames', () => {
    expect(sentenceFrame('The painting Mona Lisa was made by Leonardo da Vinci in 1503.').frame).toBe(
      'the painting X was made by X in # .',
    );
    expect(sentenceFrame('The painting The Night Watch was made by Rembrandt van Rijn in 1642.').frame).toBe(
      'the painting X was made by X in # .',
    );
    expect(splitSentences('Mrs. Jones came. Mr. Smith left! Did he? Yes.')).toEqual([
      'Mrs. Jones came.',
      'Mr. Smith left!',
      'Did he?',
      'Yes.',
    ]);
  });

  it.skipIf(!HAS_SHARED)('flags records filled from a template and not real paragraphs', async () => {
    const paintings: [string, string, number][] = [
      ['Mona Lisa', 'Leonardo da Vinci', 1503],
      ['The Night Watch', 'Rembrandt', 1642],
      ['The Blue Boy', 'Thomas Gainsborough', 1770],
      ['The Angelus', 'Jean-François Millet', 1859],
      ['The Hay Wain', 'John Constable', 1821],
      ['Sistine Madonna', 'Raphael', 1512],
      ['The Gleaners', 'Millet', 1857],
      ['Age of Innocence', 'Joshua Reynolds', 1788],
      ['The Horse Fair', 'Rosa Bonheur', 1855],
      ['Baby Stuart', 'Anthony van Dyck', 1637],
    ];
    const templated = paintings.map(
      ([t, p, y], i) =>
        `The painting ${t} was made by ${p} in ${y}. It is one of the most famous works of ${p}. ` +
        (i % 2 ? `You can see ${t} in a museum today.` : `Many people visit ${t} every year.`),
    );
    const real = [
      ...(await squadContexts('squad11_art_qa.jsonl')).slice(0, 150).map((r) => r.text),
      ...(await collect(readGutenberg(shared('emily_post_etiquette_1922_pg14314.txt'), { split: 'section' })))
        .slice(20, 170)
        .map((r) => r.text),
    ];
    const det = new TemplateDetector();
    for (const t of [...real.slice(0, 150), ...templated, ...real.slice(150)]) det.add(t);
    const rep = det.report();
    const flagsTemplated = rep.flags.slice(150, 160);
    const flagsReal = [...rep.flags.slice(0, 150), ...rep.flags.slice(160)];
    expect(flagsTemplated.every(Boolean)).toBe(true);
    expect(flagsReal.filter(Boolean).length).toBe(0);
    const top = Object.fromEntries(rep.topFrames.map((f) => [f.frame, f.count]));
    expect(top['the painting X was made by X in # .']).toBe(10);
    expect(top['it is one of the most famous works of X .']).toBe(10);
    expect(rep.rate).toBeCloseTo(10 / 310, 10);
  });

  it.skipIf(!HAS_SHARED)('reports the WikiMovies questions as template-generated', async () => {
    const qs = (await collect(
      readCsv(shared('wikimovies_wiki-entities_qa_dev.txt'), {
        header: false,
        quote: false,
        delimiter: '\t',
        fields: { question: 0, answer: 1 },
      }),
    )) as QARecord[];
    const det = new TemplateDetector();
    for (const q of qs.slice(0, 2000)) det.add(q.question.replace(/^1 /, ''));
    const rep = det.report();
    expect(rep.rate).toBeGreaterThan(0.8);
    expect(rep.topFrames[0].count).toBeGreaterThan(100);
  });
});

describe('cleanRecords', () => {
  it('drops empty, out-of-bounds, exact and near duplicates and reports rates', async () => {
    const base =
      'Gothic architecture is a style that flourished in Europe during the High and Late Middle Ages, evolving ' +
      'from Romanesque architecture and succeeded by Renaissance architecture. Originating in 12th-century ' +
      'France, it was widely used for cathedrals, abbeys and parish churches. The style was known as opus ' +
      'Francigenum; the term Gothic was first applied contemptuously during the later Renaissance by those ' +
      'ambitious to revive the architecture of classical antiquity.';
    const recs = [
      text(base),
      text(`  ${base.toUpperCase()}  `), // exact duplicate after normalisation and case folding
      text(base.replace('flourished', 'thrived')), // near duplicate
      text('Too short.'),
      text(''),
      text(
        'Neoclassical architecture is an architectural style produced by the Neoclassical movement that began in the mid-18th century.',
      ),
    ];
    const { records, report } = await cleanRecords(recs, { minChars: 20 });
    expect(records.map((r) => (r as TextRecord).text.slice(0, 12))).toEqual(['Gothic archi', 'Neoclassical']);
    expect(report).toMatchObject({
      input: 6,
      kept: 2,
      empty: 1,
      tooShort: 1,
      exactDuplicates: 1,
      nearDuplicates: 1,
    });
    expect(report.duplicateRate).toBeCloseTo(2 / 4, 10);
  });

  it('flags templated records (meta.templated) or drops them', async () => {
    const recs = Array.from({ length: 8 }, (_, i) =>
      text(
        `The painting Picture ${String.fromCharCode(65 + i)} was made by Painter Number${i} in ${1800 + i}.`,
        i,
      ),
    );
    recs.push(
      text('Etiquette must, if it is to be of more than trifling use, include ethics as well as manners.', 9),
    );
    const flagged = await cleanRecords(recs, { nearDedup: false });
    expect(flagged.records.filter((r) => r.meta?.templated).length).toBe(8);
    expect(flagged.report.templateRate).toBeCloseTo(8 / 9, 10);
    const dropped = await cleanRecords(recs, { nearDedup: false, templates: 'drop' });
    expect(dropped.records.length).toBe(1);
  });
});
