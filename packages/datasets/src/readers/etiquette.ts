import { countFiltered } from '../errors.js';
import type { InstructionRecord, TextRecord } from '../records.js';
import { type GutenbergReadOptions, readGutenberg } from './gutenberg.js';

/** Options of {@link readAdvice}. */
export interface AdviceOptions extends GutenbergReadOptions {
  /** Sections shorter than this (characters) are left out (default 200: title pages, captions). */
  minChars?: number;
  /** Builds the instruction from the topic (lower-cased heading) and chapter. */
  instruction?: (topic: string, chapter: string | undefined) => string;
}

/** "THE CORRECT FORM" → "the correct form" (dotted acronyms such as "U.S.A." and the pronoun "I" stay). */
export function headingToTopic(heading: string): string {
  return heading
    .split(/\s+/)
    .map((w) => (/^(\p{Lu}\.)+$/u.test(w) || w === 'I' ? w : w.toLowerCase()))
    .join(' ')
    .replace(/[.:]+$/, '');
}

/**
 * Topic → advice records from a book with `=HEADING=` sections, such as Emily Post's "Etiquette" (1922, 681
 * sections): each section becomes an instruction ("What is the proper etiquette for: <topic>?", or your own)
 * whose output is the section text. Sections without a heading or shorter than `minChars` are left out (counted in
 * `report.filtered`; note `report.records` counts the sections read).
 */
export async function* readAdvice(
  file: string,
  options: AdviceOptions = {},
): AsyncGenerator<InstructionRecord> {
  const minChars = options.minChars ?? 200;
  const make =
    options.instruction ??
    ((topic: string) => `What is the proper etiquette for ${topic.replace(/\?$/, '')}?`);
  for await (const s of readGutenberg(file, {
    split: 'section',
    headings: 'equals',
    ...options,
  }) as AsyncGenerator<TextRecord>) {
    if (!s.title || s.text.length < minChars) {
      countFiltered(options);
      continue;
    }
    const chapter = typeof s.meta?.chapter === 'string' ? s.meta.chapter : undefined;
    const topic = headingToTopic(s.title);
    const rec: InstructionRecord = {
      kind: 'instruction',
      instruction: make(topic, chapter),
      output: s.text,
      title: s.title,
      source: s.source,
    };
    if (chapter) rec.meta = { chapter };
    yield rec;
  }
}
