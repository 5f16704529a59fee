import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import {
  BatchLoader,
  type DatasetRecord,
  formatRecords,
  loadPacked,
  type PackedDataset,
  packDocuments,
  readCsv,
  readGutenberg,
  readJsonlRecords,
  readReddit,
  readSquad,
  readText,
  savePacked,
  splitRecords,
  type TokenizerLike,
} from '@atelier/datasets';
import { UsageError } from './io.js';

export const DATA_FORMATS = [
  'auto',
  'text',
  'markdown',
  'gutenberg',
  'jsonl',
  'csv',
  'squad',
  'reddit',
] as const;
export type DataFormat = (typeof DATA_FORMATS)[number];

/** The files of a prepared dataset directory (`atelier prepare`). */
export const PREPARED = { train: 'train.atds', validation: 'validation.atds', stats: 'stats.json' } as const;

/** Format of a data file, from its extension and (for .txt) a Project Gutenberg marker. */
export function detectFormat(file: string): Exclude<DataFormat, 'auto'> {
  const ext = extname(file).toLowerCase();
  if (ext === '.jsonl' || ext === '.ndjson') {
    // Reddit rows (from `atelier collect reddit` or Pushshift) carry selftext / permalink fields.
    const first = readFileSync(file, 'utf8').slice(0, 100_000).split('\n')[0] ?? '';
    return /"(selftext|permalink|subreddit)"\s*:/.test(first) ? 'reddit' : 'jsonl';
  }
  if (ext === '.csv' || ext === '.tsv') return 'csv';
  if (ext === '.json') return 'squad';
  if (ext === '.md' || ext === '.markdown') return 'markdown';
  const head = readFileSync(file, 'latin1').slice(0, 60_000);
  return /\*\*\* ?START OF (THE|THIS) PROJECT GUTENBERG/i.test(head) ? 'gutenberg' : 'text';
}

/** Stream the records of one data file in the given format. */
export function readRecords(file: string, format: DataFormat): AsyncIterable<DatasetRecord> {
  if (!existsSync(file)) throw new UsageError(`data file not found: ${file}`);
  const f = format === 'auto' ? detectFormat(file) : format;
  switch (f) {
    case 'text':
      return readText(file, { format: 'text' });
    case 'markdown':
      return readText(file, { format: 'markdown' });
    case 'gutenberg':
      return readGutenberg(file);
    case 'jsonl':
      return readJsonlRecords(file);
    case 'csv':
      return readCsv(file);
    case 'squad':
      return readSquad(file);
    case 'reddit':
      return readReddit(file);
  }
}

export interface PrepareOptions {
  format: DataFormat;
  tokenizer: TokenizerLike;
  blockSize: number;
  /** Fraction of the data (by group) held out for validation. */
  valFraction: number;
  /** Split seed. */
  seed: number;
}

/**
 * Data files → records → split by a hash of the group key (runs of 8 consecutive records of a file and
 * section, so validation text is contiguous and no single large section decides the split sizes) → formatted with loss masks → packed
 * blocks of `blockSize` tokens.
 */
export async function prepareData(
  files: string[],
  o: PrepareOptions,
): Promise<{
  train: PackedDataset;
  validation: PackedDataset;
  records: { train: number; validation: number };
}> {
  const all: DatasetRecord[] = [];
  for (const file of files) for await (const r of readRecords(file, o.format)) all.push(r);
  if (all.length === 0) throw new Error(`no records in ${files.join(', ')}`);
  const split = await splitRecords(all, {
    ratios: { train: 1 - o.valFraction, validation: o.valFraction, test: 0 },
    seed: o.seed,
    groupKey: (r) => `${r.source.file}\u0000${r.title ?? ''}\u0000${Math.floor(r.source.record / 8)}`,
  });
  if (split.validation.length === 0) {
    throw new Error(
      `the validation split of ${files.join(', ')} is empty (${all.length} records): raise --val-fraction or add data`,
    );
  }
  const pack = (records: DatasetRecord[]) =>
    packDocuments(formatRecords(records, o.tokenizer), {
      blockSize: o.blockSize,
      padId: o.tokenizer.eosTokenId ?? 0,
    });
  const train = await pack(split.train);
  const validation = await pack(split.validation);
  for (const [name, d] of [
    ['training', train],
    ['validation', validation],
  ] as const) {
    if (d.numBlocks === 0)
      throw new Error(
        `the ${name} split has fewer than ${o.blockSize + 1} tokens: lower --block-size or add data`,
      );
  }
  return { train, validation, records: { train: split.train.length, validation: split.validation.length } };
}

/** Write a prepared dataset directory (train.atds, validation.atds), atomically per file. */
export async function savePrepared(
  dir: string,
  d: { train: PackedDataset; validation: PackedDataset },
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await savePacked(join(dir, PREPARED.train), d.train);
  await savePacked(join(dir, PREPARED.validation), d.validation);
}

/** true when `path` is a directory written by `atelier prepare`. */
export function isPrepared(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory() && existsSync(join(path, PREPARED.train));
}

/** Load a prepared directory. */
export async function loadPrepared(
  dir: string,
): Promise<{ train: PackedDataset; validation: PackedDataset }> {
  const train = await loadPacked(join(dir, PREPARED.train));
  const vPath = join(dir, PREPARED.validation);
  if (!existsSync(vPath)) throw new Error(`${dir}: ${PREPARED.validation} is missing`);
  return { train, validation: await loadPacked(vPath) };
}

/** Training and validation batch sources (shuffled with `seed` / in order). */
export function loaders(
  d: { train: PackedDataset; validation: PackedDataset },
  batchSize: number,
  seed: number,
) {
  return {
    train: new BatchLoader(d.train, { batchSize, seed, shuffle: true }),
    val: new BatchLoader(d.validation, { batchSize, shuffle: false, dropLast: false }),
  };
}
