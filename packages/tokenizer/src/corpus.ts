/**
 * Reads the shared reference texts (`/work/shared/data`, beside the repository) for tests and the benchmark.
 * Whole `.txt` books, plus the string fields of `.jsonl` rows (SQuAD contexts, questions, answers) and the
 * WikiMovies question file. Not part of the public API.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The shared data directory, or undefined when absent (tests skip then). */
export function sharedDataDir(): string | undefined {
  const env = process.env.ATELIER_SHARED_DATA;
  const dir = env ?? fileURLToPath(new URL('../../../../shared/data/', import.meta.url));
  return existsSync(dir) ? dir : undefined;
}

export interface CorpusText {
  name: string;
  text: string;
}

/**
 * Texts of the shared corpus, each file's content capped at `maxCharsPerFile` characters
 * (cut at a line boundary), in file-name order.
 */
export function loadSharedCorpus(maxCharsPerFile = Number.POSITIVE_INFINITY): CorpusText[] {
  const dir = sharedDataDir();
  if (dir === undefined) return [];
  const out: CorpusText[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name === 'SOURCES.md') continue; // the index written for this project, not reference text
    const raw = readFileSync(`${dir}/${name}`, 'utf8');
    let text: string;
    if (name.endsWith('.jsonl')) {
      const seen = new Set<string>();
      const parts: string[] = [];
      for (const line of raw.split('\n')) {
        if (line.trim() === '') continue;
        const row = JSON.parse(line) as Record<string, unknown>;
        for (const v of Object.values(row)) {
          if (typeof v === 'string' && !seen.has(v)) {
            seen.add(v);
            parts.push(v);
          }
        }
      }
      text = parts.join('\n');
    } else {
      text = raw;
    }
    if (text.length > maxCharsPerFile) {
      const cut = text.lastIndexOf('\n', maxCharsPerFile);
      text = text.slice(0, cut > 0 ? cut : maxCharsPerFile);
    }
    out.push({ name, text });
  }
  return out;
}
