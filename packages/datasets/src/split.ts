import { hashUnit } from './hash.js';
import type { DatasetRecord } from './records.js';

/** Split names. */
export type SplitName = 'train' | 'validation' | 'test';

/** Fractions of the data per split; they must sum to 1 (within 1e-9). */
export interface SplitRatios {
  train: number;
  validation: number;
  test: number;
}

/** Options of {@link splitOf} and {@link splitRecords}. */
export interface SplitOptions {
  /** Default `{ train: 0.9, validation: 0.05, test: 0.05 }`. */
  ratios?: SplitRatios;
  /** Seed mixed into the hash (default 0): another seed gives another, equally deterministic, split. */
  seed?: number;
  /**
   * The group a record belongs to; all records of a group land in the same split. Default: the source file
   * plus the record's title (a SQuAD article, a Reddit post, a book section), else the file alone.
   */
  groupKey?: (record: DatasetRecord) => string;
}

const DEFAULT_RATIOS: SplitRatios = { train: 0.9, validation: 0.05, test: 0.05 };

/** The default group key: source file + title (or post id). */
export function defaultGroupKey(r: DatasetRecord): string {
  const id = r.kind === 'qa' && r.id && r.meta?.permalink ? r.id : undefined;
  return `${r.source.file}\u0000${id ?? r.title ?? ''}`;
}

/**
 * The split of a group key: a hash of (seed, key) mapped to [0, 1) and cut at the ratios. Pure and stable:
 * the same key always lands in the same split, whatever else is in the data.
 */
export function splitOf(key: string, options: Omit<SplitOptions, 'groupKey'> = {}): SplitName {
  const r = options.ratios ?? DEFAULT_RATIOS;
  const sum = r.train + r.validation + r.test;
  if (Math.abs(sum - 1) > 1e-9 || r.train < 0 || r.validation < 0 || r.test < 0) {
    throw new Error(`split ratios must be ≥ 0 and sum to 1, got ${JSON.stringify(r)} (sum ${sum})`);
  }
  const u = hashUnit(key, options.seed ?? 0);
  if (u < r.train) return 'train';
  if (u < r.train + r.validation) return 'validation';
  return 'test';
}

/** Records divided into train / validation / test by a hash of their group key (see {@link splitOf}). */
export async function splitRecords<R extends DatasetRecord>(
  records: AsyncIterable<R> | Iterable<R>,
  options: SplitOptions = {},
): Promise<Record<SplitName, R[]>> {
  const key = options.groupKey ?? defaultGroupKey;
  const out: Record<SplitName, R[]> = { train: [], validation: [], test: [] };
  for await (const r of records) out[splitOf(key(r), options)].push(r);
  return out;
}
