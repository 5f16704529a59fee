import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loadSafetensors, saveSafetensors, tf } from '@atelier/tensor';
import { targetTokens } from './batches.js';
import {
  checkpointName,
  latestCheckpoint,
  listCheckpoints,
  OPTIMIZER_FILE,
  readTrainerState,
  rotateCheckpoints,
  STATE_FILE,
  type TrainerState,
  writeCheckpointAtomically,
  writeFileAtomic,
} from './checkpoint.js';
import { clipFactor, globalNormValue } from './clip.js';
import type { TrainConfig } from './config.js';
import { type MetricRecord, MetricsLog, type TrainStatus } from './metrics.js';
import { AdamW } from './optimizer.js';
import { createProgress } from './progress.js';
import { renderReport } from './report.js';
import { Rng } from './rng.js';
import { learningRateAt, type ScheduleOptions, warmupStepsOf } from './schedule.js';
import type { BatchSource, DataPosition, TrainableModel } from './types.js';

export interface TrainOptions {
  model: TrainableModel;
  train: BatchSource;
  /** Validation batches (read in order, epoch 0); without them there is no evaluation or early stopping. */
  val?: BatchSource;
  config: TrainConfig;
  /** Run directory: metrics.jsonl, report.html, checkpoints/. Created if missing. */
  outDir: string;
  /**
   * Continue from a checkpoint directory (`true`: the newest one under `outDir/checkpoints`). Weights are
   * read with `model.load(dir)` when the model has it; otherwise the caller built the model from `dir`.
   */
  resume?: string | true;
  /** Draw the progress bar on stderr (default: when stderr is a TTY). */
  progress?: boolean;
  /** Save a checkpoint and stop at the next step boundary on SIGINT (default true). */
  handleSigint?: boolean;
  /** Aborting it stops like SIGINT: checkpoint, report, status 'interrupted'. */
  signal?: AbortSignal;
  /** Human-readable log lines (default: stderr). */
  log?: (line: string) => void;
  /** Extra facts for the report header (model, data, backend …). */
  reportInfo?: Record<string, string | number>;
  /** Called after every optimizer step with its train record (tests, custom loggers). */
  onStep?: (record: Extract<MetricRecord, { type: 'train' }>) => void;
}

export interface TrainResult {
  status: TrainStatus;
  reason: string;
  /** Optimizer steps completed. */
  step: number;
  bestValLoss: number | null;
  bestStep: number | null;
  /** Directory of the best checkpoint (lowest validation loss) and of the last one written. */
  bestCheckpoint: string | null;
  lastCheckpoint: string | null;
  metricsPath: string;
  reportPath: string | null;
}

interface EvalResult {
  valLoss: number;
  perplexity: number;
  tokens: number;
  samples: { prompt: string; text: string }[];
}

/** Total optimizer steps the config asks for over `train`. */
export function totalStepsFor(config: TrainConfig, train: BatchSource): number {
  if (config.maxSteps !== undefined) return config.maxSteps;
  const epochs = config.epochs ?? 1;
  return Math.max(1, Math.floor((epochs * train.batchesPerEpoch) / config.gradAccumSteps));
}

/**
 * Validation loss (token-weighted mean over the batches) and perplexity, with dropout off; then sample
 * continuations of the configured prompts. Uses no trainer RNG, so evaluation never changes training.
 */
