import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { commentsFromApi, postFromApi, postSkipReason, postToMarkdown, type RedditPost } from './format.js';

/** Reddit's time filters for top listings. */
export type TimeFilter = 'hour' | 'day' | 'week' | 'month' | 'year' | 'all';

/** Progress of a collection, reported after every request. */
export interface CollectProgress {
  subreddit: string;
  /** Posts of the listing that pass the filters so far (already present + added). */
  kept: number;
  /** Target number of posts. */
  limit: number;
  /** New posts written this run (flushed or pending). */
  added: number;
  /** Posts of the listing that were already in the output. */
  alreadyPresent: number;
  requests: number;
  retries: number;
  elapsedMs: number;
  /** Estimated time to reach the limit, from the rate so far (undefined at the start). */
  etaMs?: number;
  /** Human-readable note for retries and waits, e.g. `429: waiting 2.0 s (Retry-After)`. */
  note?: string;
}

/** Options of {@link collectReddit}. The CLI `atelier collect reddit` maps its flags one to one onto these. */
export interface CollectRedditOptions {
  /** Subreddit name, with or without `r/` (`--subreddit`). */
  subreddit: string;
  /**
   * How many posts of the top listing the output should hold (`--limit`). Posts already in the output count
   * (they are recognised by id and not fetched again), so re-running the same command after an interruption
   * finishes the job, and a later run appends only posts that are new to the listing.
   */
  limit: number;
  /** Time window of the top listing (`--time-filter`, default `'month'`). */
  timeFilter?: TimeFilter;
  /** Minimum post score (`--min-upvotes`, default 0). */
  minUpvotes?: number;
  /** Top-level comments to keep per post, by score (`--comments`, default 3; 0 fetches no comment pages). */
  comments?: number;
  /** Minimum comment score (default 1: comments nobody upvoted are noise). */
  minCommentScore?: number;
  /** Output file (`--output`). */
  output: string;
  /** `'jsonl'` (one post per line) or `'markdown'` (`--format`; default by extension: `.md` → markdown). */
  format?: 'jsonl' | 'markdown';
  /** Base URL (`--base-url`, default `https://www.reddit.com`). */
  baseUrl?: string;
  /** User-Agent; Reddit asks for a descriptive one (default names Atelier and its purpose). */
  userAgent?: string;
  /** Minimum time between requests (default 2000 ms: Reddit allows about 30 unauthenticated requests/min). */
  requestDelayMs?: number;
  /** Retries per request on 429, 5xx, network errors and truncated bodies (default 5). */
  maxRetries?: number;
  /** First backoff when no Retry-After is given, doubled per retry (default 2000 ms). */
  retryBaseMs?: number;
  /** Write the output after this many new posts (default 10); it is always written at the end. */
  flushEvery?: number;
  onProgress?: (p: CollectProgress) => void;
  /** Stops the collection (what was collected is written first). */
  signal?: AbortSignal;
}

/** What a collection did. */
export interface CollectResult {
  output: string;
  /** Posts in the output that belong to this listing (already present + added), at most `limit`. */
  kept: number;
  added: number;
  alreadyPresent: number;
  /** Listing posts left out: stickied, removed/deleted, below `minUpvotes`. */
  skipped: { stickied: number; removed: number; lowScore: number };
  pages: number;
  requests: number;
  retries: number;
  /** True when the listing ended before `limit` posts were found. */
  exhausted: boolean;
}

/** A failure talking to Reddit: private/banned/nonexistent subreddits, or retries exhausted. */
export class RedditError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly url?: string,
  ) {
    super(message);
    this.name = 'RedditError';
  }
}

const DEFAULT_UA =
  'node:atelier-datasets:0.1 (dataset collector for fine-tuning; +https://github.com/atelier-ai/atelier)';

/** Polite HTTP client for Reddit's JSON endpoints: spacing, retries with backoff, Retry-After, rate headers. */
class RedditClient {
  requests = 0;
  retries = 0;
  private last = 0;

  constructor(
    private readonly opts: {
      userAgent: string;
      delayMs: number;
      maxRetries: number;
      retryBaseMs: number;
      signal?: AbortSignal;
      note: (s: string) => void;
    },
  ) {}

