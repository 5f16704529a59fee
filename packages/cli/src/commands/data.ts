import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { collectReddit, recordText, stderrProgress, type TimeFilter } from '@atelier/datasets';
import { Bm25Index, type Chunk, chunkText, spanTokenizer } from '@atelier/retrieval';
import { writeFileAtomic } from '@atelier/trainer';
import { type DataFormat, PREPARED, prepareData, readRecords, savePrepared } from '../data.js';
import { EXIT, InterruptedError, type Io, UsageError } from '../io.js';
import { tokenizerFor } from '../models.js';

/** `atelier tokenize`: GPT-2 token ids (or tokens, or a count) of a text. */
export async function tokenizeCommand(
  text: string | undefined,
  f: { file?: string; model?: string; tokens?: boolean; count?: boolean; json?: boolean },
  io: Io,
): Promise<number> {
  if (text !== undefined && f.file) throw new UsageError('give a text or --file, not both');
  const input = f.file
    ? await readFile(f.file, 'utf8').catch(() => {
        throw new UsageError(`--file: ${f.file} not found`);
      })
    : text;
  if (input === undefined) throw new UsageError('no text: pass it as an argument or with --file');
  const tok = tokenizerFor(f.model);
  const ids = tok.encode(input);
  if (f.json) {
    io.stdout(`${JSON.stringify({ count: ids.length, ids, tokens: ids.map((id) => tok.decode([id])) })}\n`);
  } else if (f.count) io.stdout(`${ids.length}\n`);
  else if (f.tokens) io.stdout(`${ids.map((id) => JSON.stringify(tok.decode([id]))).join(' ')}\n`);
  else io.stdout(`${ids.join(' ')}\n`);
  return EXIT.ok;
}

/** `atelier prepare`: data files → tokenized, split, packed train/validation files + stats.json. */
export async function prepareCommand(
  f: {
    data: string[];
    format: string;
    out: string;
    blockSize: number;
    valFraction: number;
    seed: number;
    model?: string;
  },
  io: Io,
): Promise<number> {
  const tok = tokenizerFor(f.model);
  const d = await prepareData(f.data, {
    format: f.format as DataFormat,
    tokenizer: tok,
    blockSize: f.blockSize,
    valFraction: f.valFraction,
    seed: f.seed,
  });
  await savePrepared(f.out, d);
  const count = (m: Uint8Array) => m.reduce((a, b) => a + b, 0);
  const stats = {
    sources: f.data,
    blockSize: f.blockSize,
    records: d.records,
    blocks: { train: d.train.numBlocks, validation: d.validation.numBlocks },
    tokens: { train: d.train.tokens.length, validation: d.validation.tokens.length },
    trainedTokens: { train: count(d.train.mask), validation: count(d.validation.mask) },
  };
  await writeFileAtomic(join(f.out, PREPARED.stats), `${JSON.stringify(stats, null, 2)}\n`);
  io.stdout(
    `prepared ${f.out}: ${stats.records.train} + ${stats.records.validation} records, ${stats.blocks.train} training and ${stats.blocks.validation} validation blocks of ${f.blockSize} tokens\n`,
  );
  return EXIT.ok;
}

/** `atelier retrieve`: BM25 search over chunks of the given files. */
export async function retrieveCommand(
  query: string,
  f: { corpus: string[]; format: string; k: number; chunkSize: number; json?: boolean },
  io: Io,
): Promise<number> {
  const tok = spanTokenizer(tokenizerFor(undefined));
  const chunks: Chunk[] = [];
  for (const file of f.corpus) {
    let i = 0;
    for await (const r of readRecords(file, f.format as DataFormat)) {
      chunks.push(
        ...chunkText({ id: `${file}#${i++}`, text: recordText(r) }, tok, {
          size: f.chunkSize,
          overlap: Math.floor(f.chunkSize / 8),
        }),
      );
    }
  }
  if (chunks.length === 0) throw new Error(`no text in ${f.corpus.join(', ')}`);
  const index = new Bm25Index();
  index.add(chunks.map((c) => c.text));
  const hits = index
    .search(query, f.k)
    .map((h) => ({ id: chunks[h.index].id, score: h.score, text: chunks[h.index].text }));
  if (f.json) io.stdout(`${JSON.stringify({ query, hits })}\n`);
  else
    for (const h of hits)
      io.stdout(`${h.score.toFixed(3)}  ${h.id}\n  ${h.text.replace(/\s+/g, ' ').slice(0, 200)}\n`);
  return EXIT.ok;
}

export interface CollectFlags {
  subreddit: string;
  limit: number;
  timeFilter: string;
  minUpvotes: number;
  comments: number;
  output: string;
  format?: string;
  baseUrl?: string;
  delay?: number;
  json?: boolean;
}

const TIME_FILTERS = ['hour', 'day', 'week', 'month', 'year', 'all'];

/** `atelier collect reddit`: top posts (+ top comments) of a subreddit from Reddit's public JSON listings. */
export async function collectRedditCommand(f: CollectFlags, io: Io): Promise<number> {
  if (!TIME_FILTERS.includes(f.timeFilter)) {
    throw new UsageError(`--time-filter: "${f.timeFilter}" is not one of ${TIME_FILTERS.join(', ')}`);
  }
  if (f.format !== undefined && f.format !== 'jsonl' && f.format !== 'markdown') {
    throw new UsageError(`--format: "${f.format}" is not jsonl or markdown`);
  }
  const ctl = new AbortController();
  const onSigint = () => ctl.abort();
  process.once('SIGINT', onSigint);
  try {
    const r = await collectReddit({
      subreddit: f.subreddit,
      limit: f.limit,
      timeFilter: f.timeFilter as TimeFilter,
      minUpvotes: f.minUpvotes,
      comments: f.comments,
      output: f.output,
      format: f.format as 'jsonl' | 'markdown' | undefined,
      baseUrl: f.baseUrl,
      requestDelayMs: f.delay,
      onProgress: io.isTTY ? stderrProgress() : undefined,
      signal: ctl.signal,
    });
    if (f.json) io.stdout(`${JSON.stringify(r)}\n`);
    else {
      io.stdout(
        `${r.output}: ${r.kept} posts (${r.added} new, ${r.alreadyPresent} already there); skipped ${r.skipped.stickied} stickied, ${r.skipped.removed} removed, ${r.skipped.lowScore} below ${f.minUpvotes} upvotes${r.exhausted ? '; the listing ended before the limit' : ''}\n`,
      );
    }
    if (ctl.signal.aborted)
      throw new InterruptedError('collection interrupted; re-run the same command to continue');
    return EXIT.ok;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
