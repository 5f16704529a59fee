import { describe, expect, it } from 'vitest';
import { Rng } from './rng.js';

describe('Rng', () => {
  it('is reproducible from a seed and from a saved state', () => {
    const a = new Rng(7);
    const first = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => new Rng(7)).map((r) => r.nextUint32())).toEqual(
      Array(5).fill(first[0]),
    );
    const state = a.state();
    const next = Array.from({ length: 5 }, () => a.nextUint32());
    const b = new Rng(state);
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(next);
    expect(new Rng(8).nextUint32()).not.toBe(first[0]);
  });

  it('floats are uniform in [0, 1) (mean and variance of 100k draws)', () => {
    const r = new Rng(3);
    let s = 0;
    let s2 = 0;
    const n = 100_000;
    let outside = 0;
    for (let i = 0; i < n; i++) {
      const x = r.nextFloat();
      if (x < 0 || x >= 1) outside++;
      s += x;
      s2 += x * x;
    }
    expect(outside).toBe(0);
    expect(Math.abs(s / n - 0.5)).toBeLessThan(0.005);
    expect(Math.abs(s2 / n - (s / n) ** 2 - 1 / 12)).toBeLessThan(0.002);
  });

  it('shuffles into a permutation', () => {
    const p = new Rng(1).shuffle(Array.from({ length: 100 }, (_, i) => i));
    expect([...p].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(p).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});
