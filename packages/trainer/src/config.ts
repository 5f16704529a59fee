import { z } from 'zod';

/**
 * Training configuration (JSON file and CLI flags). Every field has a default except where noted;
 * `parseTrainConfig` names the bad field on error (`schedule.warmupRatio: Number must be less than 1`).
 */
export const TrainConfigSchema = z
  .object({
    /** Peak learning rate. */
    lr: z.number().positive().default(3e-4),
    beta1: z.number().min(0).lt(1).default(0.9),
    beta2: z.number().min(0).lt(1).default(0.999),
    epsilon: z.number().positive().default(1e-8),
    weightDecay: z.number().min(0).default(0.01),
    /** Parameter groups that get no weight decay. */
    decayExclude: z
      .object({
        biases: z.boolean().default(true),
        norms: z.boolean().default(true),
        embeddings: z.boolean().default(false),
      })
      .strict()
      .default({}),
    schedule: z
      .object({
        warmupSteps: z.number().int().min(0).optional(),
        warmupRatio: z.number().min(0).lt(1).optional(),
        decay: z.enum(['cosine', 'linear', 'constant']).default('cosine'),
        minLrRatio: z.number().min(0).max(1).default(0.1),
      })
      .strict()
      .default({})
      .refine((s) => s.warmupSteps === undefined || s.warmupRatio === undefined, {
        message: 'give warmupSteps or warmupRatio, not both',
      }),
    /** Clip gradients to this global L2 norm (0 = no clipping). */
    gradClip: z.number().min(0).default(1),
    /** Micro-batches per optimizer step. */
    gradAccumSteps: z.number().int().positive().default(1),
    /** Budget: epochs over the training data, or a number of optimizer steps (maxSteps wins when both). */
    epochs: z.number().int().positive().optional(),
    maxSteps: z.number().int().positive().optional(),
    seed: z.number().int().min(0).default(42),
    /** Log a train record every N steps. */
    logEvery: z.number().int().positive().default(1),
    /** Evaluate every N optimizer steps (0 = only at epoch ends and at the end). */
    evalEvery: z.number().int().min(0).default(100),
    /** Also evaluate before the first step (fresh runs only), so curves show the starting loss. */
    evalAtStart: z.boolean().default(false),
    /** At most this many validation batches per evaluation (0 = all). */
    evalBatches: z.number().int().min(0).default(0),
    /** Prompts whose continuations are logged at every evaluation. */
    samplePrompts: z.array(z.string()).default([]),
    sampleMaxTokens: z.number().int().positive().default(40),
    sampleTemperature: z.number().min(0).default(0),
    earlyStopping: z
      .object({
        patience: z.number().int().positive(),
        minDelta: z.number().min(0).default(0),
      })
      .strict()
      .optional(),
    checkpoints: z
      .object({
        enabled: z.boolean().default(true),
        /** Save every N optimizer steps (0 = only at evaluations that improve, epoch ends and the end). */
        every: z.number().int().min(0).default(0),
        /** Keep the last K checkpoints (the best one is kept in addition). */
        keepLast: z.number().int().positive().default(2),
        keepBest: z.boolean().default(true),
      })
      .strict()
      .default({}),
    /** Stop after this many consecutive steps with a NaN/inf loss or gradient. */
    maxBadSteps: z.number().int().positive().default(5),
    /** Write report.html at each evaluation and at the end. */
    report: z.boolean().default(true),
  })
  .strict()
  .refine((c) => c.epochs !== undefined || c.maxSteps !== undefined, {
    message: 'give a budget: epochs or maxSteps',
    path: ['maxSteps'],
  });

export type TrainConfig = z.output<typeof TrainConfigSchema>;
export type TrainConfigInput = z.input<typeof TrainConfigSchema>;

/** Validate a config object; throws an Error whose message names the bad field and the source. */
export function parseTrainConfig(input: unknown, source = 'config'): TrainConfig {
  const r = TrainConfigSchema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue.path.length ? issue.path.join('.') : '(root)';
  throw new Error(`${source}: ${field}: ${issue.message}`);
}
