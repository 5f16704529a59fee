import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { type HubOptions, isHubId, snapshotDownload } from '@atelier/hub';
import { tf } from '@atelier/tensor';
import {
  type BertConfig,
  type BertWeights,
  bertForward,
  bertWeightsFromTensors,
  disposeBertWeights,
  l2Normalize,
  type PoolingMode,
  parseBertConfig,
  pool,
} from './bert.js';
import { stderrProgress } from './progress.js';
import { readSafetensors } from './safetensors.js';
import { WordPieceTokenizer } from './wordpiece.js';

/** Embeddings of N texts: row-major [N, dim] float32. */
export interface EmbeddingMatrix {
  data: Float32Array;
  rows: number;
  dim: number;
}

/** Hub options (endpoint, cacheDir, revision, token, progress, offline) plus model overrides. */
export interface LoadEmbedderOptions extends HubOptions {
  /** Override the maximum tokens per text (default: sentence_bert_config.json max_seq_length, else 512). */
  maxSeqLength?: number;
  /** Override L2 normalisation (default: true if modules.json lists Normalize or there is no modules.json). */
  normalize?: boolean;
}

export interface EmbedOptions {
  /** Texts per forward pass. Default 32. */
  batchSize?: number;
  /** Called after each batch with (texts done, total). */
  onProgress?: (done: number, total: number) => void;
  /** Show a progress line (rate, ETA) on stderr. Default false. */
  progress?: boolean;
}

/** Files a sentence-transformers BERT model directory may have; the first three are required. */
export const EMBEDDER_FILES = ['config.json', 'model.safetensors'] as const;
export const EMBEDDER_OPTIONAL_FILES = [
  'vocab.txt',
  'tokenizer.json',
  'tokenizer_config.json',
  'modules.json',
  'sentence_bert_config.json',
  '1_Pooling/config.json',
] as const;

/**
 * Sentence embeddings with a BERT encoder (sentence-transformers semantics: WordPiece, [CLS] … [SEP],
 * truncation to max_seq_length, attention mask, pooling (mean by default), L2 normalisation).
 * all-MiniLM-L6-v2 is the reference model.
 */
export class SentenceEmbedder {
  readonly config: BertConfig;
  readonly tokenizer: WordPieceTokenizer;
  readonly maxSeqLength: number;
  readonly pooling: PoolingMode;
  readonly normalize: boolean;
  /** Where the model was loaded from (directory or hub id). */
  readonly source: string;
  private weights: BertWeights | undefined;

  constructor(args: {
    config: BertConfig;
    weights: BertWeights;
    tokenizer: WordPieceTokenizer;
    maxSeqLength: number;
    pooling?: PoolingMode;
    normalize?: boolean;
    source?: string;
  }) {
    this.config = args.config;
    this.weights = args.weights;
    this.tokenizer = args.tokenizer;
    this.maxSeqLength = Math.min(args.maxSeqLength, args.config.maxPositions);
    this.pooling = args.pooling ?? 'mean';
    this.normalize = args.normalize ?? true;
    this.source = args.source ?? '(memory)';
  }

  /** Embedding width (hidden size). */
  get dim(): number {
    return this.config.hiddenSize;
  }

  /**
   * Loads from a local directory or a Hugging Face hub id (e.g. "sentence-transformers/all-MiniLM-L6-v2"),
   * downloading through @atelier/hub's cache. Needs config.json, model.safetensors and vocab.txt or tokenizer.json.
   */
  static async load(source: string, options: LoadEmbedderOptions = {}): Promise<SentenceEmbedder> {
    let dir = source;
    if (!existsSync(source)) {
      if (isAbsolute(source) || /^\.\.?[\\/]/.test(source))
        throw new Error(`${source}: model directory not found`);
      if (!isHubId(source))
        throw new Error(`SentenceEmbedder.load: "${source}" is neither a directory nor a hub id`);
      const { maxSeqLength: _m, normalize: _n, ...hub } = options;
      dir = await snapshotDownload(source, [...EMBEDDER_FILES], {
        ...hub,
        optional: [...EMBEDDER_OPTIONAL_FILES],
      });
    }
    return SentenceEmbedder.fromDirectory(dir, options, source);
  }

