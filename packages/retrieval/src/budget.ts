import type { SpanTokenizer } from './spans.js';

/** The three parts of a retrieval-augmented training example or prompt. */
export interface PromptParts {
  /** Instruction and/or question that precedes (or surrounds) the context. */
  prompt: string;
  /** Retrieved context chunk. */
  chunk: string;
  /** Target answer (empty at inference time). */
  answer: string;
}

export interface BudgetOptions {
  /** Model context size (GPT-2: n_positions = 1024). */
  nPositions: number;
  /** Tokens to keep free, e.g. for an end-of-text token or generation. Default 0. */
  reserve?: number;
  /**
   * Joins the parts into the final text. When given, the budget is checked on the joined text (BPE merges
   * across joins and template words count); default: parts are counted separately and concatenated.
   */
  render?: (parts: PromptParts) => string;
  /** Character span [start, end) inside `chunk` to keep if at all possible (e.g. where the answer is). */
  focus?: [number, number];
}

/** What fitPrompt removed, in tokens and as text. */
export interface BudgetCut {
  chunkTokens: number;
  answerTokens: number;
  promptTokens: number;
  /** Human-readable summary, '' when nothing was cut. */
  summary: string;
}

export interface BudgetResult {
  parts: PromptParts;
  /** Tokens of the final text (render(parts) or the parts' sum). */
  tokens: number;
  /** Token limit applied: nPositions − reserve. */
  limit: number;
  cut: BudgetCut;
}

/**
 * Makes prompt + chunk + answer fit the model's context. Cuts, in this order, until it fits:
 * the chunk (keeping `focus` if given, otherwise keeping its start; whole trailing/leading tokens), then the end
 * of the answer, then the start of the prompt (the question at its end is kept longest).
 * Throws if even empty chunk and answer plus one prompt token do not fit.
 */
export function fitPrompt(
  parts: PromptParts,
  tokenizer: SpanTokenizer,
  options: BudgetOptions,
): BudgetResult {
  const limit = options.nPositions - (options.reserve ?? 0);
  if (!(limit > 0)) throw new Error(`fitPrompt: nPositions − reserve must be > 0, got ${limit}`);
  const count = (p: PromptParts) =>
    options.render
      ? tokenizer.tokenSpans(options.render(p)).length
      : tokenizer.tokenSpans(p.prompt).length +
        tokenizer.tokenSpans(p.chunk).length +
        tokenizer.tokenSpans(p.answer).length;

  const cut = { chunkTokens: 0, answerTokens: 0, promptTokens: 0 };
  let cur = { ...parts };
  let tokens = count(cur);
  if (tokens <= limit) return { parts: cur, tokens, limit, cut: { ...cut, summary: '' } };

  // 1. Chunk: drop tokens, first the ones farther from the focus (or from the end).
  const chunkSpans = tokenizer.tokenSpans(cur.chunk);
  let lo = 0;
  let hi = chunkSpans.length;
  const [fs, fe] = options.focus ?? [0, 0];
  const dropOne = () => {
    // Drop from the side with more tokens outside the focus; without focus, from the end.
    const before = chunkSpans.slice(lo, hi).filter(([, e]) => e <= fs).length;
    const after = chunkSpans.slice(lo, hi).filter(([s]) => s >= fe).length;
    if (options.focus && before > after) lo++;
    else hi--;
  };
  while (tokens > limit && hi > lo) {
    // Take a big step first (the excess), then fine-tune one token at a time.
    const excess = Math.max(1, Math.min(tokens - limit, hi - lo) - 1);
    for (let i = 0; i < excess && hi > lo; i++) dropOne();
    const text = hi > lo ? parts.chunk.slice(chunkSpans[lo][0], chunkSpans[hi - 1][1]).trim() : '';
    cur = { ...cur, chunk: text };
    tokens = count(cur);
  }
  cut.chunkTokens = chunkSpans.length - (hi - lo);

  // 2. Answer: keep its start.
  if (tokens > limit) {
    const spans = tokenizer.tokenSpans(cur.answer);
    let n = spans.length;
    while (tokens > limit && n > 0) {
      n--;
      cur = { ...cur, answer: n > 0 ? parts.answer.slice(0, spans[n - 1][1]) : '' };
      tokens = count(cur);
    }
    cut.answerTokens = spans.length - n;
  }

  // 3. Prompt: keep its end.
  if (tokens > limit) {
    const spans = tokenizer.tokenSpans(cur.prompt);
    let first = 0;
    while (tokens > limit && first < spans.length - 1) {
      first++;
      cur = { ...cur, prompt: parts.prompt.slice(spans[first][0]).trimStart() };
      tokens = count(cur);
    }
    cut.promptTokens = first;
  }
  if (tokens > limit) {
    throw new Error(
      `fitPrompt: cannot fit ${tokens} tokens into ${limit} even after cutting chunk, answer and prompt`,
    );
  }
  const summary = [
    cut.chunkTokens ? `${cut.chunkTokens} chunk tokens` : '',
    cut.answerTokens ? `${cut.answerTokens} answer tokens` : '',
    cut.promptTokens ? `${cut.promptTokens} prompt tokens` : '',
  ]
    .filter(Boolean)
    .join(', ');
  return { parts: cur, tokens, limit, cut: { ...cut, summary: `cut ${summary} to fit ${limit}` } };
}
