import { readFile } from 'node:fs/promises';
import {
  badRecord,
  countFiltered,
  countRecord,
  DatasetError,
  type ReaderOptions,
  type SourceRef,
} from '../errors.js';
import type { QARecord } from '../records.js';
import {
  commentsFromApi,
  isRemovedText,
  parseRedditMarkdown,
  postFromApi,
  postSkipReason,
  type RedditComment,
  type RedditPost,
} from '../reddit/format.js';
import { parseJsonLines } from './jsonl.js';

/** Options of {@link readReddit}. */
export interface RedditReadOptions extends ReaderOptions {
  /** Minimum post score (upvotes minus downvotes); lower posts are filtered out. */
  minScore?: number;
  /** Minimum comment score for a comment to count as an answer. */
  minCommentScore?: number;
  /** How many top comments to keep per post (default 3). */
  maxAnswers?: number;
  /** `'top'` (default): one record per post, best comment as `answer`; `'each'`: one record per kept comment. */
  answers?: 'top' | 'each';
  /** Pushshift comment dumps (NDJSON, `link_id` = `t3_<post id>`) to pair with the submissions. */
  comments?: string | string[];
}

interface Pending {
  post: RedditPost;
  source: SourceRef;
}

function isCommentRow(v: Record<string, unknown>): boolean {
  return typeof v.body === 'string' && typeof v.link_id === 'string';
}

/** Adds a Pushshift comment row (top-level only) to the per-post map. */
function addCommentRow(map: Map<string, RedditComment[]>, v: Record<string, unknown>): void {
  const link = String(v.link_id).replace(/^t3_/, '');
  const parent = typeof v.parent_id === 'string' ? v.parent_id : `t3_${link}`;
  if (parent !== `t3_${link}`) return; // a reply to a comment, not an answer to the post
  if (isRemovedText(v.body) || v.stickied === true || v.author === 'AutoModerator') return;
  const list = map.get(link) ?? [];
  list.push({ id: String(v.id ?? ''), body: String(v.body), score: Number(v.score ?? 0) });
  map.set(link, list);
}

/** Builds the post of a JSON line: our collector's rows (comments embedded) or Pushshift submissions. */
function postFromRow(v: Record<string, unknown>, source: SourceRef): RedditPost {
  if (typeof v.id !== 'string') throw new DatasetError('missing post id', { ...source, field: 'id' });
  if (typeof v.title !== 'string')
    throw new DatasetError('missing post title', { ...source, field: 'title' });
  const post = postFromApi(v);
  if (v.comments !== undefined) {
    if (!Array.isArray(v.comments))
      throw new DatasetError('comments is not an array', { ...source, field: 'comments' });
    v.comments.forEach((c, i) => {
      const body = (c as { body?: unknown })?.body;
      if (typeof body !== 'string')
        throw new DatasetError('comment without body', { ...source, field: `comments[${i}].body` });
      const cc = c as { id?: unknown; score?: unknown };
      post.comments.push({ id: String(cc.id ?? ''), body, score: Number(cc.score ?? 0) });
    });
  }
  return post;
}

/**
 * Streams Q&A records from Reddit data: post title + self-text → question, top-level comments by score →
 * answers. Accepts, by extension:
 * - `.json`: listings as saved from `/r/<sub>/top.json` and `/comments/<id>.json` pages (a `[post, comments]`
 *   pair, or an array of pairs); posts and comment pages from all the files given are joined by post id;
 * - `.jsonl` / `.ndjson`: one post per line, either the collector's rows (comments embedded) or Pushshift
 *   submissions, with Pushshift comment rows in the same file or in `options.comments`;
 * - `.md`: the collector's Markdown output.
 *
 * Stickied, removed and deleted posts, posts below `minScore` and posts without a usable answer are filtered
 * out (counted in `report.filtered`); malformed entries are bad records naming file, line/path and field.
 */
export async function* readReddit(
  files: string | string[],
  options: RedditReadOptions = {},
): AsyncGenerator<QARecord> {
  const list = Array.isArray(files) ? files : [files];
  const commentMap = new Map<string, RedditComment[]>();
  for (const f of typeof options.comments === 'string' ? [options.comments] : (options.comments ?? [])) {
    for await (const { value, source } of jsonRows(f, options)) {
      if (isCommentRow(value)) addCommentRow(commentMap, value);
      else
        badRecord(
          new DatasetError('not a comment row (needs body and link_id)', { ...source, field: 'body' }),
          options,
        );
    }
  }
  const pending = new Map<string, Pending>();
  let recordNo = 0;
  for (const file of list) {
    if (/\.(jsonl|ndjson)$/i.test(file)) {
      for await (const { value, source } of jsonRows(file, options)) {
        if (isCommentRow(value)) {
          addCommentRow(commentMap, value);
          continue;
        }
        const reason = postSkipReason(value);
        if (reason && reason !== 'malformed') {
          countFiltered(options);
          continue;
        }
        let post: RedditPost;
        try {
          post = postFromRow(value, source);
        } catch (err) {
          if (!(err instanceof DatasetError)) throw err;
          badRecord(err, options);
          continue;
        }
        if (Array.isArray(value.comments)) yield* emit(post, source, options, () => ++recordNo);
        else if (!pending.has(post.id)) pending.set(post.id, { post, source });
      }
    } else if (/\.(md|markdown)$/i.test(file)) {
      const lines = (await readFile(file, 'utf8')).split(/\r?\n/);
      try {
        for (const { post, line } of parseRedditMarkdown(lines)) {
          yield* emit(post, { file, line, record: 0 }, options, () => ++recordNo);
        }
      } catch (err) {
        const m = /^line (\d+): (.*)$/s.exec((err as Error).message);
        badRecord(
          new DatasetError(m ? m[2] : (err as Error).message, { file, line: m ? Number(m[1]) : undefined }),
          options,
        );
      }
    } else {
      collectListingFile(await loadJson(file, options), file, options, pending);
    }
  }
  for (const { post, source } of pending.values()) {
    const extra = commentMap.get(post.id);
    if (extra) post.comments.push(...extra);
    yield* emit(post, source, options, () => ++recordNo);
  }
}