  /** Loads from a local model directory (see load). */
  static async fromDirectory(
    dir: string,
    options: LoadEmbedderOptions = {},
    source = dir,
  ): Promise<SentenceEmbedder> {
    const file = (name: string) => join(dir, name);
    const readJson = async (name: string): Promise<unknown> => {
      if (!existsSync(file(name))) return undefined;
      try {
        return JSON.parse(await readFile(file(name), 'utf8'));
      } catch (e) {
        throw new Error(`${file(name)}: invalid JSON (${(e as Error).message})`);
      }
    };
    const rawConfig = await readJson('config.json');
    if (rawConfig === undefined) throw new Error(`${file('config.json')}: not found`);
    const config = parseBertConfig(rawConfig, file('config.json'));
    if (!existsSync(file('model.safetensors'))) throw new Error(`${file('model.safetensors')}: not found`);
    const { tensors } = await readSafetensors(file('model.safetensors'));
    const tokConfig = ((await readJson('tokenizer_config.json')) ?? {}) as Record<string, unknown>;
    const tokOptions = {
      lowercase: (tokConfig.do_lower_case as boolean | undefined) ?? undefined,
      stripAccents: (tokConfig.strip_accents as boolean | null | undefined) ?? undefined,
      tokenizeChineseChars: (tokConfig.tokenize_chinese_chars as boolean | undefined) ?? undefined,
    };
    let tokenizer: WordPieceTokenizer;
    const tokJson = await readJson('tokenizer.json');
    if (tokJson !== undefined)
      tokenizer = WordPieceTokenizer.fromTokenizerJson(tokJson, tokOptions, file('tokenizer.json'));
    else if (existsSync(file('vocab.txt'))) {
      tokenizer = WordPieceTokenizer.fromVocabText(
        await readFile(file('vocab.txt'), 'utf8'),
        tokOptions,
        file('vocab.txt'),
      );
    } else throw new Error(`${dir}: neither tokenizer.json nor vocab.txt found`);
    if (tokenizer.idToToken.length > config.vocabSize) {
      throw new Error(
        `${dir}: tokenizer has ${tokenizer.idToToken.length} tokens but config.json vocab_size is ${config.vocabSize}`,
      );
    }

    const stConfig = ((await readJson('sentence_bert_config.json')) ?? {}) as Record<string, unknown>;
    const modules = (await readJson('modules.json')) as Array<{ type?: string; path?: string }> | undefined;
    const poolingPath = modules?.find((m) => m.type?.endsWith('Pooling'))?.path ?? '1_Pooling';
    const poolConfig = ((await readJson(join(poolingPath, 'config.json'))) ?? {}) as Record<string, unknown>;
    const pooling: PoolingMode = poolConfig.pooling_mode_cls_token
      ? 'cls'
      : poolConfig.pooling_mode_max_tokens
        ? 'max'
        : poolConfig.pooling_mode_mean_sqrt_len_tokens
          ? 'mean_sqrt_len'
          : 'mean';
    const normalize =
      options.normalize ?? (modules ? modules.some((m) => m.type?.endsWith('Normalize')) : true);
    const maxSeqLength =
      options.maxSeqLength ??
      (stConfig.max_seq_length as number | undefined) ??
      Math.min((tokConfig.model_max_length as number | undefined) ?? 512, config.maxPositions);
    const weights = bertWeightsFromTensors(tensors, config, file('model.safetensors'));
    return new SentenceEmbedder({ config, weights, tokenizer, maxSeqLength, pooling, normalize, source });
  }

  /** Token embeddings of one padded batch, [B, T, H] (for tests and custom pooling). */
  hiddenStates(texts: readonly string[]): { hidden: tf.Tensor3D; attentionMask: number[][] } {
    const { inputIds, attentionMask } = this.tokenizer.encodeBatch(texts, this.maxSeqLength);
    return { hidden: bertForward(this.live(), this.config, inputIds, attentionMask), attentionMask };
  }

  /**
   * Embeds texts in batches (sorted by length so padding is small, results in input order).
   * Returns a [N, dim] matrix; rows are unit length when `normalize`.
   */
  async embed(texts: readonly string[], options: EmbedOptions = {}): Promise<EmbeddingMatrix> {
    const batchSize = options.batchSize ?? 32;
    const bar = options.progress ? stderrProgress('embedding', 'texts') : undefined;
    const dim = this.dim;
    const out = new Float32Array(texts.length * dim);
    const lengths = texts.map((t) => t.length);
    const order = texts.map((_, i) => i).sort((a, b) => lengths[b] - lengths[a]);
    for (let s = 0; s < order.length; s += batchSize) {
      const idx = order.slice(s, s + batchSize);
      const rows = tf.tidy(() => {
        const { hidden, attentionMask } = this.hiddenStates(idx.map((i) => texts[i]));
        const pooled = pool(hidden, attentionMask, this.pooling);
        return this.normalize ? l2Normalize(pooled) : pooled;
      });
      const data = (await rows.data()) as Float32Array;
      rows.dispose();
      for (let r = 0; r < idx.length; r++) out.set(data.subarray(r * dim, (r + 1) * dim), idx[r] * dim);
      const done = Math.min(s + batchSize, order.length);
      options.onProgress?.(done, order.length);
      bar?.(done, order.length);
    }
    return { data: out, rows: texts.length, dim };
  }

  /** Frees the weights; the embedder cannot be used afterwards. */
  dispose(): void {
    if (this.weights) disposeBertWeights(this.weights);
    this.weights = undefined;
  }

  private live(): BertWeights {
    if (!this.weights) throw new Error('SentenceEmbedder: used after dispose()');
    return this.weights;
  }
}
