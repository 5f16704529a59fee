import { countRecord, type ReaderOptions } from '../errors.js';
import { type Line, readLines } from '../lines.js';
import type { TextRecord } from '../records.js';

/** How a text file is cut into records. */
export type TextSplit = 'paragraph' | 'section' | 'document';

/**
 * Which lines are section headings: Markdown ATX headings (`## Title`), `=TITLE=` lines (Project Gutenberg's
 * rendering of bold headings, as in Emily Post's "Etiquette"), or a custom pattern whose first capture group
 * is the title.
 */
export type HeadingStyle = 'markdown' | 'equals' | 'none' | RegExp;

/** Options of {@link readText} (and the Gutenberg reader). */
export interface TextReadOptions extends ReaderOptions {
  /** Records are paragraphs (default), sections under headings, or whole documents. */
  split?: TextSplit;
  /** `'auto'` (default) treats `.md`/`.markdown` files as Markdown. */
  format?: 'text' | 'markdown' | 'auto';
  /** Heading style (default: markdown for Markdown files, `'equals'` for text files). */
  headings?: HeadingStyle;
  /**
   * Join the hard-wrapped lines of a paragraph with single spaces (default: true for text, false for
   * Markdown, where line breaks carry lists and code).
   */
  unwrap?: boolean;
  /** Drop `[Illustration: ...]` paragraphs (default true). */
  dropIllustrations?: boolean;
  /** Lines that open a chapter; the next non-empty line is the chapter title (kept in `meta.chapter`). */
  chapterPattern?: RegExp | null;
}

/** A paragraph or heading found in the line stream. */
interface Block {
  type: 'paragraph' | 'heading' | 'chapter';
  lines: string[];
  line: number;
  title?: string;
}

const MD_HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const EQ_HEADING = /^=([^=\s].*?)=\s*$/;
const DEFAULT_CHAPTER = /^\s*CHAPTER\s+[IVXLCDM\d]+\.?\s*$/;
const META_LINE = /^([A-Z][A-Za-z -]{0,30}):\s+(.*\S)\s*$/;

function headingPattern(style: HeadingStyle): RegExp | null {
  if (style === 'none') return null;
  if (style === 'markdown') return MD_HEADING;
  if (style === 'equals') return EQ_HEADING;
  return style;
}

function headingTitle(re: RegExp, m: RegExpExecArray): string {
  return (re === MD_HEADING ? m[2] : m[1]).trim();
}

/**
 * Strips YAML front-matter (`---` ... `---` at the top of the file) and a leading block of `Key: value`
 * metadata lines (as in Gutenberg headers and e-mail style notes), returning them as metadata.
 */
