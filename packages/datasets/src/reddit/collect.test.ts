import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readReddit } from '../readers/reddit.js';
import { collect } from '../records.js';
import { serve, tempDir } from '../test/helpers.js';
import { commentsPage, listing, type PostSpec, t1, t3 } from '../test/reddit-fixtures.js';
import { collectReddit, parseRetryAfter, RedditError } from './collect.js';

const SUB = 'relationship_advice';
const P: PostSpec[] = [
  { id: 'rules', title: 'Read the rules before posting', stickied: true, score: 9000 },
  { id: 'p1', title: 'My sister borrowed money', selftext: 'She will not pay it back.', score: 900 },
  { id: 'gone', title: 'Deleted post', selftext: '[deleted]', author: '[deleted]', score: 800 },
  { id: 'p2', title: 'Roommate never cleans', selftext: 'Dishes everywhere.', score: 700 },
  { id: 'p3', title: 'Should I go to the reunion?', selftext: '', score: 600 },
  { id: 'mod', title: 'Removed', selftext: '[removed]', removed_by_category: 'moderator', score: 500 },
  { id: 'p4', title: 'Boss texts at midnight', selftext: 'Every night.', score: 400 },
  { id: 'low', title: 'Nobody cares', selftext: 'meh', score: 3 },
  { id: 'p5', title: 'Friend forgot my birthday', selftext: 'Again.', score: 300 },
];
const PAGE1 = P.slice(0, 5);
const PAGE2 = P.slice(5);

/** Comments of a post: three real ones at different scores, a removed one, AutoModerator. */
function commentsFor(p: PostSpec) {
  return commentsPage(
    p,
    [
      t1(`${p.id}c1`, `Advice A for ${p.id}`, 50),
      t1(`${p.id}c2`, `Advice B for ${p.id}`, 200),
      t1(`${p.id}c3`, '[removed]', 999),
      t1(`${p.id}c4`, 'I am a bot', 1, { author: 'AutoModerator', stickied: true }),
      t1(`${p.id}c5`, `Advice C for ${p.id}`, 10),
    ],
    SUB,
  );
}

interface Hit {
  path: string;
  at: number;
  ua: string | undefined;
}

/** A loopback Reddit: listing pages (with a 429 + Retry-After), comment pages (one truncated), error subreddits. */
function reddit(log: Hit[]) {
  let rateLimited = false;
  let truncated = false;
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url!, 'http://x');
    log.push({ path: url.pathname + url.search, at: Date.now(), ua: req.headers['user-agent'] });
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === `/r/${SUB}/top.json`) {
      if (url.searchParams.get('limit') !== '100') return json(400, { message: 'bad limit' });
      const after = url.searchParams.get('after');
      if (!after)
        return json(
          200,
          listing(
            PAGE1.map((p) => t3(p, SUB)),
            't3_p3',
          ),
        );
      if (after === 't3_p3') {
        if (!rateLimited) {
          rateLimited = true;
          return json(429, { message: 'Too Many Requests', error: 429 }, { 'retry-after': '1' });
        }
        return json(
          200,
          listing(
            [PAGE1[4], ...PAGE2].map((p) => t3(p, SUB)), // p3 again: rankings shift while paging
            null,
          ),
        );
      }
      return json(200, listing([], null));
    }
    const m = /^\/comments\/(\w+)\.json$/.exec(url.pathname);
    if (m) {
      const p = P.find((x) => x.id === m[1]);
      if (!p) return json(404, { message: 'Not Found', error: 404 });
      const body = JSON.stringify(commentsFor(p));
      if (p.id === 'p2' && !truncated) {
        truncated = true; // headers promise the whole body, the connection dies halfway
        res.writeHead(200, {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
        });
        res.write(body.slice(0, body.length >> 1));
        res.socket?.destroy();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(body);
    }
    if (url.pathname === '/r/secretclub/top.json')
      return json(403, { reason: 'private', message: 'Forbidden', error: 403 });
    if (url.pathname === '/r/gonesub/top.json')
      return json(404, { reason: 'banned', message: 'Not Found', error: 404 });
    if (url.pathname === '/r/nosuchsubxyz/top.json') {
      res.writeHead(302, { location: '/subreddits/search.json?q=nosuchsubxyz&restrict_sr=' });
      return res.end();
    }
    json(404, { message: 'Not Found', error: 404 });
  };
}

