import { readFile } from 'node:fs/promises';
import {
  badRecord,
  countFiltered,
  countRecord,
  DatasetError,
  type ReaderOptions,
  type SourceRef,
} from '../errors.js';
import type { QARecord, ScoredAnswer } from '../records.js';
import { readJsonlRecords } from './jsonl.js';

/** Options of {@link readSquad}. */
export interface SquadReadOptions extends ReaderOptions {
  /** Keep the paragraph as `context` (default true): needed for the context + question → answer template. */
  context?: boolean;
}

function str(v: unknown): v is string {
  return typeof v === 'string';
}

/**
 * Streams Q&A records from SQuAD data: the official nested JSON (`{data: [{title, paragraphs: [{context, qas:
 * [{id, question, answers: [{text, answer_start}]}]}]}]}`, v1.1 or v2.0), or flat JSON Lines with
 * `{title, context, question, answer}` rows (as in `shared/data/squad11_*.jsonl`). A malformed entry is a
 * bad record naming its path (`data[3].paragraphs[1].qas[0]`) and field. SQuAD 2.0 questions without an answer
 * are filtered out (counted in `report.filtered`). The nested file is parsed whole (30 MB for v1.1 train);
 * records are yielded one at a time.
 */
export async function* readSquad(file: string, options: SquadReadOptions = {}): AsyncGenerator<QARecord> {
  const keepContext = options.context ?? true;
  if (/\.(jsonl|ndjson)$/i.test(file)) {
    for await (const r of readJsonlRecords(file, { ...options, kind: 'qa' })) {
      const q = r as QARecord;
      if (!keepContext) delete q.context;
      yield q;
    }
    return;
  }
  let root: unknown;
  try {
    root = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new DatasetError(`invalid JSON: ${(err as Error).message}`, { file }, { cause: err });
  }
  const data = (root as { data?: unknown })?.data;
  if (!Array.isArray(data))
    throw new DatasetError('not SQuAD JSON: no "data" array', { file, field: 'data' });
  let record = 0;
  for (let i = 0; i < data.length; i++) {
    const article = data[i] as { title?: unknown; paragraphs?: unknown };
    const title = str(article?.title) ? article.title : undefined;
    if (!Array.isArray(article?.paragraphs)) {
      record++;
      badRecord(
        new DatasetError('missing paragraphs array', {
          file,
          record,
          path: `data[${i}]`,
          field: 'paragraphs',
        }),
        options,
      );
      continue;
    }
    for (let j = 0; j < article.paragraphs.length; j++) {
      const para = article.paragraphs[j] as { context?: unknown; qas?: unknown };
      const ppath = `data[${i}].paragraphs[${j}]`;
      if (!str(para?.context) || !Array.isArray(para.qas)) {
        record++;
        const field = !str(para?.context) ? 'context' : 'qas';
        badRecord(
          new DatasetError(`missing or mistyped ${field}`, { file, record, path: ppath, field }),
          options,
        );
        continue;
      }
      for (let k = 0; k < para.qas.length; k++) {
        record++;
        const qa = para.qas[k] as {
          id?: unknown;
          question?: unknown;
          answers?: unknown;
          is_impossible?: unknown;
        };
        const source: SourceRef = { file, record, path: `${ppath}.qas[${k}]` };
        if (!str(qa?.question)) {
          badRecord(
            new DatasetError('missing or mistyped question', { ...source, field: 'question' }),
            options,
          );
          continue;
        }
        if (!Array.isArray(qa.answers)) {
          badRecord(new DatasetError('missing answers array', { ...source, field: 'answers' }), options);
          continue;
        }
        const texts: string[] = [];
        let bad = false;
        for (let a = 0; a < qa.answers.length; a++) {
          const t = (qa.answers[a] as { text?: unknown })?.text;
          if (!str(t)) {
            badRecord(
              new DatasetError('answer without text', { ...source, field: `answers[${a}].text` }),
              options,
            );
            bad = true;
            break;
          }
          if (!texts.includes(t)) texts.push(t);
        }
        if (bad) continue;
        if (texts.length === 0) {
          countFiltered(options); // SQuAD 2.0 unanswerable question
          continue;
        }
        const answers: ScoredAnswer[] = texts.map((text) => ({ text, score: 0 }));
        const rec: QARecord = { kind: 'qa', question: qa.question, answer: texts[0], source };
        if (keepContext) rec.context = para.context;
        if (title !== undefined) rec.title = title;
        if (str(qa.id)) rec.id = qa.id;
        if (answers.length > 1) rec.answers = answers;
        countRecord(options);
        yield rec;
      }
    }
  }
}
