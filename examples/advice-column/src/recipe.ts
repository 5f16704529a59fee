import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BatchLoader,
  cleanRecords,
  datasetStats,
  type FormattedDoc,
  formatRecord,
  type PackedDataset,
  packDocuments,
  type QARecord,
  splitRecords,
} from '@atelier/datasets';
import { GPT2, type GPT2Config } from '@atelier/gpt2';
import { applyLora, loadAdapter, saveAdapter } from '@atelier/lora';
import { tf } from '@atelier/tensor';
import { Tokenizer } from '@atelier/tokenizer';
import {
  gpt2Trainable,
  type MetricRecord,
  parseTrainConfig,
  readMetrics,
  type TrainStatus,
  train,
  writeFileAtomic,
} from '@atelier/trainer';

/** Hyper-parameters of the recipe (config.json). Both modes share data, steps, batch size and seed. */
export interface RecipeConfig {
  /** A from-scratch shape (`{ n_embd, n_layer, n_head, n_positions }`) or a hub id / directory (`gpt2`). */
  model: Partial<GPT2Config> | string;
  blockSize: number;
  batchSize: number;
  valFraction: number;
  seed: number;
  /** The shared budget: optimizer steps per mode. */
  steps: number;
  evalEvery: number;
  evalBatches: number;
  checkpointEvery: number;
  full: { lr: number };
  lora: { lr: number; r: number; alpha: number; dropout: number; targetModules: string[] };
  samplePrompts: string[];
  sampleMaxTokens: number;
}

export type Mode = 'full' | 'lora';

/** Reads config.json (or another file) and checks the fields the recipe needs. */
export async function readRecipeConfig(file: string): Promise<RecipeConfig> {
  const cfg = JSON.parse(await readFile(file, 'utf8')) as RecipeConfig;
  for (const key of ['blockSize', 'batchSize', 'valFraction', 'seed', 'steps', 'evalEvery'] as const) {
    if (typeof cfg[key] !== 'number' || !Number.isFinite(cfg[key]))
      throw new Error(`${file}: field "${key}" must be a number`);
  }
  if (!cfg.full || !cfg.lora) throw new Error(`${file}: fields "full" and "lora" are required`);
  return cfg;
}

/** Training and validation batches with the documents they came from. */
export interface PreparedData {
  train: BatchLoader;
  val: BatchLoader;
  trainDocs: FormattedDoc[];
  records: { read: number; kept: number; train: number; validation: number };
}

/** clean → split → format (answer-only loss) → pack → batches. */
export async function prepareData(
  raw: QARecord[],
  tokenizer: Tokenizer,
  cfg: RecipeConfig,
): Promise<PreparedData> {
  const { records } = await cleanRecords(raw, { minChars: 20 });
  const split = await splitRecords(records, {
    ratios: { train: 1 - cfg.valFraction, validation: cfg.valFraction, test: 0 },
    seed: cfg.seed,
    groupKey: (r) => (r.kind === 'qa' ? r.question : ''), // one question never lands in both splits
  });
  // A tiny corpus can hash every question into one split: then hold out the last record.
  if (split.validation.length === 0 && split.train.length > 1) {
    const last = split.train.pop();
    if (last) split.validation.push(last);
  }
  if (split.train.length === 0) throw new Error('no training records left after cleaning and splitting');
  const format = (rs: QARecord[]) =>
    rs.map((r) => formatRecord(r, tokenizer, { maxTokens: cfg.blockSize + 1 }));
  const trainDocs = format(split.train);
  const pack = (docs: FormattedDoc[]): Promise<PackedDataset> =>
    packDocuments(docs, { blockSize: cfg.blockSize, padId: tokenizer.eosTokenId, align: 'document' });
  const train = new BatchLoader(await pack(trainDocs), { batchSize: cfg.batchSize, seed: cfg.seed });
  const val = new BatchLoader(await pack(format(split.validation)), {
    batchSize: cfg.batchSize,
    shuffle: false,
    dropLast: false,
  });
  return {
    train,
    val,
    trainDocs,
    records: {
      read: raw.length,
      kept: records.length,
      train: split.train.length,
      validation: split.validation.length,
    },
  };
}

