import type { SourceRef } from './errors.js';

/** A passage of plain text (a paragraph, a section, a whole document). */
export interface TextRecord {
  kind: 'text';
  text: string;
  /** Heading or document title, when the source has one. */
  title?: string;
  source: SourceRef;
  /** Extra fields from the source (chapter, front-matter keys, ...). */
  meta?: Record<string, unknown>;
}

/** An answer with its score (Reddit comment score, or 0 when the source has none). */
export interface ScoredAnswer {
  text: string;
  score: number;
  id?: string;
}

/** A question with its answer; `context` is the supporting passage for retrieval-style data (SQuAD). */
export interface QARecord {
  kind: 'qa';
  question: string;
  answer: string;
  context?: string;
  title?: string;
  /** All kept answers, best first (Reddit: top comments by score). `answer` is `answers[0].text` then. */
  answers?: ScoredAnswer[];
  id?: string;
  score?: number;
  source: SourceRef;
  meta?: Record<string, unknown>;
}

/** An instruction-following example (Alpaca shape): instruction, optional input, expected output. */
export interface InstructionRecord {
  kind: 'instruction';
  instruction: string;
  input?: string;
  output: string;
  title?: string;
  source: SourceRef;
  meta?: Record<string, unknown>;
}

/** Any record a reader yields. */
export type DatasetRecord = TextRecord | QARecord | InstructionRecord;

/**
 * The text that cleaning, deduplication and template detection look at: the passage for text records, question
 * + answer for Q&A (not the shared context, which repeats across questions by design), instruction + input +
 * output for instructions.
 */
export function recordText(r: DatasetRecord): string {
  switch (r.kind) {
    case 'text':
      return r.text;
    case 'qa':
      return `${r.question}\n${r.answer}`;
    case 'instruction':
      return r.input ? `${r.instruction}\n${r.input}\n${r.output}` : `${r.instruction}\n${r.output}`;
  }
}

/** Applies `fn` to every string field of a record that holds text (not ids or titles). */
export function mapRecordText<R extends DatasetRecord>(r: R, fn: (s: string) => string): R {
  switch (r.kind) {
    case 'text':
      return { ...r, text: fn(r.text) };
    case 'qa': {
      const out: QARecord = { ...r, question: fn(r.question), answer: fn(r.answer) };
      if (r.context !== undefined) out.context = fn(r.context);
      if (r.answers) out.answers = r.answers.map((a) => ({ ...a, text: fn(a.text) }));
      return out as R;
    }
    case 'instruction': {
      const out: InstructionRecord = { ...r, instruction: fn(r.instruction), output: fn(r.output) };
      if (r.input !== undefined) out.input = fn(r.input);
      return out as R;
    }
  }
}

/** Collects an async (or sync) iterable into an array. */
export async function collect<T>(items: AsyncIterable<T> | Iterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
