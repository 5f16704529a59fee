import { createReadStream } from 'node:fs';
import { type Options as CsvOptions, parse } from 'csv-parse';
import { badRecord, countRecord, DatasetError, type ReaderOptions, type SourceRef } from '../errors.js';
import type { DatasetRecord } from '../records.js';
import { type FieldMapping, type RecordKind, toRecord } from './mapping.js';

/** Options of {@link readCsv}. */
export interface CsvReadOptions extends ReaderOptions {
  /** Field delimiter; default `'\t'` for `.tsv`/`.tab` files, `','` otherwise. */
  delimiter?: string;
  /** Whether the first row names the columns (default true). Without a header, map columns by 0-based index. */
  header?: boolean;
  /**
   * Whether `"` quotes fields (default: true for CSV, false for TSV, where quotes are ordinary characters, as in
   * the WikiMovies TSV files).
   */
  quote?: boolean;
  /** Which column (name, or 0-based index) feeds which record field; unmapped fields use their own name. */
  fields?: FieldMapping;
  /** Record kind to build (default `'auto'`). */
  kind?: RecordKind;
}

/**
 * Streams typed records from a CSV or TSV file with a column mapping, parsed by `csv-parse` (quoted fields
 * spanning lines, escaped quotes, BOM). Rows with the wrong number of columns, broken quoting or a missing
 * mapped field are bad records naming the file, line and column.
 */
export async function* readCsv(file: string, options: CsvReadOptions = {}): AsyncGenerator<DatasetRecord> {
  const tsv = /\.(tsv|tab)$/i.test(file);
  const delimiter = options.delimiter ?? (tsv ? '\t' : ',');
  const header = options.header ?? true;
  const quote = options.quote ?? !tsv;
  const skip = (options.onError ?? 'fail') === 'skip';
  const pending: DatasetError[] = [];
  const csvError = (err: unknown): DatasetError => {
    const e = err as { message?: string; lines?: number; code?: string };
    return new DatasetError(`${e.code ?? 'CSV error'}: ${e.message ?? String(err)}`, {
      file,
      line: e.lines,
    });
  };
  const parserOptions: CsvOptions = {
    delimiter,
    columns: header,
    bom: true,
    info: true,
    quote: quote ? '"' : false,
    skip_empty_lines: true,
    relax_quotes: !quote,
    skip_records_with_error: skip,
  };
  const parser = createReadStream(file).pipe(parse(parserOptions));
  parser.on('skip', (err: unknown) => {
    if (err) pending.push(csvError(err));
  });
  let record = 0;
  try {
    for await (const item of parser as AsyncIterable<{ record: unknown; info: { lines: number } }>) {
      while (pending.length) {
        record++;
        badRecord(pending.shift()!, options);
      }
      record++;
      // csv-parse reports the line where the record ends (the same line for single-line records).
      const source: SourceRef = { file, line: item.info.lines, record };
      let rec: DatasetRecord;
      try {
        rec = toRecord(item.record, source, options.fields, options.kind);
      } catch (err) {
        if (!(err instanceof DatasetError)) throw err;
        badRecord(err, options);
        continue;
      }
      countRecord(options);
      yield rec;
    }
  } catch (err) {
    if (err instanceof DatasetError) throw err;
    if (
      (err as { code?: string }).code?.startsWith('CSV_') ||
      (err as { code?: string }).code === 'INVALID_OPENING_QUOTE'
    ) {
      const e = csvError(err);
      if (!skip) throw e;
      badRecord(e, options);
      return;
    }
    throw err;
  } finally {
    parser.destroy();
  }
  for (const e of pending) badRecord(e, options);
}