/** The base model: from scratch (seeded) for the embedded default, or a pretrained GPT-2 from the hub. */
export async function loadBase(cfg: RecipeConfig): Promise<GPT2> {
  const tokenizer = Tokenizer.gpt2();
  if (typeof cfg.model === 'string') return GPT2.fromPretrained(cfg.model, { seed: cfg.seed });
  return GPT2.fromConfig(cfg.model, { seed: cfg.seed, tokenizer });
}

/** Frozen base + trainable adapter (LoRA), or every weight trainable (full); what a checkpoint saves. */
export function makeTrainable(model: GPT2, mode: Mode, cfg: RecipeConfig) {
  if (mode === 'full') return gpt2Trainable(model);
  const l = cfg.lora;
  applyLora(
    model,
    { r: l.r, lora_alpha: l.alpha, lora_dropout: l.dropout, target_modules: l.targetModules },
    { seed: cfg.seed },
  );
  return gpt2Trainable(model, {
    save: (dir) => saveAdapter(model, dir),
    load: async (dir) => {
      await loadAdapter(model, dir, { trainable: true });
    },
  });
}

/**
 * The datasets package's size warnings (tokens per trainable parameter, duplicates, templates) for this mode;
 * a from-scratch full run counts as pre-training.
 */
export async function sizeWarnings(
  docs: FormattedDoc[],
  parameters: number,
  trainableParameters: number,
  mode: Mode,
  fromScratch: boolean,
): Promise<string[]> {
  const stats = await datasetStats(docs, {
    parameters,
    trainableParameters,
    mode: mode === 'lora' ? 'lora' : fromScratch ? 'pretrain' : 'finetune',
  });
  return stats.warnings;
}

/** What one mode's run measured. */
export interface ModeResult {
  mode: Mode;
  status: TrainStatus;
  step: number;
  trainableParameters: number;
  parameters: number;
  firstLoss: number;
  lastLoss: number;
  firstValLoss: number | null;
  bestValLoss: number | null;
  seconds: number;
  /** Peak bytes held by tensors (tf.memory) and peak process RSS seen after each step. */
  peakTensorBytes: number;
  peakRssBytes: number;
  samples: { prompt: string; text: string }[];
  outDir: string;
  reportPath: string | null;
  warnings: string[];
}

export interface RunModeOptions {
  cfg: RecipeConfig;
  data: PreparedData;
  outDir: string;
  /** Stop (checkpoint + report, status 'interrupted') once this step is done. */
  stopAfter?: number;
  /** Continue from the newest checkpoint under outDir. */
  resume?: boolean;
  log?: (line: string) => void;
}

/** Trains one mode for the shared budget and measures loss, time and peak memory. */
export async function runMode(mode: Mode, o: RunModeOptions): Promise<ModeResult> {
  const { cfg, data } = o;
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const dir = join(o.outDir, mode);
  await mkdir(dir, { recursive: true });
  const model = await loadBase(cfg);
  try {
    const parameters = model.parameters().reduce((s, p) => s + p.variable.size, 0);
    const trainable = makeTrainable(model, mode, cfg);
    const nTrainable = [...trainable.trainableVariables().values()].reduce((s, v) => s + v.size, 0);
    const warnings = await sizeWarnings(
      data.trainDocs,
      parameters,
      nTrainable,
      mode,
      typeof cfg.model !== 'string',
    );
    for (const w of warnings) log(`warning: ${w}`);
    log(`${mode}: ${nTrainable.toLocaleString()} of ${parameters.toLocaleString()} parameters train`);
    const stop = new AbortController();
    let peakTensorBytes = tf.memory().numBytes;
    let peakRssBytes = process.memoryUsage().rss;
    const t0 = performance.now();
    const result = await train({
      model: trainable,
      train: data.train,
      val: data.val,
      config: parseTrainConfig({
        lr: mode === 'full' ? cfg.full.lr : cfg.lora.lr,
        maxSteps: cfg.steps,
        seed: cfg.seed,
        schedule: { warmupRatio: 0.1, decay: 'cosine', minLrRatio: 0.1 },
        evalEvery: cfg.evalEvery,
        evalAtStart: true,
        evalBatches: cfg.evalBatches,
        samplePrompts: cfg.samplePrompts,
        sampleMaxTokens: cfg.sampleMaxTokens,
        sampleTemperature: 0,
        checkpoints: { every: cfg.checkpointEvery, keepLast: 2 },
      }),
      outDir: dir,
      resume: o.resume ? true : undefined,
      handleSigint: true,
      signal: stop.signal,
      log,
      reportInfo: { mode: mode === 'lora' ? `LoRA r=${cfg.lora.r}` : 'full', example: 'advice-column' },
      onStep: (r) => {
        peakTensorBytes = Math.max(peakTensorBytes, tf.memory().numBytes);
        peakRssBytes = Math.max(peakRssBytes, process.memoryUsage().rss);
        if (o.stopAfter !== undefined && r.step >= o.stopAfter) stop.abort();
      },
    });
    const seconds = (performance.now() - t0) / 1000;
    return summarise(mode, result, readMetrics(result.metricsPath), {
      parameters,
      trainableParameters: nTrainable,
      seconds,
      peakTensorBytes,
      peakRssBytes,
      outDir: dir,
      warnings,
    });
  } finally {
    model.dispose();
  }
}