export async function evaluate(
  model: TrainableModel,
  val: BatchSource,
  config: Pick<
    TrainConfig,
    'evalBatches' | 'samplePrompts' | 'sampleMaxTokens' | 'sampleTemperature' | 'seed'
  >,
  sampleSeed = config.seed,
): Promise<EvalResult> {
  const n = config.evalBatches > 0 ? Math.min(config.evalBatches, val.batchesPerEpoch) : val.batchesPerEpoch;
  let sum = 0;
  let tokens = 0;
  for (let i = 0; i < n; i++) {
    const batch = val.batch(0, i);
    const w = targetTokens(batch);
    if (w === 0) continue;
    const lossT = tf.tidy(() => model.loss(batch, { training: false, seed: 0 }));
    const loss = (await lossT.data())[0];
    lossT.dispose();
    sum += loss * w;
    tokens += w;
  }
  const valLoss = tokens > 0 ? sum / tokens : Number.NaN;
  const samples: { prompt: string; text: string }[] = [];
  if (model.generate) {
    for (const prompt of config.samplePrompts) {
      const text = await model.generate(prompt, {
        maxNewTokens: config.sampleMaxTokens,
        temperature: config.sampleTemperature,
        seed: sampleSeed,
      });
      samples.push({ prompt, text });
    }
  }
  return { valLoss, perplexity: Math.exp(valLoss), tokens, samples };
}

