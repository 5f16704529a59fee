/**
 * @atelier/trainer — training loops people can trust: AdamW with warmup and decay, clipping, accumulation,
 * evaluation with samples, early stopping, atomic checkpoints with exact resume, metrics and an HTML report.
 */
export { type RowsSourceOptions, rowsBatchSource, type TokenRows, targetTokens } from './batches.js';
export {
  checkpointName,
  latestCheckpoint,
  listCheckpoints,
  OPTIMIZER_FILE,
  readTrainerState,
  STATE_FILE,
  stepOfCheckpoint,
  type TrainerState,
  writeFileAtomic,
} from './checkpoint.js';
export { parseTrainConfig, type TrainConfig, type TrainConfigInput, TrainConfigSchema } from './config.js';
export { type GPT2TrainableOptions, gpt2Trainable } from './gpt2.js';
export { type MetricRecord, MetricsLog, readMetrics, type TrainStatus } from './metrics.js';
export { AdamW, type AdamWOptions, type DecayExclusions, decays, parameterKind } from './optimizer.js';
export { type ReportOptions, renderReport } from './report.js';
export { Rng } from './rng.js';
export { learningRateAt, type ScheduleOptions, warmupStepsOf } from './schedule.js';
export { evaluate, type TrainOptions, type TrainResult, totalStepsFor, train } from './trainer.js';
export type {
  Batch,
  BatchSource,
  DataPosition,
  LossContext,
  SampleOptions,
  TrainableModel,
} from './types.js';
