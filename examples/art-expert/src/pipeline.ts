/**
 * Steps 2–7 of the recipe: clean → split → format → pack → train → evaluate → compare.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BatchLoader,
  cleanRecords,
  type DatasetRecord,
  formatRecord,
  type PackedDataset,
  packDocuments,
  splitRecords,
} from '@atelier/datasets';
import type { GPT2, GPT2Config } from '@atelier/gpt2';
import { applyLora, formatTrainable, type LoraConfig, saveAdapter } from '@atelier/lora';
import { tf } from '@atelier/tensor';
import type { Tokenizer } from '@atelier/tokenizer';
import { gpt2Trainable, parseTrainConfig, type TrainResult, train } from '@atelier/trainer';

/** The hyper-parameters in config.json. */
export interface ArtConfig {
  seed: number;
  blockSize: number;
  valFraction: number;
  scratch: { model: Partial<GPT2Config>; batchSize: number; lr: number; maxSteps: number; evalEvery: number };
  pretrained: {
    lora: Partial<LoraConfig> | null;
    batchSize: number;
    lr: number;
    maxSteps: number;
    evalEvery: number;
  };
  wordnetKeywords: string[];
  prompts: string[];
  topTokensPrompt: string;
  artSquadTitles: string[];
  gutenbergId: number;
}

/** Training and validation blocks, ready for the trainer. */
export interface Prepared {
  train: PackedDataset;
  validation: PackedDataset;
  records: number;
  dropped: number;
}

/** Clean, split by title (an article or note never lands in both splits), format with answer-only masks, pack. */
export async function prepare(
  raw: DatasetRecord[],
  tok: Tokenizer,
  cfg: Pick<ArtConfig, 'blockSize' | 'valFraction' | 'seed'>,
): Promise<Prepared> {
  const { records } = await cleanRecords(raw, { minChars: 20 });
  const { train: tr, validation: va } = await splitRecords(records, {
    ratios: { train: 1 - cfg.valFraction, validation: cfg.valFraction, test: 0 },
    seed: cfg.seed,
    groupKey: (r) => r.title ?? r.source.file,
  });
  if (tr.length === 0 || va.length === 0)
    throw new Error(`split left ${tr.length} training and ${va.length} validation records: add data`);
  const pack = (rs: DatasetRecord[]) =>
    packDocuments(
      rs.map((r) => formatRecord(r, tok, { maxTokens: cfg.blockSize + 1 })),
      { blockSize: cfg.blockSize, padId: tok.eosTokenId, align: 'document' },
    );
  return {
    train: await pack(tr),
    validation: await pack(va),
    records: records.length,
    dropped: raw.length - records.length,
  };
}

/** Mean masked next-token loss over every validation block, and its perplexity. */
export function validationLoss(
  model: GPT2,
  data: PackedDataset,
  batchSize: number,
): { loss: number; ppl: number } {
  const loader = new BatchLoader(data, { batchSize, seed: 0, shuffle: false, dropLast: false });
  const trainable = gpt2Trainable(model);
  let sum = 0;
  let weight = 0;
  for (let i = 0; i < loader.batchesPerEpoch; i++) {
    const batch = loader.batch(0, i);
    let w = 0;
    for (const m of batch.mask) w += m;
    if (w === 0) continue;
    const l = tf.tidy(() => trainable.loss(batch, { training: false, seed: 0 }).dataSync()[0]);
    sum += l * w;
    weight += w;
  }
  const loss = sum / weight;
  return { loss, ppl: Math.exp(loss) };
}

/** One trained model's results for the comparison. */
export interface ModelResult {
  name: string;
  description: string;
  valLossBefore: number;
  valLoss: number;
  ppl: number;
  topTokens: { token: string; prob: number }[];
  answers: { prompt: string; answer: string }[];
  train: TrainResult;
}

/** Options of one training run. */
export interface RunOptions {
  outDir: string;
  batchSize: number;
  lr: number;
  maxSteps: number;
  evalEvery: number;
  seed: number;
  prompts: string[];
  topTokensPrompt: string;
  progress?: boolean;
  log?: (line: string) => void;
  lora?: Partial<LoraConfig> | null;
}

