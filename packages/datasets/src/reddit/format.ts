/** A top-level comment kept as an answer. */
export interface RedditComment {
  id: string;
  body: string;
  score: number;
  author?: string;
}

/**
 * One post as the collector writes it (one JSON line, or one Markdown block) and the Reddit reader accepts.
 * Field names follow Reddit's own JSON (`selftext`, `created_utc`, `permalink`).
 */
export interface RedditPost {
  id: string;
  subreddit?: string;
  title: string;
  selftext: string;
  score: number;
  created_utc: number;
  permalink: string;
  num_comments?: number;
  author?: string;
  /** Top-level comments, highest score first. */
  comments: RedditComment[];
}

/** Text Reddit shows for removed or deleted content. */
export function isRemovedText(s: unknown): boolean {
  if (typeof s !== 'string') return false;
  const t = s.trim();
  return (
    t === '[removed]' || t === '[deleted]' || t === '[ Removed by Reddit ]' || t === '[removed by reddit]'
  );
}

/** Why a listing post is not collected, or null when it is usable. */
export function postSkipReason(d: Record<string, unknown>): string | null {
  if (d.stickied === true) return 'stickied';
  if (d.removed_by_category) return 'removed';
  if (isRemovedText(d.selftext) || isRemovedText(d.title)) return 'removed';
  if (d.author === '[deleted]' && (d.selftext === '' || d.selftext === undefined)) return 'deleted';
  if (typeof d.title !== 'string' || typeof d.id !== 'string') return 'malformed';
  return null;
}

/** Builds a post (without comments) from the `data` of a Reddit `t3` listing child. */
export function postFromApi(d: Record<string, unknown>): RedditPost {
  const post: RedditPost = {
    id: String(d.id),
    title: String(d.title ?? ''),
    selftext: typeof d.selftext === 'string' ? d.selftext : '',
    score: Number(d.score ?? 0),
    created_utc: Number(d.created_utc ?? 0),
    permalink: String(d.permalink ?? ''),
    comments: [],
  };
  if (typeof d.subreddit === 'string') post.subreddit = d.subreddit;
  if (typeof d.num_comments === 'number') post.num_comments = d.num_comments;
  if (typeof d.author === 'string') post.author = d.author;
  return post;
}

/**
 * Top-level comments of a `/comments/<id>.json` comment listing, best first: skips `more` stubs, removed or
 * deleted bodies, stickied comments and AutoModerator, and those scoring below `minScore`.
 */
export function commentsFromApi(listing: unknown, minScore = Number.NEGATIVE_INFINITY): RedditComment[] {
  const children = (listing as { data?: { children?: unknown } })?.data?.children;
  if (!Array.isArray(children)) return [];
  const out: RedditComment[] = [];
  for (const child of children) {
    const c = child as { kind?: string; data?: Record<string, unknown> };
    if (c?.kind !== 't1' || !c.data) continue;
    const d = c.data;
    if (typeof d.body !== 'string' || isRemovedText(d.body) || d.stickied === true) continue;
    if (d.author === 'AutoModerator' || d.distinguished === 'moderator') continue;
    const score = Number(d.score ?? 0);
    if (score < minScore) continue;
    const comment: RedditComment = { id: String(d.id ?? ''), body: d.body, score };
    if (typeof d.author === 'string') comment.author = d.author;
    out.push(comment);
  }
  return out.sort((a, b) => b.score - a.score);
}

const MARKER = /^\\*<!-- \/?reddit-/;

function escapeBody(s: string): string {
  return s
    .split('\n')
    .map((l) => (MARKER.test(l) ? `\\${l}` : l))
    .join('\n');
}

function unescapeLine(l: string): string {
  return /^\\+<!-- \/?reddit-/.test(l) ? l.slice(1) : l;
}

function attrs(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of s.matchAll(/(\w+)="([^"]*)"/g))
    out[m[1]] = m[2].replace(/&quot;/g, '"').replace(/&amp;/g, '&');
  return out;
}

