import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { tokenBudgetWarning } from '@atelier/datasets';
import type { GPT2 } from '@atelier/gpt2';
import {
  gpt2Trainable,
  latestCheckpoint,
  readTrainerState,
  STATE_FILE,
  train,
  writeFileAtomic,
} from '@atelier/trainer';
import { isPrepared, loaders, loadPrepared, prepareData } from '../data.js';
import { EXIT, type Io, UsageError } from '../io.js';
import { attachLora } from '../lora.js';
import { ensureBackend, isPreset, loadModel, tokenizerFor } from '../models.js';
import { envBool, envNum } from '../options.js';
import { merge, parseRunConfig, type RunConfig, readConfigFile } from '../run-config.js';

/** Flags of `atelier train` (commander camelCases them). */
export interface TrainFlags {
  model?: string;
  data?: string[];
  format?: string;
  out?: string;
  lora?: boolean;
  loraR?: number;
  loraAlpha?: number;
  steps?: number;
  epochs?: number;
  lr?: number;
  batchSize?: number;
  blockSize?: number;
  gradAccum?: number;
  warmup?: number;
  warmupRatio?: number;
  evalEvery?: number;
  evalBatches?: number;
  weightDecay?: number;
  gradClip?: number;
  patience?: number;
  minDelta?: number;
  keepLast?: number;
  evalAtStart?: boolean;
  checkpointEvery?: number;
  checkpoints?: boolean;
  samplePrompt?: string[];
  seed?: number;
  valFraction?: number;
  backend?: string;
  progress?: boolean;
  json?: boolean;
}

export const RUN_FILE = 'run.json';

/** Environment layer: TRAINING_DATA_SOURCE, MODEL_TYPE, USE_LORA, TRAINING_STEPS, LEARNING_RATE, ENABLE_CHECKPOINTS. */
export function envLayer(env: Io['env']): Record<string, unknown> {
  const useLora = envBool('USE_LORA', env.USE_LORA);
  const checkpoints = envBool('ENABLE_CHECKPOINTS', env.ENABLE_CHECKPOINTS);
  return {
    data: env.TRAINING_DATA_SOURCE || undefined,
    model: env.MODEL_TYPE || undefined,
    lora: useLora === undefined ? undefined : useLora ? {} : false,
    training: {
      maxSteps: envNum('TRAINING_STEPS', env.TRAINING_STEPS, true),
      lr: envNum('LEARNING_RATE', env.LEARNING_RATE),
      checkpoints: checkpoints === undefined ? undefined : { enabled: checkpoints },
    },
  };
}

/** Flag layer of `atelier train` (undefined = not given). */
export function flagLayer(f: TrainFlags): Record<string, unknown> {
  const loraLayer =
    f.lora === false
      ? false
      : f.lora || f.loraR !== undefined || f.loraAlpha !== undefined
        ? { r: f.loraR, alpha: f.loraAlpha }
        : undefined;
  return {
    model: f.model,
    data: f.data && f.data.length === 1 ? f.data[0] : f.data,
    format: f.format,
    out: f.out,
    lora: loraLayer,
    batchSize: f.batchSize,
    blockSize: f.blockSize,
    valFraction: f.valFraction,
    backend: f.backend,
    training: {
      maxSteps: f.steps,
      epochs: f.epochs,
      lr: f.lr,
      gradAccumSteps: f.gradAccum,
      schedule:
        f.warmup !== undefined || f.warmupRatio !== undefined
          ? { warmupSteps: f.warmup, warmupRatio: f.warmupRatio }
          : undefined,
      evalEvery: f.evalEvery,
      evalBatches: f.evalBatches,
      evalAtStart: f.evalAtStart,
      weightDecay: f.weightDecay,
      gradClip: f.gradClip,
      earlyStopping:
        f.patience !== undefined || f.minDelta !== undefined
          ? { patience: f.patience, minDelta: f.minDelta }
          : undefined,
      seed: f.seed,
      samplePrompts: f.samplePrompt,
      checkpoints:
        f.checkpoints === false || f.checkpointEvery !== undefined || f.keepLast !== undefined
          ? {
              enabled: f.checkpoints === false ? false : undefined,
              every: f.checkpointEvery,
              keepLast: f.keepLast,
            }
          : undefined,
    },
  };
}

/** `atelier train [config.json]`: defaults ← config file ← environment ← flags. */
export async function trainCommand(
  configPath: string | undefined,
  flags: TrainFlags,
  io: Io,
): Promise<number> {
  const file = configPath ? await readConfigFile(configPath) : {};
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const merged = merge({ out: join('runs', stamp) }, file, envLayer(io.env), flagLayer(flags));
  const training = (merged.training ?? {}) as Record<string, unknown>;
  if (training.maxSteps === undefined && training.epochs === undefined) training.epochs = 1;
  merged.training = training;
  if (merged.data === undefined)
    throw new UsageError('no training data: pass --data <file> or set TRAINING_DATA_SOURCE');
  const config = parseRunConfig(merged, configPath ?? 'flags');
  // Paths in a config file are relative to the file.
  if (configPath) {
    const base = dirname(resolve(configPath));
    const abs = (p: string) => resolve(base, p);
    if (typeof file.data === 'string' || Array.isArray(file.data)) {
      if (merged.data === file.data)
        config.data = Array.isArray(config.data) ? config.data.map(abs) : abs(config.data);
    }
    if (file.out !== undefined && merged.out === file.out) config.out = abs(config.out);
  }
  return runTraining(config, io, { progress: flags.progress, json: flags.json });
}

