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

/** Headings of reference sections that are not advice. */
const BACK_MATTER =
  /^(INDEX|CONTENTS|TABLE OF CONTENTS|FOOTNOTES|NOTES|ILLUSTRATIONS|LIST OF ILLUSTRATIONS|APPENDIX)\.?$/i;

/** The default instruction: a heading that is a question is asked as is, otherwise the etiquette for the topic. */
export function adviceInstruction(topic: string): string {
  if (topic.endsWith('?')) return topic.charAt(0).toUpperCase() + topic.slice(1);
  return `What is the proper etiquette for ${topic}?`;
}

/**
 * Topic → advice records from a book with `=HEADING=` sections, such as Emily Post's "Etiquette" (1922, 681
 * sections): each section becomes an instruction ("What is the proper etiquette for <topic>?", or your own)
 * whose output is the section text. Sections before the first `CHAPTER` line (title page, contents, preface)
 * are left out when the book has chapters, as are the index and contents, sections without a heading or
 * shorter than `minChars`
 * (all counted in `report.filtered`; `report.records` counts the sections read).
 */
export async function* readAdvice(
  file: string,
  options: AdviceOptions = {},
): AsyncGenerator<InstructionRecord> {
  const minChars = options.minChars ?? 200;
  const make = options.instruction ?? adviceInstruction;
  let frontMatter: TextRecord[] | null = [];
  const toRecord = (s: TextRecord): InstructionRecord | null => {
    if (!s.title || s.text.length < minChars || BACK_MATTER.test(s.title)) {
      countFiltered(options);
      return null;
    }
    const chapter = typeof s.meta?.chapter === 'string' ? s.meta.chapter : undefined;
    const rec: InstructionRecord = {
      kind: 'instruction',
      instruction: make(headingToTopic(s.title), chapter),
      output: s.text,
      title: s.title,
      source: s.source,
    };
    if (chapter) rec.meta = { chapter };
    return rec;
  };
  for await (const s of readGutenberg(file, { split: 'section', headings: 'equals', ...options })) {
    if (frontMatter && s.meta?.chapter === undefined) {
      frontMatter.push(s);
      continue;
    }
    if (frontMatter) {
      countFiltered(options, frontMatter.length);
      frontMatter = null;
    }
    const rec = toRecord(s);
    if (rec) yield rec;
  }
  // A book without chapters: its sections were all "front matter".
  for (const s of frontMatter ?? []) {
    const rec = toRecord(s);
    if (rec) yield rec;
  }
}
