/**
 * SQuAD v1.1 answer normalisation (the official evaluate-v1.1.py): lowercase, drop punctuation,
 * drop the articles a/an/the, collapse whitespace.
 */
export function normalizeAnswer(s: string): string {
  const lower = s.toLowerCase();
  // string.punctuation in Python is ASCII only; the official script removes exactly those characters.
  const noPunc = lower.replace(/[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g, '');
  // Python's \b is Unicode-aware; JavaScript's is ASCII-only, so spell the word boundary out.
  const noArticles = noPunc.replace(/(?<![\p{L}\p{N}_])(a|an|the)(?![\p{L}\p{N}_])/gu, ' ');
  return noArticles.split(/\s+/).filter(Boolean).join(' ');
}

/** 1 if the normalised prediction equals the normalised gold answer, else 0. */
export function exactMatch(prediction: string, gold: string): number {
  return normalizeAnswer(prediction) === normalizeAnswer(gold) ? 1 : 0;
}

/** SQuAD token F1 between normalised prediction and gold (bag of tokens, multiset overlap). */
export function tokenF1(prediction: string, gold: string): number {
  const p = normalizeAnswer(prediction).split(' ').filter(Boolean);
  const g = normalizeAnswer(gold).split(' ').filter(Boolean);
  if (p.length === 0 || g.length === 0) return p.length === g.length ? 1 : 0;
  const counts = new Map<string, number>();
  for (const t of g) counts.set(t, (counts.get(t) ?? 0) + 1);
  let same = 0;
  for (const t of p) {
    const c = counts.get(t) ?? 0;
    if (c > 0) {
      same++;
      counts.set(t, c - 1);
    }
  }
  if (same === 0) return 0;
  const precision = same / p.length;
  const recall = same / g.length;
  return (2 * precision * recall) / (precision + recall);
}

/** Best score of `prediction` over several gold answers (SQuAD's metric_max_over_ground_truths). */
export function maxOverGold(
  metric: (p: string, g: string) => number,
  prediction: string,
  golds: readonly string[],
): number {
  if (golds.length === 0) throw new Error('maxOverGold: no gold answers');
  return Math.max(...golds.map((g) => metric(prediction, g)));
}

/**
 * 1-based rank of the first relevant item in `ranked`, or 0 if none is relevant.
 * `relevant` is a predicate or a set of ids.
 */
export function firstRelevantRank<T>(
  ranked: readonly T[],
  relevant: ((x: T) => boolean) | ReadonlySet<T>,
): number {
  const isRel = typeof relevant === 'function' ? relevant : (x: T) => relevant.has(x);
  const i = ranked.findIndex(isRel);
  return i < 0 ? 0 : i + 1;
}

/** Fraction of queries whose first relevant item is within the top k. ranks: 1-based, 0 = not found. */
export function recallAtK(ranks: readonly number[], k: number): number {
  if (ranks.length === 0) return 0;
  return ranks.filter((r) => r > 0 && r <= k).length / ranks.length;
}

/** Mean reciprocal rank. ranks: 1-based, 0 = not found (contributes 0). */
export function meanReciprocalRank(ranks: readonly number[]): number {
  if (ranks.length === 0) return 0;
  return ranks.reduce((s, r) => s + (r > 0 ? 1 / r : 0), 0) / ranks.length;
}
