import { badRecord, DatasetError } from '../errors.js';
import { type Line, readLines } from '../lines.js';
import type { TextRecord } from '../records.js';
import { type TextReadOptions, textRecords } from './text.js';

/** Lines that end the licence header (the text starts after them). */
const START_MARKERS = [
  /^\s*\*{3}\s*START OF (THE|THIS) PROJECT GUTENBERG/i,
  /^\s*\*END\*\s*THE SMALL PRINT!/i,
  /^\s*START OF (THE|THIS) PROJECT GUTENBERG E-?BOOK/i,
];
/** Lines that start the licence footer (the text ends before them). */
const END_MARKERS = [
  /^\s*\*{3}\s*END OF (THE|THIS) PROJECT GUTENBERG/i,
  /^\s*End of (the )?Project Gutenberg'?s?\b/i,
  /^\s*END OF (THE|THIS) PROJECT GUTENBERG E-?BOOK/i,
  /^\s*\*{3}\s*START: FULL LICENSE/i,
];
/** Credit paragraphs right after the header. */
const CREDIT =
  /^\s*(Produced by|E-text prepared by|Transcribed (from|by)|This (e-?text|ebook) was (produced|prepared)|Note: Project Gutenberg also has)/i;

/** How many lines to look through for a START marker before assuming the file has no licence header. */
const HEADER_SEARCH_LINES = 1500;

/** Options of {@link readGutenberg}. */
export interface GutenbergReadOptions extends TextReadOptions {
  /** Throw (or, with `onError: 'skip'`, skip the file) when no START/END marker is found. Default false. */
  requireMarkers?: boolean;
}

/**
 * Removes the Project Gutenberg licence header and footer from a stream of lines: everything up to and
 * including the `*** START OF THE PROJECT GUTENBERG EBOOK ... ***` line (also the marker wrapped over two lines,
 * `***START OF...` without a space, and the old `*END*THE SMALL PRINT!` variant), the producer credits that
 * follow, and everything from the `*** END OF ...` / `End of the Project Gutenberg EBook` line on.
 */
export async function* stripGutenbergLines(
  lines: AsyncIterable<Line>,
  file: string,
  requireMarkers = false,
): AsyncGenerator<Line> {
  const held: Line[] = [];
  let state: 'header' | 'marker-cont' | 'credits' | 'body' = 'header';
  let sawStart = false;
  let sawEnd = false;
  let inCredit = false;
  for await (const l of lines) {
    if (state === 'header') {
      if (START_MARKERS.some((re) => re.test(l.text))) {
        sawStart = true;
        held.length = 0;
        // A marker wrapped over two lines ends with "***" on a later line.
        const t = l.text.trim();
        state = t.startsWith('*') && !/\*{3}\s*$/.test(t.replace(/^\*+/, '')) ? 'marker-cont' : 'credits';
        continue;
      }
      held.push(l);
      if (held.length >= HEADER_SEARCH_LINES) {
        if (requireMarkers)
          throw new DatasetError('no Project Gutenberg START marker in the first lines', { file });
        state = 'body';
        for (const h of held) {
          if (END_MARKERS.some((re) => re.test(h.text))) {
            sawEnd = true;
            break;
          }
          yield h;
        }
        held.length = 0;
        if (sawEnd) return;
      }
      continue;
    }
    if (state === 'marker-cont') {
      if (/\*{3}\s*$/.test(l.text) || l.text.trim() === '') state = 'credits';
      continue;
    }
    if (END_MARKERS.some((re) => re.test(l.text))) {
      sawEnd = true;
      break;
    }
    if (state === 'credits') {
      // Skip credit and transcriber paragraphs (each up to its blank line) until the first paragraph of text.
      if (l.text.trim() === '') {
        inCredit = false;
        continue;
      }
      if (inCredit) continue;
      if (CREDIT.test(l.text)) {
        inCredit = true;
        continue;
      }
      state = 'body';
    }
    yield l;
  }
  if (state === 'header') {
    // No START marker anywhere: the file is plain text (perhaps already stripped).
    if (requireMarkers) throw new DatasetError('no Project Gutenberg START marker', { file });
    for (const h of held) {
      if (END_MARKERS.some((re) => re.test(h.text))) {
        sawEnd = true;
        break;
      }
      yield h;
    }
  }
  if (requireMarkers && sawStart && !sawEnd)
    throw new DatasetError('no Project Gutenberg END marker', { file });
}

/** Strips the Project Gutenberg licence header and footer from a whole text (see {@link stripGutenbergLines}). */
export async function stripGutenberg(text: string): Promise<string> {
  async function* lines(): AsyncGenerator<Line> {
    const parts = text.split(/\r?\n/);
    for (let i = 0; i < parts.length; i++) yield { text: parts[i], line: i + 1 };
  }
  const out: string[] = [];
  for await (const l of stripGutenbergLines(lines(), '<text>')) out.push(l.text);
  return out.join('\n').trim();
}

/**
 * Streams paragraphs, sections or the whole book from a Project Gutenberg plain-text file with the licence
 * header/footer removed. Line numbers refer to the original file. For Emily Post's "Etiquette" use
 * `{ split: 'section' }`: each `=HEADING=` section becomes a record titled by its heading, with the chapter in
 * `meta.chapter`.
 */
export async function* readGutenberg(
  file: string,
  options: GutenbergReadOptions = {},
): AsyncGenerator<TextRecord> {
  try {
    yield* textRecords(stripGutenbergLines(readLines(file), file, options.requireMarkers), file, options);
  } catch (err) {
    if (err instanceof DatasetError && (options.onError ?? 'fail') === 'skip' && err.line === undefined) {
      badRecord(err, options);
      return;
    }
    throw err;
  }
}
