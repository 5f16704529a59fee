/** Builders for Reddit-shaped JSON (the real field names and nesting of /r/<sub>/top.json and /comments/<id>.json). */

export interface PostSpec {
  id: string;
  title: string;
  selftext?: string;
  score?: number;
  stickied?: boolean;
  removed_by_category?: string | null;
  author?: string;
}

export function t3(p: PostSpec, sub = 'relationship_advice') {
  return {
    kind: 't3',
    data: {
      id: p.id,
      name: `t3_${p.id}`,
      subreddit: sub,
      title: p.title,
      selftext: p.selftext ?? '',
      score: p.score ?? 100,
      ups: p.score ?? 100,
      stickied: p.stickied ?? false,
      removed_by_category: p.removed_by_category ?? null,
      author: p.author ?? 'someone',
      created_utc: 1_760_000_000 + p.id.charCodeAt(0),
      permalink: `/r/${sub}/comments/${p.id}/slug/`,
      num_comments: 3,
      is_self: true,
    },
  };
}

export function listing(children: unknown[], after: string | null = null) {
  return { kind: 'Listing', data: { after, before: null, dist: children.length, modhash: '', children } };
}

export function t1(id: string, body: string, score: number, extra: Record<string, unknown> = {}) {
  return {
    kind: 't1',
    data: {
      id,
      name: `t1_${id}`,
      body,
      score,
      author: `user_${id}`,
      stickied: false,
      replies: '',
      depth: 0,
      ...extra,
    },
  };
}

export function more(ids: string[]) {
  return { kind: 'more', data: { count: ids.length, children: ids, id: ids[0], depth: 0 } };
}

export function commentsPage(p: PostSpec, comments: unknown[], sub?: string) {
  return [listing([t3(p, sub)]), listing(comments)];
}