/**
 * Train `model` on `train`: AdamW with warmup + decay, global-norm clipping, gradient accumulation,
 * periodic evaluation with sample generations, early stopping, atomic checkpoints (best + last K),
 * exact resume, NaN/inf step skipping, SIGINT handling, a progress bar, metrics.jsonl and report.html.
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const { model, train: data, val, config, outDir } = options;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  await mkdir(outDir, { recursive: true });
  const checkpointsDir = join(outDir, 'checkpoints');
  const metrics = new MetricsLog(join(outDir, 'metrics.jsonl'));
  const reportPath = config.report ? join(outDir, 'report.html') : null;

  const params = model.trainableVariables();
  if (params.size === 0) throw new Error('the model has no trainable variables');
  const paramNames = [...params.keys()];
  const varList = paramNames.map((n) => params.get(n) as tf.Variable);
  const byVarName = new Map(varList.map((v, i) => [v.name, paramNames[i]]));
  const trainableParams = varList.reduce((s, v) => s + v.size, 0);

  const totalSteps = totalStepsFor(config, data);
  const schedule: ScheduleOptions = {
    lr: config.lr,
    totalSteps,
    warmupSteps: config.schedule.warmupSteps,
    warmupRatio: config.schedule.warmupRatio,
    decay: config.schedule.decay,
    minLrRatio: config.schedule.minLrRatio,
  };
  const optimizer = new AdamW(params, {
    beta1: config.beta1,
    beta2: config.beta2,
    epsilon: config.epsilon,
    weightDecay: config.weightDecay,
    exclude: config.decayExclude,
  });

  // ---- state (fresh or resumed) ----
  let step = 0;
  let pos: DataPosition = { epoch: 0, index: 0, seed: data.seed };
  let rng = new Rng(config.seed);
  let tokensSeen = 0;
  let elapsedBefore = 0;
  let bestValLoss: number | null = null;
  let bestStep: number | null = null;
  let evalsWithoutImprovement = 0;
  let consecutiveBad = 0;
  let resumedFrom: string | null = null;

  if (options.resume) {
    try {
      const dir = options.resume === true ? await latestCheckpoint(outDir) : options.resume;
      if (!dir) throw new Error(`nothing to resume: no checkpoint under ${checkpointsDir}`);
      const state = await readTrainerState(dir);
      if (state.data.seed !== data.seed) {
        throw new Error(
          `${dir}: checkpoint data seed ${state.data.seed} differs from this run's ${data.seed}`,
        );
      }
      if (state.batchesPerEpoch !== undefined && state.batchesPerEpoch !== data.batchesPerEpoch) {
        throw new Error(
          `${dir}: the checkpoint was written with ${state.batchesPerEpoch} batches per epoch, this data has ${data.batchesPerEpoch} (other data, block size or batch size); resume with the run's own data and sizes`,
        );
      }
      if (model.load) await model.load(dir);
      const opt = await loadSafetensors(join(dir, OPTIMIZER_FILE));
      optimizer.loadState(opt as Map<string, { shape: number[]; data: Float32Array }>, state.optimizerStep);
      step = state.step;
      pos = { ...state.data };
      rng = new Rng(state.rng);
      tokensSeen = state.tokensSeen;
      elapsedBefore = state.elapsedMs;
      bestValLoss = state.bestValLoss;
      bestStep = state.bestStep;
      evalsWithoutImprovement = state.evalsWithoutImprovement;
      consecutiveBad = state.consecutiveBadSteps;
      resumedFrom = dir;
      await metrics.truncateAfter(step);
      log(`resumed from ${dir} at step ${step} (epoch ${pos.epoch}, batch ${pos.index})`);
    } catch (e) {
      optimizer.dispose();
      throw e;
    }
  } else {
    await metrics.truncateAfter(-1);
  }

  let bestCheckpoint: string | null = null;
  let lastCheckpoint: string | null = null;
  if (bestStep !== null) {
    const found = (await listCheckpoints(checkpointsDir)).find((c) => c.step === bestStep);
    bestCheckpoint = found ? join(checkpointsDir, found.name) : null;
  }
  let lastSavedStep = resumedFrom ? step : -1;

  const B0 = data.batch(pos.epoch, pos.index);
  const tokensPerStep = B0.B * B0.T * config.gradAccumSteps;
  metrics.write({
    type: 'start',
    time: new Date().toISOString(),
    resumedFrom,
    step,
    totalSteps,
    params: model.parameterCount?.() ?? trainableParams,
    trainableParams,
    tokensPerStep,
  });
  log(
    `training ${trainableParams} parameters for ${totalSteps} steps (${config.gradAccumSteps}×${B0.B}×${B0.T} tokens per step, warmup ${warmupStepsOf(schedule)})`,
  );

  const startTime = performance.now();
  const elapsed = () => elapsedBefore + (performance.now() - startTime);

  const saveCheckpoint = async (isBest: boolean): Promise<string | null> => {
    if (!config.checkpoints.enabled) return null;
    if (lastSavedStep === step && lastCheckpoint && !isBest) return lastCheckpoint;
    const name = checkpointName(step);
    const state: TrainerState = {
      format: 'atelier-trainer-state/1',
      step,
      data: pos,
      batchesPerEpoch: data.batchesPerEpoch,
      rng: rng.state(),
      optimizerStep: optimizer.t,
      schedule: {
        lr: schedule.lr,
        totalSteps,
        warmupSteps: warmupStepsOf(schedule),
        decay: schedule.decay,
        minLrRatio: schedule.minLrRatio,
      },
      totalSteps,
      tokensSeen,
      elapsedMs: elapsed(),
      bestValLoss,
      bestStep,
      evalsWithoutImprovement,
      consecutiveBadSteps: consecutiveBad,
      config,
      savedAt: new Date().toISOString(),
    };
    const { tensors, t } = optimizer.state();
    const path = await writeCheckpointAtomically(checkpointsDir, name, async (dir) => {
      await model.save(dir);
      await saveSafetensors(join(dir, OPTIMIZER_FILE), tensors, { metadata: { step: String(t) } });
      await writeFileAtomic(join(dir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
    });
    lastSavedStep = step;
    lastCheckpoint = path;
    if (isBest) bestCheckpoint = path;
    const keep =
      config.checkpoints.keepBest && bestCheckpoint ? (bestCheckpoint.split('/').at(-1) ?? null) : null;
    await rotateCheckpoints(checkpointsDir, config.checkpoints.keepLast, keep);
    if (
      bestCheckpoint &&
      keep === null &&
      !(await listCheckpoints(checkpointsDir)).some((c) => bestCheckpoint?.endsWith(c.name))
    ) {
      bestCheckpoint = null;
    }
    metrics.write({ type: 'checkpoint', step, path, best: isBest });
    return path;
  };

  const writeReport = async () => {
    if (!reportPath) return;
    await writeFileAtomic(reportPath, renderReport(metrics.read(), { info: options.reportInfo }));
  };

  const runEval = async (): Promise<{ stop: boolean }> => {
    if (!val) return { stop: false };
    const r = await evaluate(model, val, config, config.seed + step);
    const es = config.earlyStopping;
    const improved = bestValLoss === null || r.valLoss < bestValLoss - (es?.minDelta ?? 0);
    if (improved && Number.isFinite(r.valLoss)) {
      bestValLoss = r.valLoss;
      bestStep = step;
      evalsWithoutImprovement = 0;
    } else {
      evalsWithoutImprovement += 1;
    }
    metrics.write({
      type: 'eval',
      step,
      epoch: pos.epoch,
      valLoss: r.valLoss,
      perplexity: r.perplexity,
      tokens: r.tokens,
      samples: r.samples,
      best: improved,
    });
    progress.log(
      `eval step ${step}: val loss ${r.valLoss.toFixed(4)}, perplexity ${r.perplexity.toFixed(2)}${improved ? ' (best)' : ''}`,
    );
    for (const s of r.samples) progress.log(`  ${JSON.stringify(s.prompt)} → ${JSON.stringify(s.text)}`);
    if (improved && config.checkpoints.keepBest) await saveCheckpoint(true);
    await writeReport();
    return { stop: es !== undefined && evalsWithoutImprovement >= es.patience };
  };

  // ---- interruption ----
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) {
      process.stderr.write('second interrupt: quitting without a checkpoint\n');
      process.exit(130);
    }
    interrupted = true;
    progress.log(
      'interrupt received: saving a checkpoint at the end of this step (Ctrl-C again to force quit)',
    );
  };
  const onAbort = () => {
    interrupted = true;
  };
  const handleSigint = options.handleSigint ?? true;
  if (handleSigint) process.on('SIGINT', onSigint);
  options.signal?.addEventListener('abort', onAbort);
  if (options.signal?.aborted) interrupted = true;

  const progress = createProgress(totalSteps, step, options.progress ?? Boolean(process.stderr.isTTY), log);
  let status: TrainStatus = 'completed';
  let reason = '';
  let smoothTps = 0;

  try {
    if (config.evalAtStart && !resumedFrom && step === 0) await runEval();
    while (step < totalSteps) {
      if (config.epochs !== undefined && config.maxSteps === undefined && pos.epoch >= config.epochs) break;
      if (interrupted) {
        status = 'interrupted';
        reason = 'stopped by an interrupt after saving a checkpoint';
        break;
      }
      const t0 = performance.now();
      const lr = learningRateAt(step, schedule);
      const epochBefore = pos.epoch;

      // ---- forward/backward over gradAccumSteps micro-batches, summing gradients ----
      let acc: Map<string, tf.Tensor> | null = null;
      let lossSum = 0;
      let tokens = 0;
      for (let micro = 0; micro < config.gradAccumSteps; micro++) {
        const batch = data.batch(pos.epoch, pos.index);
        pos = advance(pos, data.batchesPerEpoch);
        tokens += batch.B * batch.T;
        const seed = rng.nextUint32();
        const { value, grads } = tf.variableGrads(() => model.loss(batch, { training: true, seed }), varList);
        lossSum += (await value.data())[0];
        value.dispose();
        const named = new Map<string, tf.Tensor>();
        for (const [vn, g] of Object.entries(grads)) named.set(byVarName.get(vn) ?? vn, g);
        if (acc === null) {
          acc = named;
        } else {
          const prev: Map<string, tf.Tensor> = acc;
          for (const [n, g] of named) {
            const p = prev.get(n);
            if (p) {
              prev.set(n, tf.add(p, g));
              p.dispose();
              g.dispose();
            } else prev.set(n, g);
          }
        }
      }
      const grads = acc as Map<string, tf.Tensor>;
      const loss = lossSum / config.gradAccumSteps;

      // ---- average, global norm, clip, update ----
      const scale = 1 / config.gradAccumSteps;
      const gradNorm = (await globalNormValue(grads.values())) * scale;
      const finite = Number.isFinite(loss) && Number.isFinite(gradNorm);
      if (finite) {
        optimizer.step(grads, lr, scale * clipFactor(gradNorm, config.gradClip));
        consecutiveBad = 0;
      } else {
        consecutiveBad += 1;
      }
      for (const g of grads.values()) g.dispose();
      step += 1;
      tokensSeen += tokens;
      const dt = (performance.now() - t0) / 1000;
      const tps = tokens / Math.max(dt, 1e-9);
      smoothTps = smoothTps === 0 ? tps : 0.9 * smoothTps + 0.1 * tps;

      if (!finite) {
        const what = Number.isFinite(loss) ? `gradient norm ${gradNorm}` : `loss ${loss}`;
        metrics.write({
          type: 'skip',
          step,
          epoch: epochBefore,
          reason: `non-finite ${what}`,
          consecutive: consecutiveBad,
        });
        progress.log(`step ${step}: non-finite ${what}; update skipped (${consecutiveBad} in a row)`);
        if (consecutiveBad >= config.maxBadSteps) {
          status = 'failed';
          reason = `${consecutiveBad} consecutive steps with a non-finite loss or gradient (last: ${what}); lower the learning rate or check the data`;
          break;
        }
      } else {
        const record = {
          type: 'train' as const,
          step,
          epoch: epochBefore,
          loss,
          lr,
          gradNorm,
          tokens,
          tokensPerSec: tps,
          elapsedMs: elapsed(),
        };
        if (step % config.logEvery === 0 || step === totalSteps) metrics.write(record);
        options.onStep?.(record);
        progress.update(step, { epoch: epochBefore, loss, tps: smoothTps });
      }

      // ---- evaluation, checkpoints, early stopping ----
      const epochEnded = pos.epoch !== epochBefore;
      const isLast =
        step >= totalSteps ||
        (config.maxSteps === undefined && config.epochs !== undefined && pos.epoch >= config.epochs);
      let stop = false;
      if ((config.evalEvery > 0 && step % config.evalEvery === 0) || epochEnded || isLast) {
        stop = (await runEval()).stop;
      }
      if (config.checkpoints.every > 0 && step % config.checkpoints.every === 0) await saveCheckpoint(false);
      if (stop) {
        status = 'early-stopped';
        reason = `no improvement of validation loss by more than ${config.earlyStopping?.minDelta} for ${config.earlyStopping?.patience} evaluations`;
        break;
      }
      // Let signal handlers run between steps.
      await new Promise<void>((r) => setImmediate(r));
    }
    if (status === 'completed' && interrupted) {
      status = 'interrupted';
      reason = 'stopped by an interrupt after saving a checkpoint';
    }
    // Skipped steps never touch the weights, so even a failed run's last checkpoint holds good weights.
    await saveCheckpoint(false);
  } finally {
    progress.stop();
    if (handleSigint) process.off('SIGINT', onSigint);
    options.signal?.removeEventListener('abort', onAbort);
    optimizer.dispose();
  }
  metrics.write({
    type: 'end',
    step,
    status,
    reason,
    bestValLoss,
    bestStep,
    elapsedMs: elapsed(),
    tokensSeen,
  });
  await writeReport();
  log(
    `${status} at step ${step}${reason && status !== 'completed' ? `: ${reason}` : ''}${bestValLoss !== null ? `; best val loss ${bestValLoss.toFixed(4)} at step ${bestStep}` : ''}`,
  );
  return {
    status,
    reason,
    step,
    bestValLoss,
    bestStep,
    bestCheckpoint,
    lastCheckpoint,
    metricsPath: metrics.path,
    reportPath,
  };
}

function advance(pos: DataPosition, batchesPerEpoch: number): DataPosition {
  const index = pos.index + 1;
  return index >= batchesPerEpoch ? { epoch: pos.epoch + 1, index: 0, seed: pos.seed } : { ...pos, index };
}
