import { DatasetError, type SourceRef } from './errors.js';
import type { DatasetRecord } from './records.js';

/** What formatting needs from a tokenizer (`@atelier/tokenizer`'s `Tokenizer` fits). */
export interface TokenizerLike {
  encode(text: string): ArrayLike<number>;
  readonly eosTokenId: number | undefined;
}

/**
 * A text template in two parts: the `prompt` (context the model reads; not in the loss) and the `completion`
 * (what the model must learn to write; in the loss). `{field}` placeholders name record fields
 * (`question`, `answer`, `context`, `title`, `instruction`, `input`, `output`, `text`).
 *
 * Put the space between prompt and answer at the START of the completion (`'A:'` + `' {answer}'`): GPT-2's
 * pre-tokeniser attaches a space to the following word, so the concatenated token ids then equal the ids of
 * the joined text, and a generation prompt ending in `'A:'` matches training.
 */
export interface PromptTemplate {
  name: string;
  prompt: string;
  completion: string;
}

/** `Q: question\nA: answer`. */
export const QA_TEMPLATE: PromptTemplate = {
  name: 'qa',
  prompt: 'Q: {question}\nA:',
  completion: ' {answer}',
};

/** Context + question → answer, for retrieval-augmented data (SQuAD paragraphs, retrieved passages). */
export const CONTEXT_QA_TEMPLATE: PromptTemplate = {
  name: 'context-qa',
  prompt: 'Context: {context}\nQuestion: {question}\nAnswer:',
  completion: ' {answer}',
};

/** The Stanford Alpaca instruction template (no input). */
export const ALPACA_TEMPLATE: PromptTemplate = {
  name: 'alpaca',
  prompt:
    'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n' +
    '### Instruction:\n{instruction}\n\n### Response:\n',
  completion: '{output}',
};

/** The Stanford Alpaca instruction template with an input. */
export const ALPACA_INPUT_TEMPLATE: PromptTemplate = {
  name: 'alpaca-input',
  prompt:
    'Below is an instruction that describes a task, paired with an input that provides further context. ' +
    'Write a response that appropriately completes the request.\n\n' +
    '### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n',
  completion: '{output}',
};

/** Plain text: everything is trained on. */
export const TEXT_TEMPLATE: PromptTemplate = { name: 'text', prompt: '', completion: '{text}' };

/** Options of {@link formatRecord}. */
export interface FormatOptions {
  /** Template for Q&A records without context (default {@link QA_TEMPLATE}). */
  qa?: PromptTemplate;
  /** Template for Q&A records with a context (default {@link CONTEXT_QA_TEMPLATE}). */
  contextQa?: PromptTemplate;
  /** Use the context template when a Q&A record has a context (default true). */
  useContext?: boolean;
  /** Templates for instruction records (default Alpaca, with and without input). */
  instruction?: PromptTemplate;
  instructionInput?: PromptTemplate;
  /** Template for text records (default {@link TEXT_TEMPLATE}). */
  text?: PromptTemplate;
  /** Put the prompt tokens in the loss too (default false: only the completion and EOS count). */
  trainOnPrompt?: boolean;
  /** Append EOS after each document (default true). It is in the loss, so the model learns to stop. */
  eos?: boolean;
  /**
   * Longest document in tokens (EOS included). A longer one loses tokens from the START of its prompt (a long
   * retrieval context keeps its end, next to the question), then, if the completion alone is too long, from
   * the end of the completion (EOS kept). Use the block size with `packDocuments({ align: 'document' })` to
   * keep every Q&A example whole in one row.
   */
  maxTokens?: number;
}

/**
 * A tokenised document: ids with a per-token loss mask (1 = the model is trained to predict this token).
 * Invariant: `ids.length === mask.length`.
 */