let server: { url: string; close: () => Promise<void> };
const log: Hit[] = [];
let dir = '';
let cleanup: () => Promise<void>;
beforeAll(async () => {
  server = await serve(reddit(log));
  ({ dir, cleanup } = await tempDir());
});
afterAll(async () => {
  await server.close();
  await cleanup();
});

const fast = { requestDelayMs: 0, retryBaseMs: 20 };

describe('collectReddit', () => {
  it('follows after, skips stickied/deleted/removed/low posts, retries 429 (Retry-After) and a truncated body', async () => {
    const output = join(dir, 'advice.jsonl');
    log.length = 0;
    const progress: number[] = [];
    const res = await collectReddit({
      subreddit: `r/${SUB}`,
      limit: 4,
      timeFilter: 'month',
      minUpvotes: 50,
      comments: 2,
      output,
      baseUrl: server.url,
      userAgent: 'atelier-test/1.0 (by the test suite)',
      ...fast,
      onProgress: (p) => progress.push(p.kept),
    });
    expect(res).toMatchObject({
      kept: 4,
      added: 4,
      alreadyPresent: 0,
      pages: 2,
      skipped: { stickied: 1, removed: 2, lowScore: 0 },
    });
    expect(res.retries).toBe(2);
    const rows = (await readFile(output, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows.map((r) => r.id)).toEqual(['p1', 'p2', 'p3', 'p4']);
    expect(rows[0]).toMatchObject({
      title: 'My sister borrowed money',
      selftext: 'She will not pay it back.',
      score: 900,
    });
    expect(rows[0].permalink).toBe(`/r/${SUB}/comments/p1/slug/`);
    expect(rows[0].comments).toEqual([
      { id: 'p1c2', body: 'Advice B for p1', score: 200 },
      { id: 'p1c1', body: 'Advice A for p1', score: 50 },
    ]);
    expect(rows[0].author).toBeUndefined();
    // Retry-After: 1 was honoured.
    const i429 = log.findIndex((h) => h.path.includes('after=t3_p3'));
    expect(log[i429 + 1].path).toContain('after=t3_p3');
    expect(log[i429 + 1].at - log[i429].at).toBeGreaterThanOrEqual(990);
    // The truncated comments page was fetched again.
    expect(log.filter((h) => h.path.startsWith('/comments/p2.json')).length).toBe(2);
    expect(log.every((h) => h.ua === 'atelier-test/1.0 (by the test suite)')).toBe(true);
    expect(log[0].path).toBe(`/r/${SUB}/top.json?t=month&limit=100&raw_json=1`);
    expect(progress[progress.length - 1]).toBe(4);

    // Round trip: the output feeds the reader.
    const recs = await collect(readReddit(output));
    expect(recs.map((r) => r.id)).toEqual(['p1', 'p2', 'p3', 'p4']);
    expect(recs[0].question).toBe('My sister borrowed money\n\nShe will not pay it back.');
    expect(recs[0].answer).toBe('Advice B for p1');
    expect(recs[2].question).toBe('Should I go to the reunion?');

    // Re-running with a higher limit appends only new posts and fetches no comments for known ones.
    const before = await readFile(output, 'utf8');
    log.length = 0;
    const again = await collectReddit({
      subreddit: SUB,
      limit: 10,
      minUpvotes: 50,
      comments: 2,
      output,
      baseUrl: server.url,
      ...fast,
    });
    expect(again).toMatchObject({ kept: 5, added: 1, alreadyPresent: 4, exhausted: true });
    const after = await readFile(output, 'utf8');
    expect(after.startsWith(before)).toBe(true);
    expect(
      after
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).id),
    ).toEqual(['p1', 'p2', 'p3', 'p4', 'p5']);
    expect(log.filter((h) => h.path.startsWith('/comments/')).map((h) => h.path.split('?')[0])).toEqual([
      '/comments/p5.json',
    ]);
  });

  it('writes Markdown that reads back to the same Q&A as JSONL', async () => {
    const md = join(dir, 'advice.md');
    const jl = join(dir, 'same.jsonl');
    await collectReddit({
      subreddit: SUB,
      limit: 3,
      minUpvotes: 50,
      output: md,
      baseUrl: server.url,
      ...fast,
    });
    await collectReddit({
      subreddit: SUB,
      limit: 3,
      minUpvotes: 50,
      output: jl,
      baseUrl: server.url,
      ...fast,
    });
    const a = await collect(readReddit(md));
    const b = await collect(readReddit(jl));
    const strip = (rs: typeof a) =>
      rs.map((r) => ({ q: r.question, a: r.answers, id: r.id, score: r.score }));
    expect(strip(a)).toEqual(strip(b));
    expect(a.length).toBe(3);
    expect(await readFile(md, 'utf8')).toContain('## Answer (score 200)');
  });

  it('resumes an interrupted collection without refetching what was written', async () => {
    const output = join(dir, 'resume.jsonl');
    const ctrl = new AbortController();
    log.length = 0;
    const err = await collectReddit({
      subreddit: SUB,
      limit: 5,
      minUpvotes: 50,
      output,
      baseUrl: server.url,
      flushEvery: 1,
      signal: ctrl.signal,
      ...fast,
      onProgress: (p) => {
        if (p.added === 2) ctrl.abort();
      },
    }).catch((e) => e);
    expect((err as Error).name).toBe('AbortError');
    const partial = (await readFile(output, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).id);
    expect(partial).toEqual(['p1', 'p2']);
    log.length = 0;
    const res = await collectReddit({
      subreddit: SUB,
      limit: 5,
      minUpvotes: 50,
      output,
      baseUrl: server.url,
      ...fast,
    });
    expect(res).toMatchObject({ kept: 5, added: 3, alreadyPresent: 2 });
    expect(log.filter((h) => h.path.startsWith('/comments/')).map((h) => h.path.split('?')[0])).toEqual([
      '/comments/p3.json',
      '/comments/p4.json',
      '/comments/p5.json',
    ]);
  });

  it('explains private, banned and nonexistent subreddits', async () => {
    const o = { limit: 5, output: join(dir, 'never.jsonl'), baseUrl: server.url, ...fast };
    await expect(collectReddit({ ...o, subreddit: 'secretclub' })).rejects.toThrow('r/secretclub is private');
    await expect(collectReddit({ ...o, subreddit: 'gonesub' })).rejects.toThrow('r/gonesub is banned');
    await expect(collectReddit({ ...o, subreddit: 'nosuchsubxyz' })).rejects.toThrow(
      'r/nosuchsubxyz does not exist (Reddit redirected to search)',
    );
    await expect(collectReddit({ ...o, subreddit: 'bad name!' })).rejects.toBeInstanceOf(RedditError);
    await expect(readFile(o.output)).rejects.toThrow(/ENOENT/);
  });

  it('gives up after maxRetries with the last error', async () => {
    const down = await serve((_req, res) => {
      res.writeHead(503);
      res.end('maintenance');
    });
    try {
      await expect(
        collectReddit({
          subreddit: SUB,
          limit: 1,
          output: join(dir, 'x.jsonl'),
          baseUrl: down.url,
          maxRetries: 2,
          ...fast,
        }),
      ).rejects.toThrow(/giving up after 3 attempts \(last: HTTP 503\)/);
    } finally {
      await down.close();
    }
  });

  it('parses Retry-After seconds and HTTP dates', () => {
    expect(parseRetryAfter('7')).toBe(7000);
    expect(parseRetryAfter(null)).toBeUndefined();
    const d = parseRetryAfter(new Date(Date.now() + 60_000).toUTCString())!;
    expect(d).toBeGreaterThan(58_000);
    expect(d).toBeLessThanOrEqual(60_000);
  });
});
