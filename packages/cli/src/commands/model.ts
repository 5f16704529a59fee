import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { PackedDataset } from '@atelier/datasets';
import type { GPT2 } from '@atelier/gpt2';
import { evaluate, gpt2Trainable } from '@atelier/trainer';
import { type DataFormat, isPrepared, loaders, loadPrepared, prepareData } from '../data.js';
import { EXIT, type Io, UsageError } from '../io.js';
import { applyAdapter, mergeLora } from '../lora.js';
import { ensureBackend, loadModel, tokenizerFor } from '../models.js';

export interface ModelFlags {
  model: string;
  adapter?: string;
  backend?: string;
}

/** Load `--model` (dir, hub id or preset) and apply `--adapter` if given. */
export async function modelFromFlags(f: ModelFlags, io: Io): Promise<GPT2> {
  const info = await ensureBackend(f.backend);
  if (info.notice) io.stderr(`${info.notice}\n`);
  const model = await loadModel(f.model);
  model.tokenizer ??= tokenizerFor(existsSync(f.model) ? f.model : undefined);
  if (f.adapter) {
    if (!existsSync(f.adapter)) throw new UsageError(`--adapter: ${f.adapter} does not exist`);
    await applyAdapter(model, f.adapter);
  }
  return model;
}

/** `atelier eval`: validation loss and perplexity of a model (+ adapter) on a dataset. */
export async function evalCommand(
  f: ModelFlags & {
    data: string[];
    format: string;
    blockSize: number;
    batchSize: number;
    maxBatches?: number;
    json?: boolean;
  },
  io: Io,
): Promise<number> {
  const model = await modelFromFlags(f, io);
  try {
    const tok = model.tokenizer as never;
    const T = Math.min(f.blockSize, model.config.n_positions);
    // Prepared directories: their validation split. Raw files: every block (both halves of a 50/50 split).
    let sets: PackedDataset[];
    if (f.data.length === 1 && isPrepared(f.data[0])) sets = [(await loadPrepared(f.data[0])).validation];
    else {
      const d = await prepareData(f.data, {
        format: f.format as DataFormat,
        tokenizer: tok,
        blockSize: T,
        valFraction: 0.5,
        seed: 0,
      });
      sets = [d.train, d.validation];
    }
    let sum = 0;
    let tokens = 0;
    for (const set of sets) {
      const { val } = loaders({ train: set, validation: set }, f.batchSize, 0);
      const r = await evaluate(gpt2Trainable(model), val, {
        evalBatches: f.maxBatches ?? 0,
        samplePrompts: [],
        sampleMaxTokens: 1,
        sampleTemperature: 0,
        seed: 0,
      });
      sum += r.valLoss * r.tokens;
      tokens += r.tokens;
    }
    const loss = sum / tokens;
    const out = { loss, perplexity: Math.exp(loss), tokens };
    io.stdout(
      f.json
        ? `${JSON.stringify(out)}\n`
        : `loss ${loss.toFixed(4)}  perplexity ${out.perplexity.toFixed(2)}  tokens ${tokens}\n`,
    );
    return EXIT.ok;
  } finally {
    model.dispose();
  }
}

export interface GenerateFlags extends ModelFlags {
  promptFile?: string;
  maxNewTokens: number;
  temperature: number;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
  seed: number;
  stop?: string[];
  stream: boolean;
  json?: boolean;
}

/** `atelier generate`: continue a prompt; streams text pieces to stdout unless --no-stream or --json. */
export async function generateCommand(
  promptArg: string | undefined,
  f: GenerateFlags,
  io: Io,
): Promise<number> {
  let prompt = promptArg;
  if (f.promptFile) {
    if (prompt !== undefined) throw new UsageError('give a prompt or --prompt-file, not both');
    prompt = await readFile(f.promptFile, 'utf8').catch(() => {
      throw new UsageError(`--prompt-file: ${f.promptFile} not found`);
    });
  }
  if (prompt === undefined) throw new UsageError('no prompt: pass it as an argument or with --prompt-file');
  const model = await modelFromFlags(f, io);
  try {
    const options = {
      maxNewTokens: f.maxNewTokens,
      temperature: f.temperature,
      topK: f.topK,
      topP: f.topP,
      repetitionPenalty: f.repetitionPenalty,
      seed: f.seed,
      stop: f.stop,
    };
    let text = '';
    const started = performance.now();
    if (f.stream && !f.json) {
      for await (const piece of model.stream(prompt, options)) {
        text += piece;
        io.stdout(piece);
      }
    } else text = await model.generate(prompt, options);
    const seconds = (performance.now() - started) / 1000;
    if (f.json) io.stdout(`${JSON.stringify({ prompt, text, seconds })}\n`);
    else if (f.stream) io.stdout('\n');
    else io.stdout(`${text}\n`);
    return EXIT.ok;
  } finally {
    model.dispose();
  }
}

/** `atelier top-tokens`: the k most likely next tokens after a prompt, with logits and probabilities. */
export async function topTokensCommand(
  prompt: string,
  f: ModelFlags & { k: number; json?: boolean },
  io: Io,
): Promise<number> {
  const model = await modelFromFlags(f, io);
  try {
    const rows = model.topNextTokens(prompt, f.k);
    if (f.json) io.stdout(`${JSON.stringify({ prompt, top: rows })}\n`);
    else {
      for (const [i, r] of rows.entries()) {
        io.stdout(
          `${String(i + 1).padStart(3)}  ${JSON.stringify(r.token).padEnd(16)} id ${String(r.id).padEnd(6)} logit ${r.logit.toFixed(2).padStart(7)}  p ${r.prob.toFixed(4)}\n`,
        );
      }
    }
    return EXIT.ok;
  } finally {
    model.dispose();
  }
}

/** `atelier merge`: fold a LoRA adapter into its base model and save a plain model directory. */
export async function mergeCommand(f: ModelFlags & { out: string }, io: Io): Promise<number> {
  if (!f.adapter) throw new UsageError('merge needs --adapter <dir>');
  const model = await modelFromFlags(f, io);
  try {
    const merged = mergeLora(model);
    await merged.save(f.out);
    io.stdout(`merged model written to ${f.out}\n`);
    return EXIT.ok;
  } finally {
    model.dispose();
  }
}
