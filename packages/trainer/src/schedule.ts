/** Learning-rate schedule: linear warmup, then cosine or linear decay to a floor (nanoGPT's `get_lr` shape). */
export interface ScheduleOptions {
  /** Peak learning rate. */
  lr: number;
  /** Total optimizer steps of the run (the decay reaches the floor here). */
  totalSteps: number;
  /** Warmup steps; or give `warmupRatio` (fraction of totalSteps, e.g. 0.15). */
  warmupSteps?: number;
  warmupRatio?: number;
  /** Shape after warmup. 'constant' keeps the peak. */
  decay: 'cosine' | 'linear' | 'constant';
  /** Floor as a fraction of the peak (0.1 → decays to lr/10). */
  minLrRatio: number;
}

/** Number of warmup steps implied by the options. */
export function warmupStepsOf(o: ScheduleOptions): number {
  if (o.warmupSteps !== undefined) return Math.max(0, Math.floor(o.warmupSteps));
  if (o.warmupRatio !== undefined) return Math.max(0, Math.round(o.warmupRatio * o.totalSteps));
  return 0;
}

/**
 * Learning rate for optimizer step `step` (0-based). Warmup ramps linearly (step+1)/(warmup+1) of the peak so
 * the first step is not wasted at lr 0; after warmup the rate follows the decay down to `minLrRatio · lr`
 * at `totalSteps`, and stays at the floor beyond it.
 */
export function learningRateAt(step: number, o: ScheduleOptions): number {
  const warmup = warmupStepsOf(o);
  const minLr = o.lr * o.minLrRatio;
  if (step < warmup) return (o.lr * (step + 1)) / (warmup + 1);
  if (o.decay === 'constant') return o.lr;
  const span = Math.max(1, o.totalSteps - warmup);
  const progress = Math.min(1, (step - warmup) / span);
  const coeff = o.decay === 'cosine' ? 0.5 * (1 + Math.cos(Math.PI * progress)) : 1 - progress;
  return minLr + coeff * (o.lr - minLr);
}
