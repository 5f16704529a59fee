import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPacked } from '@atelier/datasets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Io } from './io.js';
import { main } from './main.js';

const DATA = new URL('../../../../shared/data/', import.meta.url);
const etiquette = new URL('emily_post_etiquette_1922_pg14314.txt', DATA).pathname;
const gop = new URL('girls_own_paper_1886_no353_pg18195.txt', DATA).pathname;
const hasData = existsSync(etiquette) && existsSync(gop);

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { stdout: (s) => out.push(s), stderr: (s) => err.push(s), env: {}, isTTY: false };
  return { io, out: () => out.join(''), err: () => err.join('') };
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'atelier-cli-data-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe.skipIf(!hasData)('prepare and retrieve on real texts', () => {
  it('prepare packs Etiquette (Gutenberg, detected) into train/validation blocks with stats', async () => {
    const out = join(root, 'etiquette');
    const c = capture();
    expect(
      await main(
        ['prepare', '--data', etiquette, '--out', out, '--block-size', '128', '--val-fraction', '0.1'],
        c.io,
      ),
      c.err(),
    ).toBe(0);
    const stats = JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8'));
    const train = await loadPacked(join(out, 'train.atds'));
    const val = await loadPacked(join(out, 'validation.atds'));
    expect(train.T).toBe(128);
    expect(stats.blocks).toEqual({ train: train.numBlocks, validation: val.numBlocks });
    // Etiquette is ~250k words: far more than 1,000 blocks, about a tenth of them held out.
    expect(train.numBlocks).toBeGreaterThan(1000);
    const share = val.numBlocks / (train.numBlocks + val.numBlocks);
    expect(share).toBeGreaterThan(0.04);
    expect(share).toBeLessThan(0.2);
    expect(c.out()).toMatch(/^prepared .*: \d+ \+ \d+ records/);
  });

  it('retrieve finds the passage a query is about (BM25 over chunks)', async () => {
    const c = capture();
    const code = await main(
      ['retrieve', 'Uncle Keith watch pocket', '--corpus', gop, '-k', '3', '--json'],
      c.io,
    );
    expect(code, c.err()).toBe(0);
    const { hits } = JSON.parse(c.out());
    expect(hits).toHaveLength(3);
    expect(hits[0].text).toContain('watch');
    expect(hits[0].text).toContain('Uncle Keith');
    expect(hits[0].score).toBeGreaterThanOrEqual(hits[1].score);
  });
});

// ---- collect reddit against a loopback server serving Reddit-shaped JSON ----
const t3 = (id: string, title: string, score: number, extra: Record<string, unknown> = {}) => ({
  kind: 't3',
  data: {
    id,
    name: `t3_${id}`,
    title,
    selftext: `${title}? Please advise.`,
    score,
    created_utc: 1763000000,
    permalink: `/r/advice/comments/${id}/slug/`,
    author: 'someone',
    stickied: false,
    ...extra,
  },
});
const listing = (children: unknown[], after: string | null) => ({
  kind: 'Listing',
  data: { after, children },
});
const POSTS = [
  t3('a1', 'Sticky rules', 999, { stickied: true }),
  t3('a2', 'My neighbour', 300),
  t3('a3', 'My cousin', 120),
  t3('a4', 'Too low', 2),
];

function reddit(): Server {
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/r/advice/top.json') return json(200, listing(POSTS, null));
    const m = /^\/comments\/(\w+)\.json$/.exec(url.pathname);
    if (m) {
      const post = POSTS.find((p) => p.data.id === m[1]);
      const comment = (id: string, body: string, score: number) => ({
        kind: 't1',
        data: { id, body, score, author: 'helper', stickied: false },
      });
      return json(200, [
        listing([post], null),
        listing(
          [comment(`${m[1]}c1`, 'Talk to them kindly.', 40), comment(`${m[1]}c2`, 'Set a boundary.', 90)],
          null,
        ),
      ]);
    }
    return json(404, { message: 'Not Found', error: 404 });
  });
}

describe('collect reddit (loopback)', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = reddit();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('writes the posts above --min-upvotes with their top comments; a re-run adds nothing', async () => {
    const output = join(root, 'advice.jsonl');
    const argv = [
      'collect',
      'reddit',
      '--subreddit',
      'advice',
      '--limit',
      '10',
      '--min-upvotes',
      '50',
      '--comments',
      '1',
      '--output',
      output,
      '--base-url',
      base,
      '--delay',
      '0',
    ];
    const c = capture();
    expect(await main(argv, c.io), c.err()).toBe(0);
    const rows = readFileSync(output, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows.map((r) => r.id)).toEqual(['a2', 'a3']);
    expect(rows[0].comments).toHaveLength(1);
    expect(rows[0].comments[0].body).toBe('Set a boundary.');
    expect(c.out()).toMatch(
      /2 posts \(2 new, 0 already there\); skipped 1 stickied, 0 removed, 1 below 50 upvotes/,
    );
    const again = capture();
    expect(await main([...argv, '--json'], again.io)).toBe(0);
    expect(JSON.parse(again.out())).toMatchObject({ added: 0, alreadyPresent: 2 });
    // The collected file is read as Reddit data (detected from its fields: post → question, top comment → answer).
    const q = capture();
    expect(
      await main(['retrieve', 'neighbour', '--corpus', output, '-k', '1', '--json'], q.io),
      q.err(),
    ).toBe(0);
    const hit = JSON.parse(q.out()).hits[0];
    expect(hit.text).toContain('My neighbour');
    expect(hit.text).toContain('Set a boundary.');
  });

  it('a subreddit that does not exist is a runtime error (exit 1, one line)', async () => {
    const c = capture();
    const code = await main(
      [
        'collect',
        'reddit',
        '--subreddit',
        'nosuchsub',
        '--output',
        join(root, 'x.jsonl'),
        '--base-url',
        base,
        '--delay',
        '0',
      ],
      c.io,
    );
    expect(code).toBe(1);
    expect(c.err()).toMatch(/^atelier: .*nosuchsub/);
    expect(c.err().trim().split('\n')).toHaveLength(1);
  });
});
