import { mkdir, open as openFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type CleanOptions, type CleanReport, cleanRecords } from './clean.js';
import { type ReaderOptions, ReadReport } from './errors.js';
import { type FormatOptions, formatRecord, type TokenizerLike } from './format.js';
import { packDocuments, savePacked } from './pack.js';
import { readCsv } from './readers/csv.js';
import { readAdvice } from './readers/etiquette.js';
import { readGutenberg } from './readers/gutenberg.js';
import { readJsonlRecords } from './readers/jsonl.js';
import type { FieldMapping, RecordKind } from './readers/mapping.js';
import { type RedditReadOptions, readReddit } from './readers/reddit.js';
import { readSquad } from './readers/squad.js';
import { readText, type TextSplit } from './readers/text.js';
import type { DatasetRecord } from './records.js';
import { type SplitName, type SplitOptions, splitRecords } from './split.js';
import { type DatasetStats, datasetStats, type TrainingMode } from './stats.js';

/** Input formats {@link readAny} knows. */
export type InputFormat = 'jsonl' | 'csv' | 'text' | 'markdown' | 'gutenberg' | 'squad' | 'reddit' | 'advice';

/** Options of {@link readAny}. */
export interface ReadAnyOptions extends ReaderOptions {
  /** Input format; default: detected by {@link detectFormat}. */
  format?: InputFormat | 'auto';
  /** Field mapping for JSONL and CSV inputs. */
  fields?: FieldMapping;
  /** Record kind for JSONL and CSV inputs. */
  kind?: RecordKind;
  /** How text inputs are cut (default: paragraphs; sections for Markdown). */
  split?: TextSplit;
  /** Reddit filters (`minScore`, `minCommentScore`, `maxAnswers`, `answers`). */
  reddit?: Omit<RedditReadOptions, keyof ReaderOptions>;
}

/**
 * Guesses a file's format from its extension and first 64 KB: Reddit (listing JSON, Pushshift/collector
 * NDJSON, collector Markdown), SQuAD (nested JSON with `data[].paragraphs`), JSONL, CSV/TSV, Project Gutenberg
 * (START marker), Markdown or plain text.
 */
export async function detectFormat(file: string): Promise<InputFormat> {
  const fh = await openFile(file, 'r');
  let head: string;
  try {
    const buf = Buffer.alloc(65536);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    head = buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await fh.close();
  }
  const ext = /\.([a-z0-9]+)$/i.exec(file)?.[1]?.toLowerCase() ?? '';
  if (ext === 'csv' || ext === 'tsv' || ext === 'tab') return 'csv';
  if (ext === 'jsonl' || ext === 'ndjson') {
    const first = head.split('\n').find((l) => l.trim() !== '') ?? '';
    return /"(link_id|selftext|permalink)"\s*:/.test(first) ? 'reddit' : 'jsonl';
  }
  if (ext === 'json') {
    if (/"paragraphs"\s*:/.test(head) && /"qas"\s*:/.test(head)) return 'squad';
    if (/"kind"\s*:\s*"Listing"/.test(head)) return 'reddit';
    return 'squad';
  }
  if (head.includes('<!-- reddit-post ')) return 'reddit';
  if (ext === 'md' || ext === 'markdown') return 'markdown';
  if (/^\s*\*{3}\s*START OF (THE|THIS) PROJECT GUTENBERG|^\s*\*END\*\s*THE SMALL PRINT/im.test(head))
    return 'gutenberg';
  return 'text';
}

/** Reads any supported file as records (see {@link detectFormat} and the individual readers). */
export async function* readAny(file: string, options: ReadAnyOptions = {}): AsyncGenerator<DatasetRecord> {
  const format = !options.format || options.format === 'auto' ? await detectFormat(file) : options.format;
  const base: ReaderOptions = { onError: options.onError, report: options.report, onSkip: options.onSkip };
  switch (format) {
    case 'jsonl':
      yield* readJsonlRecords(file, { ...base, fields: options.fields, kind: options.kind });
      return;
    case 'csv':
      yield* readCsv(file, { ...base, fields: options.fields, kind: options.kind });
      return;
    case 'squad':
      yield* readSquad(file, base);
      return;
    case 'reddit':
      yield* readReddit(file, { ...base, ...options.reddit });
      return;
    case 'gutenberg':
      yield* readGutenberg(file, { ...base, split: options.split });
      return;
    case 'advice':
      yield* readAdvice(file, base);
      return;
    case 'markdown':
      yield* readText(file, { ...base, format: 'markdown', split: options.split ?? 'section' });
      return;
    case 'text':
      yield* readText(file, { ...base, format: 'text', split: options.split });
      return;
  }
}