  private async pace(): Promise<void> {
    const wait = this.last + this.opts.delayMs - Date.now();
    if (wait > 0) await sleep(wait, undefined, { signal: this.opts.signal });
    this.last = Date.now();
  }

  /**
   * GETs a JSON document. `onHttpError` turns a non-retryable status into an error (or null to return null).
   * 429, 5xx, network errors and bodies that are not valid JSON (a truncated response) are retried.
   */
  async getJson(
    url: string,
    onHttpError: (status: number, body: unknown, location: string | null) => Error | null,
  ): Promise<unknown> {
    let attempt = 0;
    for (;;) {
      await this.pace();
      this.requests++;
      let retryAfterMs: number | undefined;
      let why: string;
      try {
        const res = await fetch(url, {
          headers: { 'User-Agent': this.opts.userAgent, Accept: 'application/json' },
          redirect: 'manual',
          signal: this.opts.signal,
        });
        this.respectRateHeaders(res.headers);
        if (res.status === 200) {
          const text = await res.text();
          try {
            return JSON.parse(text);
          } catch {
            why = `truncated or invalid JSON (${text.length} bytes)`;
          }
        } else if (res.status === 429 || res.status >= 500) {
          await res.arrayBuffer().catch(() => undefined);
          retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
          why = `HTTP ${res.status}`;
        } else {
          const text = await res.text().catch(() => '');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {}
          const err = onHttpError(res.status, body, res.headers.get('location'));
          if (err === null) return null;
          throw err;
        }
      } catch (err) {
        if (err instanceof RedditError || this.opts.signal?.aborted) throw err;
        why = `network error: ${(err as Error).message}`;
      }
      if (attempt >= this.opts.maxRetries) {
        throw new RedditError(
          `${url}: giving up after ${attempt + 1} attempts (last: ${why})`,
          undefined,
          url,
        );
      }
      const wait = retryAfterMs ?? this.opts.retryBaseMs * 2 ** attempt;
      attempt++;
      this.retries++;
      this.opts.note(
        `${why}: retry ${attempt}/${this.opts.maxRetries} in ${(wait / 1000).toFixed(1)} s${retryAfterMs !== undefined ? ' (Retry-After)' : ''}`,
      );
      await sleep(wait, undefined, { signal: this.opts.signal });
      this.last = Date.now();
    }
  }

  /** Reddit sends `x-ratelimit-remaining` / `x-ratelimit-reset` (seconds); wait out an exhausted window. */
  private respectRateHeaders(h: Headers): void {
    const remaining = Number(h.get('x-ratelimit-remaining'));
    const reset = Number(h.get('x-ratelimit-reset'));
    if (h.has('x-ratelimit-remaining') && remaining < 1 && reset > 0) {
      this.last = Date.now() + reset * 1000 - this.opts.delayMs;
      this.opts.note(`rate limit window used up: pausing ${reset} s`);
    }
  }
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date. */
export function parseRetryAfter(v: string | null): number | undefined {
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

function subredditError(sub: string, status: number, body: unknown, location: string | null): Error | null {
  const reason = (body as { reason?: string })?.reason;
  if (status >= 300 && status < 400) {
    if (location && /subreddits\/search|\/search/.test(location)) {
      return new RedditError(`r/${sub} does not exist (Reddit redirected to search)`, status);
    }
    if (location && /over18|quarantine/.test(location)) {
      return new RedditError(
        `r/${sub} is age-gated or quarantined (redirect to ${location}); it cannot be read without an account`,
        status,
      );
    }
    return new RedditError(`r/${sub}: unexpected redirect to ${location ?? '(no location)'}`, status);
  }
  if (status === 403 && reason === 'private') return new RedditError(`r/${sub} is private`, status);
  if (status === 403 && reason === 'quarantined') return new RedditError(`r/${sub} is quarantined`, status);
  if (status === 404 && reason === 'banned') return new RedditError(`r/${sub} is banned`, status);
  if (status === 404) return new RedditError(`r/${sub} was not found (HTTP 404)`, status);
  if (status === 403) {
    return new RedditError(
      `r/${sub}: access forbidden (HTTP 403${reason ? `, reason ${reason}` : ''}); check the User-Agent`,
      status,
    );
  }
  return new RedditError(`r/${sub}: HTTP ${status}`, status);
}

/** Ids of the posts already in an output file (JSON lines or collector Markdown). */
function existingIds(text: string, markdown: boolean, file: string): Set<string> {
  const ids = new Set<string>();
  if (markdown) {
    for (const m of text.matchAll(/^<!-- reddit-post id="([^"]+)"/gm)) ids.add(m[1]);
    return ids;
  }
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      const id = (JSON.parse(line) as { id?: unknown }).id;
      if (typeof id === 'string') ids.add(id);
    } catch {
      throw new RedditError(
        `${file}:${i + 1}: existing output line is not valid JSON; fix or move the file before collecting into it`,
      );
    }
  });
  return ids;
}

