import { createHash } from 'node:crypto';
import { MinHashLSH, type MinHashOptions, words } from './minhash.js';
import { type DatasetRecord, mapRecordText, recordText } from './records.js';
import { type FrameCount, TemplateDetector, type TemplateOptions } from './templates.js';

/** Options of {@link normalizeText}. */
export interface NormalizeOptions {
  /**
   * Unicode normal form (default `'NFC'`). `'NFKC'` also folds compatibility characters (ligatures, full-width
   * letters, `½` → `1⁄2`); `false` leaves the text as is.
   */
  unicode?: 'NFC' | 'NFKC' | false;
  /**
   * Whitespace normalisation (default true): `\r\n` → `\n`, tabs and runs of spaces → one space, spaces
   * trimmed at line ends, 3+ newlines → one blank line, zero-width and control characters removed.
   */
  whitespace?: boolean;
}

/** Normalises Unicode and whitespace (see {@link NormalizeOptions}). */
export function normalizeText(text: string, options: NormalizeOptions = {}): string {
  const form = options.unicode ?? 'NFC';
  let s = form ? text.normalize(form) : text;
  if (options.whitespace ?? true) {
    s = s
      .replace(/\r\n?/g, '\n')
      .replace(/[\u200b-\u200d\u2060\ufeff]/g, '')
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '')
      .replace(/[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+/g, ' ')
      .replace(/ ?\n ?/g, '\n')
      .replace(/\n{3,}/g, '\n\n')
      .trim();
  }
  return s;
}

/** Options of {@link cleanRecords}. */
export interface CleanOptions extends NormalizeOptions {
  /** Length bounds on the record text (see `recordText`), in characters and in words. */
  minChars?: number;
  maxChars?: number;
  minWords?: number;
  maxWords?: number;
  /** Drop exact duplicates (same text after normalisation, case-folded); default true. */
  dedup?: boolean;
  /** Drop near-duplicates with MinHash + LSH (default: on, threshold 0.8); false turns it off. */
  nearDedup?: false | MinHashOptions;
  /** Template detection: `'flag'` (default) marks records (`meta.templated`), `'drop'` removes them, false skips. */
  templates?: false | 'flag' | 'drop';
  /** Options of the template detector. */
  templateOptions?: TemplateOptions;
  /** The text deduplication and template detection look at (default `recordText`). */
  key?: (record: DatasetRecord) => string;
}

/** What cleaning did, with the rates the stats report. */
export interface CleanReport {
  input: number;
  kept: number;
  empty: number;
  tooShort: number;
  tooLong: number;
  exactDuplicates: number;
  nearDuplicates: number;
  /** Templated records (flagged or dropped). */
  templated: number;
  /** (exact + near duplicates) / records that passed the length bounds. */
  duplicateRate: number;
  /** templated / records judged by the template detector. */
  templateRate: number;
  /** The most repeated sentence frames. */
  topFrames: FrameCount[];
}

/**
 * Cleans a corpus: normalises every text field, drops empty and out-of-bounds records, exact duplicates and
 * near-duplicates (first occurrence kept), and flags or drops template-generated records. Template detection
 * counts frames over the whole corpus, so this collects the records (it is not streaming).
 */
export async function cleanRecords<R extends DatasetRecord>(
  records: AsyncIterable<R> | Iterable<R>,
  options: CleanOptions = {},
): Promise<{ records: R[]; report: CleanReport }> {
  const key = options.key ?? recordText;
  const seen = new Set<string>();
  const lsh = options.nearDedup === false ? null : new MinHashLSH(options.nearDedup ?? {});
  const report: CleanReport = {
    input: 0,
    kept: 0,
    empty: 0,
    tooShort: 0,
    tooLong: 0,
    exactDuplicates: 0,
    nearDuplicates: 0,
    templated: 0,
    duplicateRate: 0,
    templateRate: 0,
    topFrames: [],
  };
  const kept: R[] = [];
  let bounded = 0;
  for await (const raw of records) {
    report.input++;
    const r = mapRecordText(raw, (s) => normalizeText(s, options));
    const text = key(r);
    if (text.trim() === '' || (r.kind === 'qa' && (r.question.trim() === '' || r.answer.trim() === ''))) {
      report.empty++;
      continue;
    }
    const nWords = options.minWords !== undefined || options.maxWords !== undefined ? words(text).length : 0;
    if (
      text.length < (options.minChars ?? 0) ||
      (options.minWords !== undefined && nWords < options.minWords)
    ) {
      report.tooShort++;
      continue;
    }
    if (
      text.length > (options.maxChars ?? Number.POSITIVE_INFINITY) ||
      (options.maxWords !== undefined && nWords > options.maxWords)
    ) {
      report.tooLong++;
      continue;
    }
    bounded++;
    if (options.dedup ?? true) {
      const digest = createHash('sha1').update(text.toLowerCase()).digest('base64');
      if (seen.has(digest)) {
        report.exactDuplicates++;
        continue;
      }
      seen.add(digest);
    }
    if (lsh && lsh.addIfNew(text) >= 0) {
      report.nearDuplicates++;
      continue;
    }
    kept.push(r);
  }
  report.duplicateRate = bounded ? (report.exactDuplicates + report.nearDuplicates) / bounded : 0;
  let out = kept;
  const mode = options.templates ?? 'flag';
  if (mode !== false && kept.length > 0) {
    const det = new TemplateDetector(options.templateOptions);
    for (const r of kept) det.add(key(r));
    const t = det.report();
    report.templated = t.templated;
    report.templateRate = t.rate;
    report.topFrames = t.topFrames;
    if (mode === 'drop') out = kept.filter((_, i) => !t.flags[i]);
    else {
      out = kept.map((r, i) => (t.flags[i] ? { ...r, meta: { ...r.meta, templated: true } } : r));
    }
  }
  report.kept = out.length;
  return { records: out, report };
}
