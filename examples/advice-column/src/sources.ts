import { readFile } from 'node:fs/promises';
import {
  collect,
  type DatasetDownloadOptions,
  type DatasetRecord,
  downloadGutenberg,
  type QARecord,
  ReadReport,
  readAdvice,
  readJsonlRecords,
  recordText,
  stripGutenberg,
} from '@atelier/datasets';

/** The embedded default: 40 question → advice pairs written for this project, in one voice. */
export const EMBEDDED_DATA = new URL('../data/embedded-advice.jsonl', import.meta.url).pathname;

/** Project Gutenberg ids of the public-domain sources. */
export const GUTENBERG = { etiquette: 14314, 'girls-own-paper': 18195 } as const;

/** Where a run reads its data: `embedded`, `etiquette`, `girls-own-paper`, or a JSONL file (e.g. Reddit collector output). */
export type SourceName = 'embedded' | keyof typeof GUTENBERG | (string & {});

/** Options for the Gutenberg downloads (a mirror or a loopback server in tests; the cache directory). */
export type DownloadOptions = Pick<DatasetDownloadOptions, 'baseUrl' | 'cacheDir' | 'progress'>;

/** Any record as a question → advice pair, so every source trains the same `Q: … A: …` format. */
export function toAdvice(r: DatasetRecord): QARecord {
  if (r.kind === 'qa') return { kind: 'qa', question: r.question, answer: r.answer, source: r.source };
  if (r.kind === 'instruction')
    return { kind: 'qa', question: r.instruction, answer: r.output, source: r.source };
  throw new Error(`${r.source.file}: record ${r.source.record} is plain text, not a question → advice pair`);
}

/**
 * The replies of "Answers to Correspondents" in The Girl's Own Paper: paragraphs `NAME.--reply` under
 * section headings (`EDUCATIONAL.`, `ART.` …). The readers' letters were not printed, so the question is
 * reconstructed from the pen name and the section; the reply is the advice.
 */
export function parseCorrespondents(text: string, file: string): QARecord[] {
  const start = text.indexOf('ANSWERS TO CORRESPONDENTS');
  if (start < 0) throw new Error(`${file}: no "ANSWERS TO CORRESPONDENTS" section found`);
  const before = text.slice(0, start).split('\n').length;
  const out: QARecord[] = [];
  let section = 'general matters';
  let line = before;
  for (const para of text.slice(start).split(/\n\s*\n/)) {
    const at = line;
    line += para.split('\n').length + 1;
    const flat = para.replace(/\s+/g, ' ').trim();
    if (flat === '') continue;
    if (/^[A-Z][A-Z ,&'-]+\.$/.test(flat) && !flat.includes('--')) {
      section = flat.slice(0, -1).toLowerCase();
      continue;
    }
    const m = /^([A-Z][A-Za-z0-9 .,'&"-]{0,60}?)\.?--\s*(.+)$/.exec(flat);
    if (!m || m[2].length < 40) continue;
    out.push({
      kind: 'qa',
      question: `A reader signing herself "${m[1].trim()}" writes about ${section}. What do you advise?`,
      answer: m[2],
      source: { file, line: at + 1, record: out.length },
    });
  }
  return out;
}

/** Reads one source into question → advice records; Gutenberg books are downloaded once into the cache. */
export async function readSource(name: SourceName, download: DownloadOptions = {}): Promise<QARecord[]> {
  const report = new ReadReport();
  if (name === 'embedded') {
    const recs = await collect(readJsonlRecords(EMBEDDED_DATA, { kind: 'qa', report }));
    return recs.map(toAdvice);
  }
  if (name === 'etiquette') {
    const file = await downloadGutenberg(GUTENBERG.etiquette, { ...download, sha256: null });
    return (await collect(readAdvice(file, { report }))).map(toAdvice);
  }
  if (name === 'girls-own-paper') {
    const file = await downloadGutenberg(GUTENBERG['girls-own-paper'], { ...download, sha256: null });
    return parseCorrespondents(await stripGutenberg(await readFile(file, 'utf8')), file);
  }
  // A JSONL file: the Reddit collector's output is detected and read as posts → top comments.
  const recs = await collect(readJsonlRecords(name, { onError: 'skip', report }));
  // Bad lines are skipped, never silently: say how many and the first reason.
  if (report.skipped > 0) process.stderr.write(`${name}: ${report.summary()}\n`);
  return recs.filter((r) => recordText(r).trim() !== '').map(toAdvice);
}
