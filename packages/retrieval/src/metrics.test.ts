import { describe, expect, it } from 'vitest';
import {
  exactMatch,
  firstRelevantRank,
  maxOverGold,
  meanReciprocalRank,
  normalizeAnswer,
  recallAtK,
  tokenF1,
} from './metrics.js';

describe('SQuAD normalisation and metrics (evaluate-v1.1.py semantics)', () => {
  it('lowercases, strips ASCII punctuation and articles, collapses whitespace', () => {
    expect(normalizeAnswer('The  Eon Productions!')).toBe('eon productions');
    expect(normalizeAnswer('an apple, a pear and the-end')).toBe('apple pear and theend');
    expect(normalizeAnswer('Theatre A')).toBe('theatre');
    expect(normalizeAnswer('“Jaws”')).toBe('“jaws”'); // curly quotes are not in string.punctuation
  });

  it('exact match', () => {
    expect(exactMatch('the Eon Productions.', 'Eon Productions')).toBe(1);
    expect(exactMatch('Eon', 'Eon Productions')).toBe(0);
  });

  it('token F1 with multiset overlap', () => {
    // pred {daniel, craig, craig} vs gold {daniel, craig}: overlap 2, P = 2/3, R = 1, F1 = 0.8
    expect(tokenF1('Daniel Craig Craig', 'Daniel Craig')).toBeCloseTo(0.8, 12);
    // pred {sam} vs gold {sam, mendes}: P = 1, R = 1/2, F1 = 2/3
    expect(tokenF1('Sam', 'Sam Mendes')).toBeCloseTo(2 / 3, 12);
    expect(tokenF1('Skyfall', 'Spectre')).toBe(0);
    expect(tokenF1('the', 'a')).toBe(1); // both normalise to empty
    expect(maxOverGold(tokenF1, 'Sam', ['Mendes', 'Sam'])).toBe(1);
  });

  it('recall@k and MRR from first-relevant ranks', () => {
    expect(firstRelevantRank(['a', 'b', 'c'], new Set(['c']))).toBe(3);
    expect(firstRelevantRank(['a', 'b'], (x) => x === 'z')).toBe(0);
    const ranks = [1, 3, 0, 2];
    expect(recallAtK(ranks, 1)).toBe(0.25);
    expect(recallAtK(ranks, 3)).toBe(0.75);
    expect(meanReciprocalRank(ranks)).toBeCloseTo((1 + 1 / 3 + 0 + 1 / 2) / 4, 12);
  });
});
