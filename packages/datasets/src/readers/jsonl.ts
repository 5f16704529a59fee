import { badRecord, countRecord, DatasetError, type ReaderOptions, type SourceRef } from '../errors.js';
import { readLines } from '../lines.js';
import type { DatasetRecord } from '../records.js';
import { type FieldMapping, type RecordKind, toRecord } from './mapping.js';
import { readReddit } from './reddit.js';

/** True when the first JSON line is a Reddit post or comment row (`title` + `selftext`/`permalink`, or `link_id`). */
async function isRedditJsonl(file: string): Promise<boolean> {
  for await (const { text } of readLines(file)) {
    if (text.trim() === '') continue;
    try {
      const v = JSON.parse(text) as Record<string, unknown>;
      if (!v || typeof v !== 'object') return false;
      if (typeof v.question === 'string' || typeof v.text === 'string' || typeof v.instruction === 'string')
        return false;
      return (
        (typeof v.title === 'string' && ('selftext' in v || 'permalink' in v)) ||
        typeof v.link_id === 'string'
      );
    } catch {
      return false;
    }
  }
  return false;
}

/** A parsed JSON line and where it came from. */
export interface JsonLine {
  value: unknown;
  source: SourceRef;
}

/**
 * Streams a JSON Lines file: one JSON value per line, blank lines ignored. A line that is not valid JSON is a
 * bad record (`file:line` in the error); `onError` decides whether it fails the run or is skipped and counted.
 */
export async function* readJsonl(file: string, options: ReaderOptions = {}): AsyncGenerator<JsonLine> {
  for await (const row of parseJsonLines(file, options)) {
    countRecord(options);
    yield row;
  }
}

/**
 * The parsing half of {@link readJsonl}, without counting records: parsed lines with their `file:line`,
 * invalid JSON reported as a bad record. Readers that validate rows further count them themselves.
 * @internal
 */
export async function* parseJsonLines(file: string, options: ReaderOptions): AsyncGenerator<JsonLine> {
  let record = 0;
  for await (const { text, line } of readLines(file)) {
    if (text.trim() === '') continue;
    record++;
    const source: SourceRef = { file, line, record };
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      badRecord(new DatasetError(`invalid JSON: ${(err as Error).message}`, source, { cause: err }), options);
      continue;
    }
    yield { value, source };
  }
}

/** Options of {@link readJsonlRecords}. */
export interface JsonlRecordOptions extends ReaderOptions {
  /** Which JSON keys feed which record fields (default: the field's own name). */
  fields?: FieldMapping;
  /** Record kind to build (default `'auto'`). */
  kind?: RecordKind;
}

/**
 * Streams typed records from a JSON Lines file, e.g. `{question, answer, context}` rows (the SQuAD rows in
 * `shared/data/squad11_*.jsonl`), `{instruction, input, output}` rows or `{text}` rows. A file of Reddit rows
 * (the collector's output, Pushshift dumps) is read with `readReddit` when no mapping or kind is given. A line with invalid JSON
 * or a missing field is a bad record naming the file, line and field.
 */
export async function* readJsonlRecords(
  file: string,
  options: JsonlRecordOptions = {},
): AsyncGenerator<DatasetRecord> {
  if ((options.kind ?? 'auto') === 'auto' && !options.fields && (await isRedditJsonl(file))) {
    // The Reddit collector's output (or a Pushshift dump): posts with comments become Q&A records.
    yield* readReddit(file, options);
    return;
  }
  let record = 0;
  for await (const { text, line } of readLines(file)) {
    if (text.trim() === '') continue;
    record++;
    const source: SourceRef = { file, line, record };
    let rec: DatasetRecord;
    try {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        throw new DatasetError(`invalid JSON: ${(err as Error).message}`, source, { cause: err });
      }
      rec = toRecord(value, source, options.fields, options.kind);
    } catch (err) {
      if (!(err instanceof DatasetError)) throw err;
      badRecord(err, options);
      continue;
    }
    countRecord(options);
    yield rec;
  }
}