/** Train `model` on `data` (full, or LoRA when `o.lora`), then evaluate it. */
export async function trainAndEvaluate(
  name: string,
  description: string,
  model: GPT2,
  data: Prepared,
  o: RunOptions,
): Promise<ModelResult> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  let save: ((dir: string) => Promise<void>) | undefined;
  if (o.lora) {
    const rep = applyLora(model, o.lora, { seed: o.seed });
    log(`${name}: LoRA on ${rep.targets.length} modules; ${formatTrainable(rep.params)}`);
    save = async (dir) => {
      await saveAdapter(model, dir);
    };
  }
  const before = validationLoss(model, data.validation, o.batchSize);
  log(
    `${name}: validation loss before training ${before.loss.toFixed(3)} (perplexity ${before.ppl.toFixed(1)})`,
  );
  const result = await train({
    model: gpt2Trainable(model, { save }),
    train: new BatchLoader(data.train, { batchSize: o.batchSize, seed: o.seed }),
    val: new BatchLoader(data.validation, { batchSize: o.batchSize, seed: 0, shuffle: false }),
    config: parseTrainConfig({
      lr: o.lr,
      maxSteps: o.maxSteps,
      seed: o.seed,
      schedule: { warmupRatio: 0.05, decay: 'cosine', minLrRatio: 0.1 },
      gradClip: 1,
      logEvery: Math.max(1, Math.floor(o.evalEvery / 4)),
      evalEvery: o.evalEvery,
      evalBatches: 8,
      samplePrompts: o.prompts.slice(0, 2),
      sampleMaxTokens: 30,
      sampleTemperature: 0,
      checkpoints: { every: o.evalEvery, keepLast: 1 },
    }),
    outDir: o.outDir,
    progress: o.progress ?? process.stderr.isTTY,
    log,
    reportInfo: { model: name, data: 'art notes + WordNet (+ downloads)', mode: o.lora ? 'LoRA' : 'full' },
  });
  if (result.status === 'failed') throw new Error(`${name}: training failed: ${result.reason}`);
  const after = validationLoss(model, data.validation, o.batchSize);
  log(
    `${name}: validation loss after ${result.step} steps ${after.loss.toFixed(3)} (perplexity ${after.ppl.toFixed(1)})`,
  );
  const topTokens = model.topNextTokens(o.topTokensPrompt, 5).map((t) => ({ token: t.token, prob: t.prob }));
  const answers: { prompt: string; answer: string }[] = [];
  for (const prompt of o.prompts) {
    const text = (await model.generate(prompt, {
      maxNewTokens: 40,
      temperature: 0,
      repetitionPenalty: 1.2,
      stop: ['\nQ:', '\n\n'],
    })) as string;
    answers.push({ prompt, answer: text.trim() });
  }
  return {
    name,
    description,
    valLossBefore: before.loss,
    valLoss: after.loss,
    ppl: after.ppl,
    topTokens,
    answers,
    train: result,
  };
}

/** Markdown side by side: perplexity, top next tokens, answers to the fixed prompts. */
export function comparisonMarkdown(results: ModelResult[], topTokensPrompt: string): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, '↵');
  const lines = ['# Art expert: model comparison', ''];
  lines.push(
    `| | ${results.map((r) => r.name).join(' | ')} |`,
    `|---|${results.map(() => '---').join('|')}|`,
  );
  lines.push(`| model | ${results.map((r) => esc(r.description)).join(' | ')} |`);
  lines.push(`| steps | ${results.map((r) => r.train.step).join(' | ')} |`);
  lines.push(`| validation loss before | ${results.map((r) => r.valLossBefore.toFixed(3)).join(' | ')} |`);
  lines.push(`| validation loss after | ${results.map((r) => r.valLoss.toFixed(3)).join(' | ')} |`);
  lines.push(`| validation perplexity | ${results.map((r) => r.ppl.toFixed(2)).join(' | ')} |`);
  lines.push(
    `| report | ${results.map((r) => (r.train.reportPath ? `[report.html](${r.train.reportPath})` : '—')).join(' | ')} |`,
  );
  lines.push('', `## Top next tokens after \`${esc(topTokensPrompt)}\``, '');
  for (const r of results)
    lines.push(
      `- **${r.name}**: ${r.topTokens.map((t) => `\`${esc(t.token)}\` ${t.prob.toFixed(3)}`).join(', ')}`,
    );
  lines.push('', '## Answers (greedy)', '');
  const prompts = results[0]?.answers.map((a) => a.prompt) ?? [];
  prompts.forEach((p, i) => {
    lines.push(`### \`${esc(p)}\``, '');
    for (const r of results) lines.push(`- **${r.name}**: ${esc(r.answers[i]?.answer ?? '')}`);
    lines.push('');
  });
  return `${lines.join('\n')}\n`;
}

/** Writes a file atomically (temp file + rename). */
export async function writeAtomic(file: string, content: string): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, content);
  await rename(tmp, file);
}