/**
 * Collects the top posts of a subreddit with their top comments from Reddit's public JSON endpoints (no API
 * credentials): `/r/<sub>/top.json?t=<filter>&limit=100&after=<cursor>` pages, following `after` until
 * `limit` posts pass the filters, and `/comments/<id>.json` for each new post's comments. Stickied,
 * removed and deleted posts are skipped; posts already in `output` (by id) are kept and not fetched again.
 * The output is rewritten atomically (temp file + rename) every `flushEvery` new posts and at the end, so an
 * interrupted run loses at most those posts and re-running the same command resumes it.
 *
 * Throws {@link RedditError} for private, banned and nonexistent subreddits and when retries run out.
 */
export async function collectReddit(options: CollectRedditOptions): Promise<CollectResult> {
  const sub = options.subreddit.replace(/^\/?r\//i, '').trim();
  if (!/^[A-Za-z0-9_]{2,21}$/.test(sub))
    throw new RedditError(`invalid subreddit name "${options.subreddit}"`);
  if (!Number.isInteger(options.limit) || options.limit < 1)
    throw new RedditError(`limit must be a positive integer, got ${options.limit}`);
  const base = (options.baseUrl ?? 'https://www.reddit.com').replace(/\/+$/, '');
  const t = options.timeFilter ?? 'month';
  const nComments = options.comments ?? 3;
  const minComment = options.minCommentScore ?? 1;
  const minUp = options.minUpvotes ?? 0;
  const markdown = options.format ? options.format === 'markdown' : /\.(md|markdown)$/i.test(options.output);
  const flushEvery = options.flushEvery ?? 10;
  const started = Date.now();
  let note: string | undefined;

  let existing = '';
  try {
    existing = await readFile(options.output, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const known = existingIds(existing, markdown, options.output);
  const fresh: string[] = [];
  const seenThisRun = new Set<string>();
  let written = existing;

  const result: CollectResult = {
    output: options.output,
    kept: 0,
    added: 0,
    alreadyPresent: 0,
    skipped: { stickied: 0, removed: 0, lowScore: 0 },
    pages: 0,
    requests: 0,
    retries: 0,
    exhausted: false,
  };
  const client = new RedditClient({
    userAgent: options.userAgent ?? DEFAULT_UA,
    delayMs: options.requestDelayMs ?? 2000,
    maxRetries: options.maxRetries ?? 5,
    retryBaseMs: options.retryBaseMs ?? 2000,
    signal: options.signal,
    note: (s) => {
      note = s;
      progress();
    },
  });
  const progress = () => {
    if (!options.onProgress) return;
    const elapsedMs = Date.now() - started;
    const doneNew = result.added;
    const remaining = options.limit - result.kept;
    const p: CollectProgress = {
      subreddit: sub,
      kept: result.kept,
      limit: options.limit,
      added: result.added,
      alreadyPresent: result.alreadyPresent,
      requests: client.requests,
      retries: client.retries,
      elapsedMs,
    };
    if (doneNew > 0) p.etaMs = (elapsedMs / doneNew) * remaining;
    if (note) p.note = note;
    note = undefined;
    options.onProgress(p);
  };
  const flush = async () => {
    if (fresh.length === 0) return;
    let text = written;
    if (text && !text.endsWith('\n')) text += '\n';
    text += fresh.join('');
    await mkdir(dirname(options.output), { recursive: true });
    const tmp = `${options.output}.tmp-${process.pid}`;
    await writeFile(tmp, text);
    await rename(tmp, options.output);
    written = text;
    fresh.length = 0;
  };

  try {
    let after: string | null = null;
    let unflushed = 0;
    while (result.kept < options.limit) {
      const url = `${base}/r/${sub}/top.json?t=${t}&limit=100&raw_json=1${after ? `&after=${encodeURIComponent(after)}` : ''}`;
      const listing = (await client.getJson(url, (s, b, l) => subredditError(sub, s, b, l))) as {
        data?: { children?: { kind?: string; data?: Record<string, unknown> }[]; after?: string | null };
      };
      result.pages++;
      const children = listing?.data?.children;
      if (!Array.isArray(children))
        throw new RedditError(`${url}: not a Reddit listing (no data.children)`, 200, url);
      for (const child of children) {
        if (result.kept >= options.limit) break;
        if (child?.kind !== 't3' || !child.data) continue;
        const d = child.data;
        const reason = postSkipReason(d);
        if (reason === 'stickied') result.skipped.stickied++;
        else if (reason) result.skipped.removed++;
        else if (Number(d.score ?? 0) < minUp) result.skipped.lowScore++;
        if (reason || Number(d.score ?? 0) < minUp) continue;
        const post: RedditPost = postFromApi(d);
        if (seenThisRun.has(post.id)) continue; // listings shift while paging: a post can appear twice
        seenThisRun.add(post.id);
        delete post.author; // not needed for training; keep personal data out of datasets
        if (known.has(post.id)) {
          result.alreadyPresent++;
          result.kept++;
          progress();
          continue;
        }
        if (nComments > 0) {
          const curl = `${base}/comments/${post.id}.json?sort=top&limit=${Math.max(10, nComments * 4)}&depth=1&raw_json=1`;
          const page = await client.getJson(curl, (s) =>
            s === 404 || s === 403 ? null : new RedditError(`${curl}: HTTP ${s}`, s, curl),
          );
          const comments = Array.isArray(page) ? commentsFromApi(page[1], minComment) : [];
          post.comments = comments.slice(0, nComments).map(({ id, body, score }) => ({ id, body, score }));
        }
        known.add(post.id);
        fresh.push(markdown ? `${postToMarkdown(post)}\n` : `${JSON.stringify(post)}\n`);
        result.added++;
        result.kept++;
        unflushed++;
        if (unflushed >= flushEvery) {
          await flush();
          unflushed = 0;
        }
        progress();
      }
      const next = listing.data?.after ?? null;
      if (next !== null && next === after) break; // a cursor that does not move would loop forever
      after = next;
      if (!after) {
        result.exhausted = result.kept < options.limit;
        break;
      }
    }
  } finally {
    await flush();
    result.requests = client.requests;
    result.retries = client.retries;
  }
  progress();
  return result;
}

/**
 * A progress printer for {@link collectReddit}'s `onProgress`: one updating line on stderr with a bar, counts,
 * request rate and ETA (and retry notes on their own lines).
 */
export function stderrProgress(stream: NodeJS.WriteStream = process.stderr): (p: CollectProgress) => void {
  return (p) => {
    if (p.note) stream.write(`\n  ${p.note}\n`);
    const width = 24;
    const frac = Math.min(1, p.kept / p.limit);
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    const rate = p.elapsedMs > 0 ? (p.requests / p.elapsedMs) * 1000 : 0;
    const eta = p.etaMs !== undefined ? ` ETA ${Math.ceil(p.etaMs / 1000)} s` : '';
    stream.write(
      `\rr/${p.subreddit} [${bar}] ${p.kept}/${p.limit} posts (+${p.added} new, ${p.alreadyPresent} already had) ` +
        `${p.requests} req ${rate.toFixed(2)}/s${eta}   `,
    );
  };
}
