import { describe, expect, it } from 'vitest';
import { learningRateAt, warmupStepsOf } from './schedule.js';

describe('learning-rate schedule', () => {
  const base = { lr: 1e-3, totalSteps: 100, decay: 'cosine' as const, minLrRatio: 0.1 };

  it('warms up linearly and reaches the peak right after warmup', () => {
    const o = { ...base, warmupSteps: 9 };
    expect(learningRateAt(0, o)).toBeCloseTo(1e-4, 12); // (0+1)/(9+1)
    expect(learningRateAt(4, o)).toBeCloseTo(5e-4, 12);
    expect(learningRateAt(9, o)).toBeCloseTo(1e-3, 12);
  });

  it('decays with a cosine to the floor at totalSteps and stays there', () => {
    const o = { ...base, warmupSteps: 0 };
    expect(learningRateAt(50, o)).toBeCloseTo(1e-4 + 0.5 * 9e-4, 12); // halfway: cos(pi/2) = 0
    expect(learningRateAt(100, o)).toBeCloseTo(1e-4, 12);
    expect(learningRateAt(500, o)).toBeCloseTo(1e-4, 12);
  });

  it('linear decay and constant', () => {
    expect(learningRateAt(75, { ...base, decay: 'linear', warmupSteps: 0 })).toBeCloseTo(
      1e-4 + 0.25 * 9e-4,
      12,
    );
    expect(learningRateAt(75, { ...base, decay: 'constant', warmupSteps: 0 })).toBe(1e-3);
  });

  it('takes the warmup as a ratio of the total', () => {
    expect(warmupStepsOf({ ...base, warmupRatio: 0.15 })).toBe(15);
    expect(learningRateAt(15, { ...base, warmupRatio: 0.15 })).toBeCloseTo(1e-3, 12);
  });
});
