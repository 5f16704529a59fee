import type { CleanReport } from './clean.js';
import type { TokenDoc } from './pack.js';

/** What is being trained: from scratch, all weights fine-tuned, or a low-rank adapter. */
export type TrainingMode = 'pretrain' | 'finetune' | 'lora';

/** Options of {@link datasetStats}. */
export interface StatsOptions {
  /** Parameters of the model (GPT-2 small: 124,439,808). */
  parameters?: number;
  /** Parameters actually trained (LoRA adapters); default `parameters`. */
  trainableParameters?: number;
  mode?: TrainingMode;
  /** The cleaning report, for duplicate and template rates. */
  clean?: CleanReport;
}

/** Corpus statistics and warnings. */
export interface DatasetStats {
  records: number;
  tokens: number;
  /** Tokens in the loss (mask 1). */
  trainedTokens: number;
  uniqueTokens: number;
  meanTokensPerRecord: number;
  duplicateRate?: number;
  templateRate?: number;
  /** trainedTokens / trainable parameters. */
  tokensPerParameter?: number;
  warnings: string[];
}

/**
 * Tokens per trainable parameter below which a warning is raised, by mode. Pre-training: Hoffmann et al. (2022,
 * "Chinchilla") find ~20 tokens per parameter compute-optimal; we warn below 1/10 of that. Full fine-tuning
 * adapts all weights of a pre-trained model, so far fewer tokens do, but below ~0.01 tokens per parameter
 * (1.2 M tokens for GPT-2 small) a full fine-tune mostly memorises or stalls (this project's advice run stalled
 * at loss 5 on ~0.2 M tokens). LoRA trains ~0.1–1 % of the weights; warn below 1 token per adapter parameter.
 * These are heuristics, stated with their numbers in the message.
 */
export const MIN_TOKENS_PER_PARAMETER: Record<TrainingMode, number> = {
  pretrain: 2,
  finetune: 0.01,
  lora: 1,
};

function fmt(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(Math.round(n));
}

/** The token-budget warning for a corpus and model, or null when the budget looks sufficient. */
export function tokenBudgetWarning(
  trainedTokens: number,
  trainableParameters: number,
  mode: TrainingMode,
): string | null {
  const need = MIN_TOKENS_PER_PARAMETER[mode];
  const ratio = trainedTokens / trainableParameters;
  if (ratio >= need) return null;
  const wanted = need * trainableParameters;
  return (
    `only ${fmt(trainedTokens)} trained tokens for ${fmt(trainableParameters)} trainable parameters ` +
    `(${ratio.toPrecision(2)} tokens/parameter; ${mode} wants ≥ ${need}, i.e. ≥ ${fmt(wanted)} tokens): ` +
    (mode === 'pretrain'
      ? 'a model trained from scratch on this little text will not learn the language; fine-tune a pre-trained model instead'
      : mode === 'finetune'
        ? 'expect the loss to plateau or the model to memorise; collect more data, or train a LoRA adapter'
        : 'collect more data or lower the adapter rank')
  );
}

/** Records, tokens, unique tokens, duplicate/template rates and warnings for a formatted corpus. */
export async function datasetStats(
  docs: AsyncIterable<TokenDoc> | Iterable<TokenDoc>,
  options: StatsOptions = {},
): Promise<DatasetStats> {
  let records = 0;
  let tokens = 0;
  let trained = 0;
  const unique = new Set<number>();
  for await (const d of docs) {
    records++;
    tokens += d.ids.length;
    for (let i = 0; i < d.ids.length; i++) {
      unique.add(d.ids[i]);
      if (!d.mask || d.mask[i]) trained++;
    }
  }
  const stats: DatasetStats = {
    records,
    tokens,
    trainedTokens: trained,
    uniqueTokens: unique.size,
    meanTokensPerRecord: records ? tokens / records : 0,
    warnings: [],
  };
  if (options.clean) {
    stats.duplicateRate = options.clean.duplicateRate;
    stats.templateRate = options.clean.templateRate;
    if (options.clean.duplicateRate > 0.1) {
      stats.warnings.push(
        `${(options.clean.duplicateRate * 100).toFixed(1)}% of records were duplicates or near-duplicates: check the source`,
      );
    }
    if (options.clean.templateRate > 0.2) {
      const top = options.clean.topFrames[0];
      stats.warnings.push(
        `${(options.clean.templateRate * 100).toFixed(1)}% of records look template-generated` +
          (top ? ` (top frame "${top.frame}" × ${top.count})` : '') +
          ': a model trained on them learns the template',
      );
    }
  }
  const params = options.trainableParameters ?? options.parameters;
  if (params) {
    stats.tokensPerParameter = trained / params;
    const w = tokenBudgetWarning(trained, params, options.mode ?? 'finetune');
    if (w) stats.warnings.push(w);
  }
  if (records === 0) stats.warnings.push('no records: nothing to train on');
  return stats;
}