async function* stripFrontMatter(
  lines: AsyncIterable<Line>,
  meta: Record<string, string>,
): AsyncGenerator<Line> {
  let state: 'start' | 'yaml' | 'header' | 'body' = 'start';
  let held: Line[] = [];
  for await (const l of lines) {
    if (state === 'body') {
      yield l;
      continue;
    }
    if (state === 'start') {
      if (l.text.trim() === '') continue;
      if (l.text.trim() === '---') {
        state = 'yaml';
        continue;
      }
      state = 'header';
    }
    if (state === 'yaml') {
      if (l.text.trim() === '---' || l.text.trim() === '...') {
        state = 'body';
        continue;
      }
      const m = /^([\w-]+):\s*(.*)$/.exec(l.text);
      if (m) meta[m[1]] = m[2].replace(/^["']|["']$/g, '');
      continue;
    }
    // state === 'header': a first paragraph made only of `Key: value` lines is metadata.
    if (l.text.trim() === '') {
      if (held.length > 0) {
        for (const h of held) {
          const m = META_LINE.exec(h.text)!;
          meta[m[1].toLowerCase()] = m[2];
        }
      }
      held = [];
      state = 'body';
      continue;
    }
    if (META_LINE.test(l.text)) {
      held.push(l);
      continue;
    }
    state = 'body';
    yield* held;
    held = [];
    yield l;
  }
  if (state === 'yaml') return; // unterminated front matter: nothing of the body follows
  yield* held;
}

/** Groups lines into paragraphs (blank-line separated) and headings. */
async function* blocks(
  lines: AsyncIterable<Line>,
  heading: RegExp | null,
  chapter: RegExp | null,
): AsyncGenerator<Block> {
  let cur: Block | null = null;
  let wantChapterTitle: Block | null = null;
  for await (const { text, line } of lines) {
    if (text.trim() === '') {
      if (cur) yield cur;
      cur = null;
      continue;
    }
    if (wantChapterTitle) {
      wantChapterTitle.title = text.trim();
      yield wantChapterTitle;
      wantChapterTitle = null;
      continue;
    }
    if (chapter?.test(text)) {
      if (cur) yield cur;
      cur = null;
      wantChapterTitle = { type: 'chapter', lines: [text], line };
      continue;
    }
    const m = heading ? heading.exec(text) : null;
    if (m && heading) {
      if (cur) yield cur;
      cur = null;
      yield { type: 'heading', lines: [text], line, title: headingTitle(heading, m) };
      continue;
    }
    if (!cur) cur = { type: 'paragraph', lines: [], line };
    cur.lines.push(text);
  }
  if (cur) yield cur;
  if (wantChapterTitle) yield wantChapterTitle;
}

/**
 * Cuts a stream of lines into text records. Shared by {@link readText} and the Gutenberg reader; exported for
 * text that does not come from a file (pass any `file` name for the source references).
 */
export async function* textRecords(
  lines: AsyncIterable<Line>,
  file: string,
  options: TextReadOptions = {},
): AsyncGenerator<TextRecord> {
  const markdown =
    options.format === 'markdown' ||
    ((options.format ?? 'auto') === 'auto' && /\.(md|markdown)$/i.test(file));
  const split = options.split ?? 'paragraph';
  const unwrap = options.unwrap ?? !markdown;
  const dropIllustrations = options.dropIllustrations ?? true;
  const heading = headingPattern(options.headings ?? (markdown ? 'markdown' : 'equals'));
  const chapter = options.chapterPattern === undefined ? DEFAULT_CHAPTER : options.chapterPattern;
  const meta: Record<string, string> = {};
  const body = stripFrontMatter(lines, meta);

  let record = 0;
  let title: string | undefined;
  let chapterTitle: string | undefined;
  let section: { parts: string[]; line: number } | null = null;

  const make = (text: string, line: number, t: string | undefined): TextRecord => {
    record++;
    const m: Record<string, unknown> = { ...meta };
    if (chapterTitle) m.chapter = chapterTitle;
    const rec: TextRecord = { kind: 'text', text, source: { file, line, record } };
    if (t !== undefined) rec.title = t;
    if (Object.keys(m).length > 0) rec.meta = m;
    countRecord(options);
    return rec;
  };
  const flushSection = (): TextRecord | null => {
    const s = section;
    section = null;
    if (!s || s.parts.length === 0) return null;
    return make(s.parts.join('\n\n'), s.line, split === 'document' ? meta.title : title);
  };

  for await (const b of blocks(body, heading, markdown ? null : chapter)) {
    if (b.type === 'chapter' || b.type === 'heading') {
      if (split === 'section') {
        const r = flushSection();
        if (r) yield r;
      }
      if (b.type === 'chapter') {
        // Text between a chapter line and its first heading is titled by the chapter.
        chapterTitle = b.title;
        title = b.title;
      } else title = b.title;
      if (split === 'document' && markdown) {
        section ??= { parts: [], line: b.line };
        section.parts.push(b.lines.join('\n'));
      }
      continue;
    }
    let text = unwrap ? b.lines.map((l) => l.trim()).join(' ') : b.lines.join('\n');
    if (markdown) text = text.replace(/<!--[\s\S]*?-->/g, '').trim();
    if (text === '') continue;
    if (dropIllustrations && /^\[Illustration/i.test(text)) continue;
    if (split === 'paragraph') {
      yield make(text, b.line, title);
      continue;
    }
    section ??= { parts: [], line: b.line };
    section.parts.push(text);
  }
  const last = flushSection();
  if (last) yield last;
}

/**
 * Streams paragraphs, sections or whole documents from a plain-text or Markdown file. YAML front-matter and a
 * leading `Key: value` metadata block are stripped into `meta`; section titles come from headings
 * (`# Title` in Markdown, `=TITLE=` in Gutenberg-style text); `CHAPTER ...` lines set `meta.chapter`.
 */
export function readText(file: string, options: TextReadOptions = {}): AsyncGenerator<TextRecord> {
  return textRecords(readLines(file), file, options);
}
