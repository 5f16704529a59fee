import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReadReport } from '../errors.js';
import { collect } from '../records.js';
import { postToMarkdown, type RedditPost } from '../reddit/format.js';
import { tempDir } from '../test/helpers.js';
import { commentsPage, listing, more, t1, t3 } from '../test/reddit-fixtures.js';
import { readReddit } from './reddit.js';

let dir = '';
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterAll(() => cleanup());

async function file(name: string, content: unknown): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
}

const posts = {
  a: {
    id: 'a1',
    title: 'My sister borrowed money',
    selftext: 'She will not pay it back. What do I do?',
    score: 500,
  },
  b: { id: 'b2', title: 'Roommate never cleans', score: 40 },
  s: { id: 's0', title: 'Welcome! Read the rules', stickied: true, score: 9999 },
  d: { id: 'd3', title: 'Deleted one', selftext: '[deleted]', author: '[deleted]', score: 300 },
  r: { id: 'r4', title: 'Removed one', selftext: '[removed]', removed_by_category: 'moderator', score: 300 },
};

describe('readReddit', () => {
  it('joins a saved top.json listing with /comments/<id>.json pages: title + selftext → question, top comments → answers', async () => {
    const top = await file(
      'top.json',
      listing([t3(posts.s), t3(posts.a), t3(posts.b), t3(posts.d), t3(posts.r)], 't3_r4'),
    );
    const pages = await file('comments.json', [
      commentsPage(posts.a, [
        t1('c1', 'Small claims court.', 120),
        t1('c2', 'Talk to her first.', 300),
        t1('c3', '[removed]', 50),
        t1('c4', 'I am a bot.', 1, { author: 'AutoModerator' }),
        t1('c5', 'Write it down next time.', 2),
        more(['c6', 'c7']),
      ]),
      commentsPage(posts.b, [t1('c8', 'Chore chart.', 10)]),
    ]);
    const report = new ReadReport();
    const recs = await collect(readReddit([top, pages], { maxAnswers: 2, report }));
    expect(recs.map((r) => r.id)).toEqual(['a1', 'b2']);
    expect(recs[0].question).toBe('My sister borrowed money\n\nShe will not pay it back. What do I do?');
    expect(recs[0].answer).toBe('Talk to her first.');
    expect(recs[0].answers!.map((a) => [a.text, a.score])).toEqual([
      ['Talk to her first.', 300],
      ['Small claims court.', 120],
    ]);
    expect(recs[0].source.path).toBe('.data.children[1]');
    expect(recs[1].question).toBe('Roommate never cleans');
    expect(report.filtered).toBe(3); // stickied, deleted, removed

    const strict = await collect(readReddit([top, pages], { minScore: 100, minCommentScore: 150 }));
    expect(strict.map((r) => [r.id, r.answers!.length])).toEqual([['a1', 1]]);
    const each = await collect(readReddit([top, pages], { answers: 'each', maxAnswers: 3 }));
    expect(each.filter((r) => r.id === 'a1').map((r) => r.answer)).toEqual([
      'Talk to her first.',
      'Small claims court.',
      'Write it down next time.',
    ]);
  });

  it('names the path and field of a malformed listing entry', async () => {
    const bad = listing([
      t3(posts.a),
      { kind: 't3', data: { id: 'x9', score: 5 } },
      { kind: 't1', data: {} },
    ]);
    const p = await file('bad-top.json', bad);
    await expect(collect(readReddit(p))).rejects.toThrow(
      /bad-top\.json#2 \.data\.children\[1\]: post without id or title \(field "title"\)/,
    );
    const report = new ReadReport();
    expect(await collect(readReddit(p, { onError: 'skip', report }))).toEqual([]); // a1 has no comments
    expect(report).toMatchObject({ skipped: 2, filtered: 1 });
    const notJson = await file('broken.json', '{"kind": "Listing", "data": {"children": [');
    await expect(collect(readReddit(notJson))).rejects.toThrow(/broken\.json: invalid JSON/);
  });

  it('reads Pushshift NDJSON submissions with comments in another file, top-level comments only', async () => {
    const subs = await file(
      'RS.ndjson',
      [
        JSON.stringify({
          id: 'p1',
          title: 'Wedding gift etiquette?',
          selftext: 'How much to spend?',
          score: 80,
        }),
        JSON.stringify({ id: 'p2', title: 'Low score post', selftext: '', score: 1 }),
        '{"id": "p3", "title": broken json',
        JSON.stringify({ id: 'p4', title: 'No answers here', selftext: 'x', score: 90 }),
      ].join('\n'),
    );
    const comments = await file(
      'RC.ndjson',
      [
        { id: 'k1', link_id: 't3_p1', parent_id: 't3_p1', body: 'Cover your plate.', score: 12 },
        { id: 'k2', link_id: 't3_p1', parent_id: 't1_k1', body: 'A reply, not an answer.', score: 99 },
        { id: 'k3', link_id: 't3_p1', parent_id: 't3_p1', body: 'Whatever you can afford.', score: 30 },
        { id: 'k4', link_id: 't3_p2', parent_id: 't3_p2', body: 'ok', score: 3 },
      ]
        .map((c) => JSON.stringify(c))
        .join('\n'),
    );
    await expect(collect(readReddit(subs, { comments }))).rejects.toThrow(/RS\.ndjson:3: invalid JSON/);
    const report = new ReadReport();
    const recs = await collect(readReddit(subs, { comments, minScore: 10, onError: 'skip', report }));
    expect(recs.map((r) => [r.id, r.answer])).toEqual([['p1', 'Whatever you can afford.']]);
    expect(recs[0].answers!.map((a) => a.text)).toEqual(['Whatever you can afford.', 'Cover your plate.']);
    expect(recs[0].source).toMatchObject({ line: 1 });
    expect(report).toMatchObject({ records: 1, skipped: 1, filtered: 2 });
  });

  it('reads the collector Markdown losslessly and names the line of a cut-off block', async () => {
    const post: RedditPost = {
      id: 'm1',
      title: 'How do I decline an invitation?',
      selftext: 'Line one.\n<!-- reddit-comment id="fake" -->\n\n# not a title',
      score: 77,
      created_utc: 1760000000,
      permalink: '/r/x/comments/m1/s/',
      comments: [
        { id: 'c1', body: 'Say "thank you, but no".\n\n- be kind', score: 20 },
        { id: 'c2', body: 'Reply quickly.', score: 5 },
      ],
    };
    const md = postToMarkdown(post);
    const p = await file('advice.md', md + md.replace('id="m1"', 'id="m2"'));
    const recs = await collect(readReddit(p));
    expect(recs.map((r) => r.id)).toEqual(['m1', 'm2']);
    expect(recs[0].question).toBe(`${post.title}\n\n${post.selftext}`);
    expect(recs[0].answers!.map((a) => [a.text, a.score])).toEqual([
      ['Say "thank you, but no".\n\n- be kind', 20],
      ['Reply quickly.', 5],
    ]);
    expect(recs[1].source.line).toBe(md.split('\n').length);
    const cut = await file('cut.md', md + md.slice(0, md.indexOf('## Answer (score 5)')));
    await expect(collect(readReddit(cut))).rejects.toThrow(/cut\.md:\d+: post m1 is cut off/);
  });
});

describe('readJsonlRecords on Reddit rows', () => {
  it('reads the collector JSONL as Q&A (so a generic JSONL reader takes it too)', async () => {
    const { readJsonlRecords } = await import('./jsonl.js');
    const row = {
      id: 'z1',
      title: 'Is it rude to leave early?',
      selftext: 'Party ends at 11.',
      score: 50,
      created_utc: 1,
      permalink: '/r/x/comments/z1/s/',
      comments: [{ id: 'c', body: 'Not if you thank the host.', score: 9 }],
    };
    const p = await file('collected.jsonl', `${JSON.stringify(row)}\n`);
    const recs = await collect(readJsonlRecords(p));
    expect(recs).toMatchObject([
      {
        kind: 'qa',
        question: 'Is it rude to leave early?\n\nParty ends at 11.',
        answer: 'Not if you thank the host.',
      },
    ]);
  });
});
