import { readFile } from 'node:fs/promises';
import { TrainConfigSchema } from '@atelier/trainer';
import { z } from 'zod';
import { DATA_FORMATS } from './data.js';
import { UsageError } from './io.js';

/** LoRA settings of a run (PEFT LoraConfig names). */
export const LoraSchema = z
  .object({
    r: z.number().int().positive().default(8),
    alpha: z.number().positive().default(16),
    dropout: z.number().min(0).lt(1).default(0.05),
    targetModules: z.array(z.string()).default(['c_attn']),
  })
  .strict();

/**
 * `atelier train` configuration: what to train (model, data, LoRA), how the data is cut (blockSize,
 * batchSize, valFraction), where outputs go, and the trainer's own settings under `training`.
 */
export const RunConfigSchema = z
  .object({
    /** Preset (tiny | small | base, from scratch), model directory, or hub id. */
    model: z.string().min(1).default('tiny'),
    /** Data files (text, Markdown, Gutenberg, JSONL, CSV, SQuAD, Reddit) or a directory from `atelier prepare`. */
    data: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    format: z.enum(DATA_FORMATS).default('auto'),
    valFraction: z.number().gt(0).lt(1).default(0.1),
    blockSize: z.number().int().min(2).default(64),
    batchSize: z.number().int().positive().default(8),
    /** Run directory (checkpoints, metrics.jsonl, report.html). */
    out: z.string().min(1),
    backend: z.enum(['auto', 'webgpu', 'cpu', 'wasm', 'native']).default('auto'),
    /** false for full fine-tuning (or training from scratch); settings for LoRA. */
    lora: z.union([z.literal(false), LoraSchema]).default(false),
    training: TrainConfigSchema,
  })
  .strict();

export type RunConfig = z.output<typeof RunConfigSchema>;

/** Deep merge of plain objects (later wins; arrays replaced). */
export function merge(...layers: Record<string, unknown>[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) {
      if (v === undefined) continue;
      const prev = out[k];
      out[k] =
        v &&
        typeof v === 'object' &&
        !Array.isArray(v) &&
        prev &&
        typeof prev === 'object' &&
        !Array.isArray(prev)
          ? merge(prev as Record<string, unknown>, v as Record<string, unknown>)
          : v;
    }
  }
  return out;
}

/** Validate a merged run config; a bad field is a usage error naming it. */
export function parseRunConfig(input: unknown, source: string): RunConfig {
  const r = RunConfigSchema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue.path.length ? issue.path.join('.') : '(root)';
  throw new UsageError(`${source}: ${field}: ${issue.message}`);
}

/** Read a JSON config file (usage error naming the file when missing or invalid). */
export async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  let raw: string;
  try {
    raw = await readFile(path, 'utf8');
  } catch {
    throw new UsageError(`config file not found: ${path}`);
  }
  try {
    const v = JSON.parse(raw);
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    return v;
  } catch (e) {
    throw new UsageError(`${path}: invalid JSON: ${(e as Error).message}`);
  }
}