function summarise(
  mode: Mode,
  result: { status: TrainStatus; step: number; bestValLoss: number | null; reportPath: string | null },
  metrics: MetricRecord[],
  m: Omit<
    ModeResult,
    | 'mode'
    | 'status'
    | 'step'
    | 'firstLoss'
    | 'lastLoss'
    | 'firstValLoss'
    | 'bestValLoss'
    | 'samples'
    | 'reportPath'
  >,
): ModeResult {
  const trainRecs = metrics.filter((r) => r.type === 'train');
  const evals = metrics.filter((r) => r.type === 'eval');
  return {
    mode,
    status: result.status,
    step: result.step,
    firstLoss: trainRecs[0]?.loss ?? Number.NaN,
    lastLoss: trainRecs.at(-1)?.loss ?? Number.NaN,
    firstValLoss: evals[0]?.valLoss ?? null,
    bestValLoss: result.bestValLoss,
    samples: evals.at(-1)?.samples ?? [],
    reportPath: result.reportPath,
    ...m,
  };
}

const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const num = (x: number | null) => (x === null || Number.isNaN(x) ? '–' : x.toFixed(3));

/** comparison.md (table, loss curves as numbers, samples) and comparison.json beside the two runs. */
export async function writeComparison(runDir: string, results: ModeResult[]): Promise<string> {
  const rows = results.map(
    (r) =>
      `| ${r.mode} | ${r.status} | ${r.step} | ${r.trainableParameters.toLocaleString()} | ${num(r.firstLoss)} → ${num(r.lastLoss)} | ${num(r.firstValLoss)} → ${num(r.bestValLoss)} | ${r.seconds.toFixed(1)} | ${mb(r.peakTensorBytes)} | ${mb(r.peakRssBytes)} |`,
  );
  const curves = results.map((r) => {
    const pts = readMetrics(join(r.outDir, 'metrics.jsonl'))
      .filter((x) => x.type === 'eval')
      .map((x) => `${x.step}: ${x.valLoss.toFixed(3)}`);
    return `- ${r.mode}: ${pts.join(', ')} (full curves: ${r.mode}/report.html)`;
  });
  const samples = results.flatMap((r) => [
    `### ${r.mode}`,
    '',
    ...r.samples.map((s) => `- **${s.prompt.replace(/\n/g, ' ')}** ${s.text.replace(/\n/g, ' ')}`),
    '',
  ]);
  const md = [
    '# Full fine-tuning vs LoRA — same data, same steps, same batch size',
    '',
    '| mode | status | steps | trainable params | train loss first → last | val loss start → best | seconds | peak tensors | peak RSS |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    '## Validation loss by step',
    '',
    ...curves,
    '',
    '## Samples (greedy, last evaluation)',
    '',
    ...samples,
  ].join('\n');
  const file = join(runDir, 'comparison.md');
  await writeFileAtomic(file, `${md}\n`);
  await writeFileAtomic(join(runDir, 'comparison.json'), `${JSON.stringify(results, null, 2)}\n`);
  return file;
}