/** Options of {@link prepareDataset}; the CLI's `atelier prepare` maps its flags onto these. */
export interface PrepareOptions {
  /** Input files (formats detected unless `read.format` is given). */
  inputs: string[];
  /** Directory for `train.bin`, `validation.bin`, `test.bin` and `prepare.json`. */
  outputDir: string;
  tokenizer: TokenizerLike;
  /** Block length T the model trains on. */
  blockSize: number;
  read?: ReadAnyOptions;
  /** Cleaning options, or false to skip cleaning. */
  clean?: CleanOptions | false;
  /** Templates and loss-mask options. Default `maxTokens` is `blockSize + 1` with `align: 'document'`. */
  format?: FormatOptions;
  /** Split ratios, seed, group key (default 0.9 / 0.05 / 0.05 by file + title). */
  split?: SplitOptions;
  /** Packing alignment (default `'document'`: Q&A examples are never cut across rows). */
  align?: 'pack' | 'document';
  /** For the token-budget warning. */
  parameters?: number;
  trainableParameters?: number;
  mode?: TrainingMode;
  /** Stage messages (reading, cleaning, ...) for a progress display. */
  onProgress?: (message: string) => void;
}

/** What {@link prepareDataset} wrote. */
export interface PrepareResult {
  /** Packed split files (`loadPacked` + `BatchLoader` read them); a split with no records has no file. */
  files: Partial<Record<SplitName, string>>;
  /** The summary file with everything below. */
  summary: string;
  records: Record<SplitName, number>;
  stats: Partial<Record<SplitName, DatasetStats>>;
  read: { records: number; skipped: number; filtered: number; errors: string[] };
  clean?: CleanReport;
  /** Warnings of all stages, for the CLI to print. */
  warnings: string[];
}

/**
 * The whole pipeline in one call: read every input, clean, split by group hash, format with answer-only loss
 * masks, pack each split into blocks, and write `<split>.bin` plus `prepare.json` (read/clean reports, stats,
 * warnings) into `outputDir`, each file atomically.
 */
export async function prepareDataset(options: PrepareOptions): Promise<PrepareResult> {
  const say = options.onProgress ?? (() => {});
  const report = options.read?.report ?? new ReadReport();
  const records: DatasetRecord[] = [];
  for (const file of options.inputs) {
    say(`reading ${file}`);
    for await (const r of readAny(file, { ...options.read, report })) records.push(r);
  }
  let clean: CleanReport | undefined;
  let kept = records;
  if (options.clean !== false) {
    say(`cleaning ${records.length} records`);
    const c = await cleanRecords(records, options.clean ?? {});
    kept = c.records;
    clean = c.report;
  }
  const splits = await splitRecords(kept, options.split);
  const format: FormatOptions = { maxTokens: options.blockSize + 1, ...options.format };
  const eos = options.tokenizer.eosTokenId;
  await mkdir(options.outputDir, { recursive: true });
  const files: Partial<Record<SplitName, string>> = {};
  const stats: Partial<Record<SplitName, DatasetStats>> = {};
  const warnings: string[] = [];
  if (report.skipped > 0)
    warnings.push(`${report.skipped} bad input records skipped (first: ${report.errors[0]?.message})`);
  for (const name of ['train', 'validation', 'test'] as const) {
    const recs = splits[name];
    if (recs.length === 0) continue;
    say(`formatting and packing ${name}: ${recs.length} records`);
    const docs = recs.map((r) => formatRecord(r, options.tokenizer, format));
    const s = await datasetStats(docs, {
      parameters: options.parameters,
      trainableParameters: options.trainableParameters,
      mode: options.mode,
      clean: name === 'train' ? clean : undefined,
    });
    stats[name] = s;
    if (name === 'train') warnings.push(...s.warnings);
    const packed = await packDocuments(docs, {
      blockSize: options.blockSize,
      align: options.align ?? 'document',
      padId: eos ?? 0,
    });
    if (packed.numBlocks === 0) {
      warnings.push(`${name}: ${s.tokens} tokens are not enough for one block of ${options.blockSize}`);
      continue;
    }
    const file = join(options.outputDir, `${name}.bin`);
    await savePacked(file, packed);
    files[name] = file;
  }
  const result: PrepareResult = {
    files,
    summary: join(options.outputDir, 'prepare.json'),
    records: { train: splits.train.length, validation: splits.validation.length, test: splits.test.length },
    stats,
    read: {
      records: report.records,
      skipped: report.skipped,
      filtered: report.filtered,
      errors: report.errors.slice(0, 20).map((e) => e.message),
    },
    warnings,
  };
  if (clean) result.clean = clean;
  const tmp = `${result.summary}.tmp-${process.pid}`;
  await writeFile(
    tmp,
    `${JSON.stringify({ inputs: options.inputs, blockSize: options.blockSize, ...result }, null, 2)}\n`,
  );
  await rename(tmp, result.summary);
  return result;
}
