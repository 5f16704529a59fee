/**
 * The art expert recipe, end to end:
 *   data (notes + WordNet [+ downloads]) → clean → split → format → pack → train Model 1 from scratch
 *   [→ train Model 2 from a pretrained GPT-2 with LoRA] → evaluate → comparison.md.
 *
 * Usage: node --conditions=@atelier/source --import tsx src/main.ts
 *          [--download] [--model gpt2|distilgpt2|gpt2-medium|<dir>] [--full] [--steps N] [--out DIR] [--config FILE]
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { DatasetRecord } from '@atelier/datasets';
import { GPT2 } from '@atelier/gpt2';
import { initBackend } from '@atelier/tensor';
import { Tokenizer } from '@atelier/tokenizer';
import {
  type DownloadSources,
  downloadArtSources,
  EXAMPLE_DIR,
  readArtNotes,
  readWordnetGlosses,
} from './data.js';
import {
  type ArtConfig,
  comparisonMarkdown,
  type ModelResult,
  prepare,
  trainAndEvaluate,
  writeAtomic,
} from './pipeline.js';

/** Options of one run of the recipe (the CLI flags, or a test's). */
export interface ArtRunOptions {
  config?: ArtConfig;
  /** Run directory (default runs/art-expert-<timestamp> under the example). */
  out?: string;
  /** Add the public sources (Gutenberg #26703, SQuAD art articles). */
  download?: boolean | DownloadSources;
  /** A pretrained model for Model 2: hub id or local directory. */
  model?: string;
  /** Hub endpoint for `model` (a mirror, or a loopback server in tests). */
  endpoint?: string;
  /** Full fine-tuning of Model 2 instead of LoRA. */
  full?: boolean;
  /** Override the step counts of both models. */
  steps?: number;
  log?: (line: string) => void;
}

/** What a run produced. */
export interface ArtRunResult {
  runDir: string;
  comparisonPath: string;
  results: ModelResult[];
  records: number;
}

export async function loadConfig(file = join(EXAMPLE_DIR, 'config.json')): Promise<ArtConfig> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as ArtConfig;
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** Runs the whole recipe and returns where the comparison was written. */
export async function runArtExpert(o: ArtRunOptions = {}): Promise<ArtRunResult> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const cfg = o.config ?? (await loadConfig());
  const stamp = new Date().toISOString().replace(/[:.]/g, '').slice(0, 15);
  const runDir = o.out ?? join(EXAMPLE_DIR, 'runs', `art-expert-${stamp}`);
  const backend = await initBackend('cpu');
  log(`backend: ${backend.description}`);

  // 1. Data
  const tok = Tokenizer.gpt2();
  const notes = await readArtNotes();
  const glosses = await readWordnetGlosses(cfg.wordnetKeywords);
  log(`data: ${notes.length} art notes, ${glosses.length} WordNet glosses`);
  const raw: DatasetRecord[] = [...notes, ...glosses];
  if (o.download) {
    const src = typeof o.download === 'object' ? o.download : {};
    const extra = await downloadArtSources(cfg.gutenbergId, cfg.artSquadTitles, src);
    log(`data: ${extra.length} records from Gutenberg #${cfg.gutenbergId} and SQuAD art articles`);
    raw.push(...extra);
  }
  // 2–4. Clean, split, format, pack
  const data = await prepare(raw, tok, cfg);
  log(
    `prepared: ${data.records} records (${data.dropped} dropped by cleaning) → ${data.train.numBlocks} training and ${data.validation.numBlocks} validation blocks of ${cfg.blockSize} tokens`,
  );

  // 5–6. Model 1: from scratch
  const results: ModelResult[] = [];
  const s = cfg.scratch;
  const scratch = GPT2.fromConfig(
    { ...s.model, n_positions: Math.max(s.model.n_positions ?? 0, cfg.blockSize) },
    { seed: cfg.seed, tokenizer: tok },
  );
  try {
    const nParams = scratch.parameters().reduce((n, p) => n + p.variable.size, 0);
    results.push(
      await trainAndEvaluate(
        'Model 1',
        `from scratch, ${(nParams / 1e6).toFixed(2)} M parameters`,
        scratch,
        data,
        {
          outDir: join(runDir, 'model1'),
          batchSize: s.batchSize,
          lr: s.lr,
          maxSteps: o.steps ?? s.maxSteps,
          evalEvery: Math.min(s.evalEvery, o.steps ?? s.evalEvery),
          seed: cfg.seed,
          prompts: cfg.prompts,
          topTokensPrompt: cfg.topTokensPrompt,
          log,
        },
      ),
    );
  } finally {
    scratch.dispose();
  }

  // Model 2: a pretrained GPT-2, LoRA (or full) fine-tuning
  if (o.model) {
    const p = cfg.pretrained;
    const pre = await GPT2.fromPretrained(o.model, { endpoint: o.endpoint, seed: cfg.seed });
    try {
      results.push(
        await trainAndEvaluate(
          'Model 2',
          `${o.model}, ${o.full || !p.lora ? 'full fine-tune' : `LoRA r=${p.lora.r ?? 8}`}`,
          pre,
          data,
          {
            outDir: join(runDir, 'model2'),
            batchSize: p.batchSize,
            lr: p.lr,
            maxSteps: o.steps ?? p.maxSteps,
            evalEvery: Math.min(p.evalEvery, o.steps ?? p.evalEvery),
            seed: cfg.seed,
            prompts: cfg.prompts,
            topTokensPrompt: cfg.topTokensPrompt,
            lora: o.full ? null : p.lora,
            log,
          },
        ),
      );
    } finally {
      pre.dispose();
    }
  }

  // 7. Report
  const comparisonPath = join(runDir, 'comparison.md');
  await writeAtomic(comparisonPath, comparisonMarkdown(results, cfg.topTokensPrompt));
  await writeAtomic(
    join(runDir, 'samples.json'),
    `${JSON.stringify(
      results.map((r) => ({
        name: r.name,
        valLoss: r.valLoss,
        ppl: r.ppl,
        topTokens: r.topTokens,
        answers: r.answers,
      })),
      null,
      2,
    )}\n`,
  );
  return { runDir, comparisonPath, results, records: data.records };
}

async function cli(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--') args.shift(); // `pnpm start -- --steps 5` passes the separator through
  const { values } = parseArgs({
    args,
    options: {
      download: { type: 'boolean', default: false },
      model: { type: 'string' },
      endpoint: { type: 'string' },
      full: { type: 'boolean', default: false },
      steps: { type: 'string' },
      out: { type: 'string' },
      config: { type: 'string' },
    },
  });
  const steps = values.steps === undefined ? undefined : Number(values.steps);
  if (steps !== undefined && !(Number.isInteger(steps) && steps > 0))
    throw new Error(`--steps: expected a positive integer, got "${values.steps}"`);
  const res = await runArtExpert({
    config: values.config ? await loadConfig(values.config) : undefined,
    out: values.out,
    download: values.download,
    model: values.model,
    endpoint: values.endpoint,
    full: values.full,
    steps,
  });
  for (const r of res.results) {
    console.log(`\n${r.name} (${r.description}): validation perplexity ${r.ppl.toFixed(2)}`);
    for (const a of r.answers) console.log(`  ${JSON.stringify(a.prompt)} → ${a.answer}`);
    if (r.train.reportPath) console.log(`  training report: ${r.train.reportPath}`);
  }
  console.log(`\ncomparison: ${res.comparisonPath}`);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  cli().catch((err) => {
    console.error(`art-expert: ${(err as Error).message}`);
    process.exit(1);
  });
}