export interface FormattedDoc {
  ids: Int32Array;
  mask: Uint8Array;
  /** The formatted text (prompt + completion, without EOS). */
  text: string;
  /** Character length of the prompt part of `text`. */
  promptChars: number;
  /** Tokens removed to respect `maxTokens` (0 when the document fit). */
  truncated: number;
  source?: SourceRef;
}

/** Fills `{field}` placeholders from a record; a placeholder naming a missing field is an error. */
export function fillTemplate(template: string, record: DatasetRecord): string {
  return template.replace(/\{(\w+)\}/g, (_, field: string) => {
    const v = (record as unknown as Record<string, unknown>)[field];
    if (typeof v !== 'string') {
      throw new DatasetError(`template needs field "${field}" but the ${record.kind} record has none`, {
        ...record.source,
        field,
      });
    }
    return v;
  });
}

/** The template {@link formatRecord} uses for a record. */
export function templateFor(record: DatasetRecord, options: FormatOptions = {}): PromptTemplate {
  switch (record.kind) {
    case 'text':
      return options.text ?? TEXT_TEMPLATE;
    case 'qa':
      return record.context !== undefined && (options.useContext ?? true)
        ? (options.contextQa ?? CONTEXT_QA_TEMPLATE)
        : (options.qa ?? QA_TEMPLATE);
    case 'instruction':
      return record.input
        ? (options.instructionInput ?? ALPACA_INPUT_TEMPLATE)
        : (options.instruction ?? ALPACA_TEMPLATE);
  }
}

/**
 * Formats one record into token ids and a loss mask: prompt tokens 0 (not trained), completion tokens 1, then
 * EOS (1). Prompt and completion are encoded separately and concatenated, so the mask boundary is exact.
 */
export function formatRecord(
  record: DatasetRecord,
  tokenizer: TokenizerLike,
  options: FormatOptions = {},
): FormattedDoc {
  const t = templateFor(record, options);
  const prompt = t.prompt ? fillTemplate(t.prompt, record) : '';
  const completion = fillTemplate(t.completion, record);
  let p: ArrayLike<number> = prompt ? tokenizer.encode(prompt) : [];
  let c: ArrayLike<number> = tokenizer.encode(completion);
  const eos = options.eos ?? true;
  const eosId = tokenizer.eosTokenId;
  if (eos && eosId === undefined)
    throw new Error('formatRecord: the tokenizer has no EOS token; pass { eos: false }');
  let truncated = 0;
  const max = options.maxTokens;
  if (max !== undefined && p.length + c.length + (eos ? 1 : 0) > max) {
    const over = p.length + c.length + (eos ? 1 : 0) - max;
    const fromPrompt = Math.min(over, p.length);
    p = Array.from(p).slice(fromPrompt);
    c = Array.from(c).slice(0, Math.max(0, c.length - (over - fromPrompt)));
    truncated = over;
  }
  const n = p.length + c.length + (eos ? 1 : 0);
  const ids = new Int32Array(n);
  const mask = new Uint8Array(n);
  ids.set(p, 0);
  ids.set(c, p.length);
  mask.fill(options.trainOnPrompt ? 1 : 0, 0, p.length);
  mask.fill(1, p.length);
  if (eos) ids[n - 1] = eosId as number;
  return {
    ids,
    mask,
    text: prompt + completion,
    promptChars: prompt.length,
    truncated,
    source: record.source,
  };
}

/** Formats a stream of records (see {@link formatRecord}). */
export async function* formatRecords(
  records: AsyncIterable<DatasetRecord> | Iterable<DatasetRecord>,
  tokenizer: TokenizerLike,
  options: FormatOptions = {},
): AsyncGenerator<FormattedDoc> {
  for await (const r of records) yield formatRecord(r, tokenizer, options);
}

/**
 * The generation prompt for a record at inference time: the template's prompt part filled in (for a Q&A
 * record, `Q: <question>\nA:`), so serving matches training.
 */
export function promptFor(record: DatasetRecord, options: FormatOptions = {}): string {
  return fillTemplate(templateFor(record, options).prompt, record);
}