/** `atelier resume <run-dir | checkpoint-dir>`: continue a run exactly where its checkpoint left it. */
export async function resumeCommand(
  target: string,
  flags: { steps?: number; progress?: boolean; json?: boolean; backend?: string },
  io: Io,
): Promise<number> {
  if (!existsSync(target)) throw new UsageError(`nothing to resume: ${target} does not exist`);
  let checkpoint: string | null;
  let runDir: string;
  if (existsSync(join(target, STATE_FILE))) {
    checkpoint = target;
    runDir = dirname(dirname(resolve(target)));
  } else {
    runDir = target;
    checkpoint = await latestCheckpoint(target);
    if (!checkpoint)
      throw new UsageError(`nothing to resume: no checkpoint under ${join(target, 'checkpoints')}`);
  }
  const runFile = join(runDir, RUN_FILE);
  if (!existsSync(runFile))
    throw new Error(`${runDir}: ${RUN_FILE} is missing (not a run directory made by atelier train)`);
  const saved = await readConfigFile(runFile);
  const state = await readTrainerState(checkpoint);
  const training = { ...state.config, ...(flags.steps !== undefined ? { maxSteps: flags.steps } : {}) };
  const config = parseRunConfig(
    { ...saved, out: runDir, backend: flags.backend ?? saved.backend, training },
    runFile,
  );
  return runTraining(config, io, { resume: checkpoint, progress: flags.progress, json: flags.json });
}

async function runTraining(
  config: RunConfig,
  io: Io,
  o: { resume?: string; progress?: boolean; json?: boolean },
): Promise<number> {
  const info = await ensureBackend(config.backend);
  if (info.notice) io.stderr(`${info.notice}\n`);
  const say = (line: string) => io.stderr(`${line}\n`);
  const model: GPT2 = await loadModel(config.model, { seed: config.training.seed });
  try {
    const tokenizer =
      model.tokenizer && 'eosTokenId' in model.tokenizer
        ? model.tokenizer
        : tokenizerFor(isPreset(config.model) ? undefined : config.model);
    model.tokenizer ??= tokenizer;
    let saveLora: ((dir: string) => Promise<void>) | undefined;
    let loadLora: ((dir: string) => Promise<void>) | undefined;
    if (config.lora) {
      const l = attachLora(model, config.lora, config.training.seed);
      saveLora = l.save;
      loadLora = l.load;
      say(
        `LoRA r=${config.lora.r} on ${config.lora.targetModules.join(', ')}: ${l.report.trainable} of ${l.report.total} parameters train (${l.report.percent.toFixed(3)}%)`,
      );
    }
    const files = Array.isArray(config.data) ? config.data : [config.data];
    const data =
      files.length === 1 && isPrepared(files[0])
        ? await loadPrepared(files[0])
        : await prepareData(files, {
            format: config.format,
            tokenizer: tokenizer as never,
            blockSize: Math.min(config.blockSize, model.config.n_positions),
            valFraction: config.valFraction,
            seed: config.training.seed,
          });
    const { train: trainSource, val } = loaders(data, config.batchSize, config.training.seed);
    const trainable = gpt2Trainable(model, { save: saveLora, load: loadLora });
    const nTrainable = [...trainable.trainableVariables().values()].reduce((s, v) => s + v.size, 0);
    let trained = 0;
    for (const m of data.train.mask) trained += m;
    const warning = tokenBudgetWarning(
      trained,
      nTrainable,
      config.lora ? 'lora' : isPreset(config.model) ? 'pretrain' : 'finetune',
    );
    if (warning) say(`warning: ${warning}`);
    say(
      `data: ${data.train.numBlocks} training and ${data.validation.numBlocks} validation blocks of ${data.train.T} tokens; backend ${info.name}`,
    );
    await mkdir(config.out, { recursive: true });
    await writeFileAtomic(join(config.out, RUN_FILE), `${JSON.stringify(config, null, 2)}\n`);
    const result = await train({
      model: trainable,
      train: trainSource,
      val,
      config: config.training,
      outDir: config.out,
      resume: o.resume,
      progress: o.progress !== false && io.isTTY,
      handleSigint: true,
      log: say,
      reportInfo: {
        model: config.model,
        data: files.join(', '),
        mode: config.lora ? `LoRA r=${config.lora.r}` : 'full',
        backend: info.name,
      },
    });
    const summary = {
      status: result.status,
      step: result.step,
      bestValLoss: result.bestValLoss,
      bestStep: result.bestStep,
      bestCheckpoint: result.bestCheckpoint,
      lastCheckpoint: result.lastCheckpoint,
      report: result.reportPath,
      metrics: result.metricsPath,
    };
    if (o.json) io.stdout(`${JSON.stringify(summary)}\n`);
    else {
      io.stdout(`${result.status} at step ${result.step}\n`);
      if (result.bestValLoss !== null)
        io.stdout(`best validation loss ${result.bestValLoss.toFixed(4)} at step ${result.bestStep}\n`);
      if (result.lastCheckpoint) io.stdout(`checkpoint: ${result.lastCheckpoint}\n`);
      if (result.reportPath) io.stdout(`report: ${result.reportPath}\n`);
    }
    if (result.status === 'interrupted') return EXIT.interrupted;
    if (result.status === 'failed') {
      io.stderr(`atelier: training failed: ${result.reason}\n`);
      return EXIT.error;
    }
    return EXIT.ok;
  } finally {
    model.dispose();
  }
}