function attr(v: string | number): string {
  return String(v).replace(/&/g, '&amp;').replace(/"/g, '&quot;');
}

/**
 * Renders a post as Markdown in the Q&A shape {@link parseRedditMarkdown} reads back: an HTML-comment marker
 * with the metadata, `# title`, the self-text, then one `## Answer (score N)` section per comment. Body lines
 * that look like markers are escaped, so the round trip is lossless.
 */
export function postToMarkdown(p: RedditPost): string {
  const meta = [
    `id="${attr(p.id)}"`,
    `score="${p.score}"`,
    `created_utc="${p.created_utc}"`,
    `permalink="${attr(p.permalink)}"`,
    ...(p.subreddit ? [`subreddit="${attr(p.subreddit)}"`] : []),
  ].join(' ');
  const parts = [`<!-- reddit-post ${meta} -->`, `# ${p.title.replace(/\n/g, ' ')}`, ''];
  if (p.selftext) parts.push(escapeBody(p.selftext), '');
  for (const c of p.comments) {
    parts.push(
      `<!-- reddit-comment id="${attr(c.id)}" score="${c.score}" -->`,
      `## Answer (score ${c.score})`,
      '',
    );
    parts.push(escapeBody(c.body), '');
  }
  parts.push('<!-- /reddit-post -->', '');
  return parts.join('\n');
}

/** A post parsed back from Markdown, with the line its marker is on. */
export interface ParsedMarkdownPost {
  post: RedditPost;
  line: number;
}

/**
 * Parses posts written by {@link postToMarkdown} from the lines of a Markdown file. Throws an `Error` naming the
 * line for a block that is cut off (no closing marker) or lacks its `# title` line.
 */
export function* parseRedditMarkdown(lines: Iterable<string>): Generator<ParsedMarkdownPost> {
  let post: RedditPost | null = null;
  let startLine = 0;
  let body: string[] = [];
  let target: 'title' | 'self' | 'comment' = 'title';
  const finishBody = (): string => {
    const s = body.join('\n').replace(/^\n+|\n+$/g, '');
    body = [];
    return s;
  };
  const finishPart = (): void => {
    if (!post) return;
    if (target === 'self') post.selftext = finishBody();
    else if (target === 'comment') post.comments[post.comments.length - 1].body = finishBody();
  };
  let n = 0;
  for (const raw of lines) {
    n++;
    const mm = /^<!-- (\/?)reddit-(post|comment)\b(.*?)-->\s*$/.exec(raw);
    const m = mm ? [mm[0], mm[1] ? '/post' : mm[2], mm[3]] : null;
    if (m) {
      if (m[1] === 'post') {
        if (post) throw new Error(`line ${n}: new post starts before the post of line ${startLine} ended`);
        const a = attrs(m[2]);
        post = {
          id: a.id ?? '',
          title: '',
          selftext: '',
          score: Number(a.score ?? 0),
          created_utc: Number(a.created_utc ?? 0),
          permalink: a.permalink ?? '',
          comments: [],
        };
        if (a.subreddit) post.subreddit = a.subreddit;
        startLine = n;
        target = 'title';
        body = [];
        continue;
      }
      if (!post) throw new Error(`line ${n}: reddit-${m[1]} marker outside a post`);
      finishPart();
      if (m[1] === 'comment') {
        const a = attrs(m[2]);
        post.comments.push({ id: a.id ?? '', body: '', score: Number(a.score ?? 0) });
        target = 'comment';
        continue;
      }
      if (!post.title) throw new Error(`line ${startLine}: post ${post.id} has no "# title" line`);
      yield { post, line: startLine };
      post = null;
      continue;
    }
    if (!post) continue;
    if (target === 'title') {
      if (raw.startsWith('# ')) {
        post.title = raw.slice(2).trim();
        target = 'self';
      }
      continue;
    }
    if (target === 'comment' && body.length === 0 && /^## Answer\b/.test(raw)) continue;
    body.push(unescapeLine(raw));
  }
  if (post)
    throw new Error(`line ${startLine}: post ${post.id} is cut off (no closing <!-- /reddit-post -->)`);
}
