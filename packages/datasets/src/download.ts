import { homedir } from 'node:os';
import { join } from 'node:path';

/** The options of `@atelier/hub`'s `downloadUrl` this package uses. */
interface HubOptions {
  cacheDir: string;
  filename: string;
  sha256?: string;
  size?: number;
  progress?: boolean;
}

/** The part of `@atelier/hub` used here: `downloadUrl(url, options) → local path`. */
interface HubApi {
  downloadUrl(url: string, options: HubOptions): Promise<string>;
}

/**
 * `@atelier/hub`'s `downloadUrl` (cache, checksum and size checks, atomic writes, progress). Imported when a
 * download starts, so reading and cleaning never load the hub.
 */
async function hubDownload(url: string, options: HubOptions): Promise<string> {
  const hub = (await import('@atelier/hub')) as unknown as Partial<HubApi>;
  if (typeof hub.downloadUrl !== 'function')
    throw new Error('@atelier/hub has no downloadUrl: update @atelier/hub');
  return hub.downloadUrl(url, options);
}

/** Options of the dataset downloaders. */
export interface DatasetDownloadOptions {
  /** Cache directory (default `$ATELIER_CACHE_DIR/datasets`, else `~/.cache/atelier/datasets`). */
  cacheDir?: string;
  /** Base URL of the source (a mirror, or a loopback server in tests). */
  baseUrl?: string;
  /**
   * Expected SHA-256 (hex) of the file. Defaults to the published checksum where one is known (SQuAD v1.1);
   * `null` disables the check.
   */
  sha256?: string | null;
  /** Expected size in bytes (defaults like `sha256`). */
  size?: number | null;
  /** Progress bar on stderr (`@atelier/hub`'s; default: when stderr is a terminal). */
  progress?: boolean;
}

/** The default cache directory for datasets. */
export function defaultCacheDir(): string {
  // The same root as @atelier/hub's downloads.
  const root = process.env.ATELIER_CACHE_DIR ?? join(homedir(), '.cache', 'atelier');
  return join(root, 'datasets');
}

/** SQuAD v1.1 files with their published sizes and SHA-256 checksums. */
export const SQUAD_V11 = {
  baseUrl: 'https://rajpurkar.github.io/SQuAD-explorer/dataset',
  train: {
    file: 'train-v1.1.json',
    size: 30_288_272,
    questions: 87_599,
    sha256: '3527663986b8295af4f7fcdff1ba1ff3f72d07d61a20f487cb238a6ef92fd955',
  },
  dev: {
    file: 'dev-v1.1.json',
    size: 4_854_279,
    questions: 10_570,
    sha256: '95aa6a52d5d6a735563366753ca50492a658031da74f301ac5238b03966972c9',
  },
} as const;

/** Project Gutenberg's plain-text cache (`<base>/cache/epub/<id>/pg<id>.txt`). */
export const GUTENBERG_BASE_URL = 'https://www.gutenberg.org';

function hubOptions(
  cacheDir: string,
  filename: string,
  o: DatasetDownloadOptions,
  sha256?: string,
  size?: number,
): HubOptions {
  const opts: HubOptions = { cacheDir, filename };
  const sum = o.sha256 === undefined ? sha256 : o.sha256;
  const len = o.size === undefined ? size : o.size;
  if (sum) opts.sha256 = sum;
  if (len) opts.size = len;
  if (o.progress !== undefined) opts.progress = o.progress;
  return opts;
}

/**
 * Downloads SQuAD v1.1 (`'train'`: 87,599 questions, `'dev'`: 10,570) into the cache, verified against the
 * published SHA-256, and returns the local path (read it with `readSquad`). A cached, verified file is not
 * downloaded again.
 */
export async function downloadSquad(
  split: 'train' | 'dev',
  options: DatasetDownloadOptions = {},
): Promise<string> {
  const f = SQUAD_V11[split];
  const base = (options.baseUrl ?? SQUAD_V11.baseUrl).replace(/\/+$/, '');
  const cacheDir = join(options.cacheDir ?? defaultCacheDir(), 'squad');
  return hubDownload(`${base}/${f.file}`, hubOptions(cacheDir, f.file, options, f.sha256, f.size));
}

/**
 * Downloads a Project Gutenberg plain-text book by id (e.g. 14314, Emily Post's "Etiquette") into the cache and
 * returns the local path (read it with `readGutenberg`, which strips the licence). Gutenberg files have no
 * published checksum; pass `sha256` to pin one.
 */
export async function downloadGutenberg(id: number, options: DatasetDownloadOptions = {}): Promise<string> {
  if (!Number.isInteger(id) || id < 1)
    throw new Error(`downloadGutenberg: book id must be a positive integer, got ${id}`);
  const base = (options.baseUrl ?? GUTENBERG_BASE_URL).replace(/\/+$/, '');
  const cacheDir = join(options.cacheDir ?? defaultCacheDir(), 'gutenberg');
  const file = `pg${id}.txt`;
  return hubDownload(`${base}/cache/epub/${id}/${file}`, hubOptions(cacheDir, file, options));
}
