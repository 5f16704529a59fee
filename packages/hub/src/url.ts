/** Generic cached, resumable, verified download of any URL (datasets: SQuAD, Project Gutenberg, …). */
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fetchToFile, sha256File } from './download.js';
import { HubError } from './errors.js';

export interface DownloadUrlOptions {
  /** Directory for downloads; default `$ATELIER_CACHE_DIR/downloads` or `~/.cache/atelier/downloads`. */
  cacheDir?: string;
  /** File name to store under; default the last path segment of the URL. */
  filename?: string;
  /** Expected SHA-256 (hex); verified after download and on cache hits. */
  sha256?: string;
  /** Expected size in bytes; verified. */
  size?: number;
  progress?: boolean;
}

/**
 * Download `url` once and return the cached path `{cacheDir}/{hash of url}/{filename}`. A cached file is
 * returned without network access (after checking `size`/`sha256` when given); an interrupted download resumes.
 */
export async function downloadUrl(url: string, options: DownloadUrlOptions = {}): Promise<string> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new HubError(`invalid URL ${JSON.stringify(url)}`, url);
  }
  const root =
    options.cacheDir ??
    join(process.env.ATELIER_CACHE_DIR ?? join(homedir(), '.cache', 'atelier'), 'downloads');
  const filename =
    options.filename ?? decodeURIComponent(parsed.pathname.split('/').filter(Boolean).pop() ?? 'download');
  if (filename.includes('/') || filename.includes('\\') || filename === '..' || filename === '.') {
    throw new HubError(`invalid file name ${JSON.stringify(filename)} for ${url}`, url);
  }
  const key = createHash('sha256').update(url).digest('hex').slice(0, 16);
  const dest = join(root, key, filename);
  if (existsSync(dest)) {
    const sizeOk = options.size === undefined || statSync(dest).size === options.size;
    const shaOk = options.sha256 === undefined || (await sha256File(dest)) === options.sha256.toLowerCase();
    if (sizeOk && shaOk) return dest;
  }
  await fetchToFile(url, dest, {
    size: options.size,
    sha256: options.sha256,
    progress: options.progress,
    label: filename,
  });
  return dest;
}
