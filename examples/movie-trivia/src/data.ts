import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type DatasetDownloadOptions, downloadSquad, readSquad } from '@atelier/datasets';
import type { QaRecord } from '@atelier/retrieval';

/** The embedded default: project-written film documents (data/documents.jsonl) and questions (data/questions.jsonl). */
export const EMBEDDED_DIR = new URL('../data/', import.meta.url).pathname;

/** SQuAD v1.1 train articles about film and television (the same 8 as shared/data/squad11_film_tv_qa.jsonl). */
export const FILM_TV_TITLES = [
  'Spectre_(2015_film)',
  'Steven_Spielberg',
  'Turner_Classic_Movies',
  'Universal_Studios',
  'Arnold_Schwarzenegger',
  'American_Idol',
  'To_Kill_a_Mockingbird',
  'Marvel_Comics',
];

function parseJsonlLines(text: string, file: string): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new Error(`${file}:${i + 1}: invalid JSON (${(e as Error).message})`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      throw new Error(`${file}:${i + 1}: expected a JSON object`);
    rows.push(v as Record<string, unknown>);
  });
  return rows;
}

function field(row: Record<string, unknown>, name: string, where: string): string {
  const v = row[name];
  if (typeof v !== 'string' || !v.trim())
    throw new Error(`${where}: field "${name}" must be a non-empty string`);
  return v;
}

/**
 * Reads a documents file (`{title, text}` per line) and a questions file (`{title, question, answer}` per line)
 * and joins them by title into (question, long context, answer) records.
 */
export async function loadDocumentsAndQuestions(
  dir = EMBEDDED_DIR,
  files = { documents: 'documents.jsonl', questions: 'questions.jsonl' },
): Promise<QaRecord[]> {
  const docFile = join(dir, files.documents);
  const qFile = join(dir, files.questions);
  const docs = new Map<string, string>();
  parseJsonlLines(await readFile(docFile, 'utf8'), docFile).forEach((row, i) => {
    const where = `${docFile}:${i + 1}`;
    docs.set(field(row, 'title', where), field(row, 'text', where));
  });
  return parseJsonlLines(await readFile(qFile, 'utf8'), qFile).map((row, i) => {
    const where = `${qFile}:${i + 1}`;
    const title = field(row, 'title', where);
    const context = docs.get(title);
    if (context === undefined) throw new Error(`${where}: title "${title}" is not in ${docFile}`);
    return { title, context, question: field(row, 'question', where), answer: field(row, 'answer', where) };
  });
}

/**
 * Reads SQuAD-style QA (official nested JSON, or flat JSONL `{title, context, question, answer}` such as
 * shared/data/squad11_film_tv_qa.jsonl). `titles` keeps only those articles.
 */
export async function loadSquadFile(file: string, titles?: readonly string[]): Promise<QaRecord[]> {
  const keep = titles ? new Set(titles) : undefined;
  const out: QaRecord[] = [];
  for await (const r of readSquad(file)) {
    if (!r.context) continue;
    if (keep && !keep.has(r.title ?? '')) continue;
    out.push({ question: r.question, context: r.context, answer: r.answer, title: r.title });
  }
  if (out.length === 0)
    throw new Error(`${file}: no question with a context${keep ? ' in the film/TV titles' : ''}`);
  return out;
}

/** Downloads SQuAD v1.1 train (cached, checksum-verified) and keeps the film/TV articles. */
export async function downloadFilmSquad(options: DatasetDownloadOptions = {}): Promise<QaRecord[]> {
  const path = await downloadSquad('train', options);
  return loadSquadFile(path, FILM_TV_TITLES);
}
