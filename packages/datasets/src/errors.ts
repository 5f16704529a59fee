/**
 * Where a record came from: the file, the 1-based line where it starts (for line-oriented formats), the
 * 1-based record number within the file, and for nested formats (SQuAD JSON, Reddit listings) a path such as
 * `data[3].paragraphs[1].qas[0]`.
 */
export interface SourceRef {
  file: string;
  line?: number;
  record: number;
  path?: string;
}

/** Formats a source as `file:line` (or `file#record` / `file data[3]...` when there is no line). */
export function formatSource(src: { file: string; line?: number; record?: number; path?: string }): string {
  let where = src.file;
  if (src.line !== undefined) where += `:${src.line}`;
  else if (src.record !== undefined) where += `#${src.record}`;
  if (src.path) where += ` ${src.path}`;
  return where;
}

/** A bad input record or file: the message names the file, line (or record path) and field when known. */
export class DatasetError extends Error {
  readonly file: string;
  readonly line?: number;
  readonly record?: number;
  readonly path?: string;
  readonly field?: string;
  readonly reason: string;

  constructor(
    reason: string,
    where: { file: string; line?: number; record?: number; path?: string; field?: string },
    options?: { cause?: unknown },
  ) {
    const field = where.field ? ` (field "${where.field}")` : '';
    super(`${formatSource(where)}: ${reason}${field}`, options);
    this.name = 'DatasetError';
    this.reason = reason;
    this.file = where.file;
    this.line = where.line;
    this.record = where.record;
    this.path = where.path;
    this.field = where.field;
  }
}

/** What a reader does with a bad record: `'fail'` throws a {@link DatasetError}, `'skip'` counts it and goes on. */
export type ErrorPolicy = 'skip' | 'fail';

/**
 * Counts what readers yielded and skipped. Pass one instance to several readers to total a whole run.
 * Skipped records are never silent: they are counted here and their errors kept (the first `maxErrors`).
 */
export class ReadReport {
  /** Records yielded. */
  records = 0;
  /** Bad records skipped (`onError: 'skip'`). */
  skipped = 0;
  /** Good records left out on purpose by a filter option (min score, removed posts, unanswerable...). */
  filtered = 0;
  readonly errors: DatasetError[] = [];
  constructor(readonly maxErrors = 100) {}

  /** One-line summary such as `3,412 records, 2 skipped (first: a.jsonl:17: invalid JSON ...)`. */
  summary(): string {
    const first = this.errors[0] ? ` (first: ${this.errors[0].message})` : '';
    const filtered = this.filtered ? `, ${this.filtered.toLocaleString('en-US')} filtered out` : '';
    return `${this.records.toLocaleString('en-US')} records, ${this.skipped} skipped${filtered}${first}`;
  }
}

/** Options every reader takes. */
export interface ReaderOptions {
  /** `'fail'` (default) throws on the first bad record; `'skip'` skips and counts it. */
  onError?: ErrorPolicy;
  /** Totals of records and skipped records, filled in while the reader runs. */
  report?: ReadReport;
  /**
   * Called for every skipped record. When neither `report` nor `onSkip` is given, skips are written to stderr,
   * so a skipped record is never silently dropped.
   */
  onSkip?: (error: DatasetError) => void;
}

/** Records a yielded record in the report. */
export function countRecord(opts: ReaderOptions): void {
  if (opts.report) opts.report.records++;
}

/** Applies the error policy to a bad record: throws for `'fail'`, otherwise counts and reports the skip. */
export function badRecord(error: DatasetError, opts: ReaderOptions): void {
  if ((opts.onError ?? 'fail') === 'fail') throw error;
  const report = opts.report;
  if (report) {
    report.skipped++;
    if (report.errors.length < report.maxErrors) report.errors.push(error);
  }
  if (opts.onSkip) opts.onSkip(error);
  if (!report && !opts.onSkip) process.stderr.write(`warning: skipped bad record: ${error.message}\n`);
}

/** Counts a record left out by a filter option. */
export function countFiltered(opts: ReaderOptions, n = 1): void {
  if (opts.report) opts.report.filtered += n;
}