async function loadJson(file: string, options: ReaderOptions): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code) throw err;
    badRecord(new DatasetError(`invalid JSON: ${(err as Error).message}`, { file }, { cause: err }), options);
    return undefined;
  }
}

/** Collects posts and comment pages from a parsed `.json` listing file into `pending` (joined by post id). */
function collectListingFile(
  root: unknown,
  file: string,
  options: RedditReadOptions,
  pending: Map<string, Pending>,
): void {
  if (root === undefined) return;
  // A comments page is [postListing, commentListing]; a file may hold one page, many pages, or a listing.
  const pages: { listing: unknown; comments?: unknown; path: string }[] = [];
  const isListing = (v: unknown) => (v as { kind?: string })?.kind === 'Listing';
  if (isListing(root)) pages.push({ listing: root, path: '' });
  else if (Array.isArray(root) && root.length === 2 && isListing(root[0]) && isListing(root[1])) {
    pages.push({ listing: root[0], comments: root[1], path: '' });
  } else if (Array.isArray(root)) {
    root.forEach((p, i) => {
      if (Array.isArray(p) && isListing(p[0])) pages.push({ listing: p[0], comments: p[1], path: `[${i}]` });
      else if (isListing(p)) pages.push({ listing: p, path: `[${i}]` });
      else
        badRecord(
          new DatasetError('not a Reddit listing or comments page', { file, record: i + 1, path: `[${i}]` }),
          options,
        );
    });
  } else {
    badRecord(
      new DatasetError('not a Reddit listing (no kind: "Listing")', { file, field: 'kind' }),
      options,
    );
    return;
  }
  let record = 0;
  for (const page of pages) {
    const children = (page.listing as { data?: { children?: unknown } }).data?.children;
    if (!Array.isArray(children)) {
      badRecord(
        new DatasetError('listing without data.children', { file, path: page.path, field: 'data.children' }),
        options,
      );
      continue;
    }
    for (let i = 0; i < children.length; i++) {
      record++;
      const c = children[i] as { kind?: string; data?: Record<string, unknown> };
      const path = `${page.path}${page.comments ? '[0]' : ''}.data.children[${i}]`;
      if (c?.kind !== 't3' || !c.data) {
        badRecord(
          new DatasetError(`expected a t3 post, got ${c?.kind ?? typeof c}`, {
            file,
            record,
            path,
            field: 'kind',
          }),
          options,
        );
        continue;
      }
      const reason = postSkipReason(c.data);
      if (reason === 'malformed') {
        badRecord(
          new DatasetError('post without id or title', { file, record, path, field: 'title' }),
          options,
        );
        continue;
      }
      if (reason) {
        countFiltered(options);
        continue;
      }
      const post = postFromApi(c.data);
      if (page.comments) post.comments = commentsFromApi(page.comments);
      const existing = pending.get(post.id);
      if (existing) {
        if (post.comments.length > 0) existing.post.comments = post.comments;
      } else pending.set(post.id, { post, source: { file, record, path } });
    }
  }
}

/** Applies the filters to one post and yields its record(s). */
function* emit(
  post: RedditPost,
  source: SourceRef,
  options: RedditReadOptions,
  nextRecord: () => number,
): Generator<QARecord> {
  if (post.score < (options.minScore ?? Number.NEGATIVE_INFINITY)) {
    countFiltered(options);
    return;
  }
  const minC = options.minCommentScore ?? Number.NEGATIVE_INFINITY;
  const seen = new Set<string>();
  const comments = post.comments
    .filter((c) => c.score >= minC && !isRemovedText(c.body) && c.body.trim() !== '')
    .filter((c) => {
      if (c.id && seen.has(c.id)) return false;
      seen.add(c.id);
      return true;
    })
    .sort((a, b) => b.score - a.score)
    .slice(0, options.maxAnswers ?? 3);
  if (comments.length === 0) {
    countFiltered(options);
    return;
  }
  const question = post.selftext.trim() ? `${post.title}\n\n${post.selftext.trim()}` : post.title;
  const meta: Record<string, unknown> = { permalink: post.permalink, created_utc: post.created_utc };
  if (post.subreddit) meta.subreddit = post.subreddit;
  const answers = comments.map((c) => ({ text: c.body, score: c.score, id: c.id }));
  const each = options.answers === 'each' ? answers : [answers[0]];
  for (const a of each) {
    const rec: QARecord = {
      kind: 'qa',
      question,
      answer: a.text,
      answers,
      title: post.title,
      id: post.id,
      score: post.score,
      source: { ...source, record: source.record || nextRecord() },
      meta,
    };
    countRecord(options);
    yield rec;
  }
}

/** JSON rows of an NDJSON file as objects; invalid JSON and non-objects are bad records. */
async function* jsonRows(
  file: string,
  options: ReaderOptions,
): AsyncGenerator<{ value: Record<string, unknown>; source: SourceRef }> {
  for await (const { value, source } of parseJsonLines(file, options)) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      badRecord(new DatasetError('expected a JSON object', source), options);
      continue;
    }
    yield { value: value as Record<string, unknown>, source };
  }
}
