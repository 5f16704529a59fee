/**
 * Text generation with the KV cache: greedy or sampled (temperature, top-k, top-p), repetition penalty,
 * stop sequences and EOS, batches of prompts (left-padded), streaming. Logit processing follows Hugging Face
 * `generate` (repetition penalty, then temperature, top-k, top-p), on the host in float32.
 */
import { tf } from '@atelier/tensor';
import type { GPT2, TextTokenizer } from './model.js';

export interface GenerateOptions {
  /** Tokens to generate at most (default 50). */
  maxNewTokens?: number;
  /** Sample instead of taking the argmax. Default: true when temperature > 0, topK or topP is given. */
  doSample?: boolean;
  /** Softmax temperature (default 1). 0 means greedy. */
  temperature?: number;
  /** Keep only the k most likely tokens before sampling. */
  topK?: number;
  /** Nucleus sampling: keep the smallest set of top tokens whose probability sums to ≥ topP. */
  topP?: number;
  /** HF repetition penalty (> 1 discourages tokens already in the prompt or output; 1 = off). */
  repetitionPenalty?: number;
  /** Stop when the generated text contains any of these; the text is cut before it. */
  stop?: string[];
  /** End-of-text id that ends a sequence (not included in the text). Default: config.eos_token_id; null: none. */
  eosTokenId?: number | null;
  /** Seed of the sampling PRNG (default 0): the same seed and options give the same text. */
  seed?: number;
}

/** Why a sequence stopped. */
export type FinishReason = 'eos' | 'stop' | 'length';

export interface Generation {
  /** The generated continuation (prompt not included), cut before a stop sequence. */
  text: string;
  /** Generated token ids (EOS not included). */
  tokens: number[];
  finishReason: FinishReason;
}

export interface TopToken {
  /** Decoded text of the token (e.g. " the"). */
  token: string;
  id: number;
  logit: number;
  /** Softmax probability at temperature 1. */
  prob: number;
}

/** mulberry32: a small, fast, well-distributed 32-bit PRNG (public domain), so sampling is reproducible. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Resolved {
  maxNewTokens: number;
  sample: boolean;
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
  stop: string[];
  eos: number | null;
  seed: number;
}

function resolve(o: GenerateOptions, defaultEos: number): Resolved {
  const temperature = o.temperature ?? 1;
  const sample =
    temperature === 0
      ? false
      : (o.doSample ?? (o.temperature !== undefined || o.topK !== undefined || o.topP !== undefined));
  const r: Resolved = {
    maxNewTokens: o.maxNewTokens ?? 50,
    sample,
    temperature,
    topK: o.topK ?? 0,
    topP: o.topP ?? 1,
    repetitionPenalty: o.repetitionPenalty ?? 1,
    stop: (o.stop ?? []).filter((s) => s.length > 0),
    eos: o.eosTokenId === undefined ? defaultEos : o.eosTokenId,
    seed: o.seed ?? 0,
  };
  if (!Number.isInteger(r.maxNewTokens) || r.maxNewTokens < 0)
    throw new Error(`maxNewTokens must be an integer ≥ 0, got ${o.maxNewTokens}`);
  if (!(r.temperature >= 0)) throw new Error(`temperature must be ≥ 0, got ${o.temperature}`);
  if (!Number.isInteger(r.topK) || r.topK < 0) throw new Error(`topK must be an integer ≥ 0, got ${o.topK}`);
  if (!(r.topP > 0 && r.topP <= 1)) throw new Error(`topP must be in (0, 1], got ${o.topP}`);
  if (!(r.repetitionPenalty > 0))
    throw new Error(`repetitionPenalty must be > 0, got ${o.repetitionPenalty}`);
  return r;
}

/** HF RepetitionPenaltyLogitsProcessor: seen tokens' logits divided by p when positive, multiplied when negative. */
export function applyRepetitionPenalty(logits: Float32Array, seen: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  for (const id of new Set(seen)) {
    const l = logits[id];
    logits[id] = l < 0 ? l * penalty : l / penalty;
  }
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/**
 * Picks the next token from one row of logits (modified in place): greedy, or temperature → top-k → top-p →
 * sample, as HF's TemperatureLogitsWarper, TopKLogitsWarper and TopPLogitsWarper.
 */
export function pickToken(
  logits: Float32Array,
  o: Pick<Resolved, 'sample' | 'temperature' | 'topK' | 'topP'>,
  rand: () => number,
): number {
  if (!o.sample) return argmax(logits);
  const V = logits.length;
  for (let i = 0; i < V; i++) logits[i] /= o.temperature;
  // candidates sorted by logit, descending (ties: lower id first, deterministic)
  let order = Array.from({ length: V }, (_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b);
  if (o.topK > 0 && o.topK < V) {
    const kth = logits[order[o.topK - 1]];
    order = order.filter((i) => logits[i] >= kth); // HF keeps ties with the k-th value
  }
  const max = logits[order[0]];
  const probs = order.map((i) => Math.exp(logits[i] - max));
  let total = probs.reduce((a, b) => a + b, 0);
  if (o.topP < 1) {
    let cum = 0;
    let keep = 0;
    while (keep < probs.length) {
      cum += probs[keep] / total;
      keep++;
      if (cum >= o.topP) break;
    }
    order = order.slice(0, keep);
    probs.length = keep;
    total = probs.reduce((a, b) => a + b, 0);
  }
  let u = rand() * total;
  for (let j = 0; j < order.length; j++) {
    u -= probs[j];
    if (u < 0) return order[j];
  }
  return order[order.length - 1];
}

/**
 * The decoding loop: yields, per step, the token chosen for each row (−1 once a row has finished).
 * Rows are left-padded; the KV cache is freed when the generator finishes or is abandoned.
 */
export function* decodeTokens(
  model: GPT2,
  prompts: number[][],
  options: GenerateOptions,
  isStopped: (row: number, token: number) => boolean = () => false,
): Generator<number[], FinishReason[]> {
  const o = resolve(options, model.config.eos_token_id);
  const B = prompts.length;
  if (B === 0) return [];
  prompts.forEach((p, i) => {
    if (p.length === 0)
      throw new Error(`prompt ${i} is empty (encode at least one token, e.g. the EOS token)`);
  });
  const T = Math.max(...prompts.map((p) => p.length));
  if (T + o.maxNewTokens > model.config.n_positions) {
    throw new Error(
      `prompt (${T} tokens) + maxNewTokens (${o.maxNewTokens}) exceeds the context of ${model.config.n_positions} positions`,
    );
  }
  const pad = model.config.eos_token_id;
  const ids = prompts.map((p) => [...Array(T - p.length).fill(pad), ...p]);
  const mask = prompts.map((p) => [...Array(T - p.length).fill(0), ...Array(p.length).fill(1)]);
  const seen = prompts.map((p) => [...p]);
  const finish: FinishReason[] = Array(B).fill('length');
  const done = Array(B).fill(false);
  const rand = mulberry32(o.seed);
  if (o.maxNewTokens === 0) return finish;
  let { logits, cache } = model.prefill(ids, mask);
  try {
    for (let step = 0; step < o.maxNewTokens; step++) {
      const rows = logits.dataSync() as Float32Array;
      logits.dispose();
      const V = rows.length / B;
      const chosen: number[] = [];
      for (let b = 0; b < B; b++) {
        if (done[b]) {
          chosen.push(-1);
          continue;
        }
        const row = rows.slice(b * V, (b + 1) * V);
        applyRepetitionPenalty(row, seen[b], o.repetitionPenalty);
        const tok = pickToken(row, o, rand);
        if (o.eos !== null && tok === o.eos) {
          done[b] = true;
          finish[b] = 'eos';
          chosen.push(-1);
          continue;
        }
        seen[b].push(tok);
        chosen.push(tok);
        if (isStopped(b, tok)) {
          done[b] = true;
          finish[b] = 'stop';
        }
      }
      yield chosen;
      if (done.every(Boolean) || step === o.maxNewTokens - 1) break;
      logits = model.decodeStep(
        chosen.map((t) => (t < 0 ? pad : t)),
        cache,
      );
    }
  } finally {
    if (!logits.isDisposed) logits.dispose();
    cache.dispose();
  }
  return finish;
}

/** Index where the earliest stop sequence starts in `text`, or −1. */
export function findStop(text: string, stop: string[]): number {
  let at = -1;
  for (const s of stop) {
    const i = text.indexOf(s);
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at;
}

/** Length of the longest suffix of `text` that is a proper prefix of some stop sequence (held back when streaming). */
function heldBack(text: string, stop: string[]): number {
  let keep = 0;
  for (const s of stop) {
    for (let n = Math.min(s.length - 1, text.length); n > keep; n--) {
      if (text.endsWith(s.slice(0, n))) {
        keep = n;
        break;
      }
    }
  }
  return keep;
}

function requireTokenizer(model: GPT2): TextTokenizer {
  if (!model.tokenizer) {
    throw new Error(
      'this model has no tokenizer: pass one to fromConfig({ tokenizer }) or set model.tokenizer',
    );
  }
  return model.tokenizer;
}

/** Generates continuations of text prompts (one generation per prompt). */
export function generateText(model: GPT2, prompts: string[], options: GenerateOptions): Generation[] {
  const tok = requireTokenizer(model);
  const stop = (options.stop ?? []).filter((s) => s.length > 0);
  const tokens: number[][] = prompts.map(() => []);
  const texts = prompts.map(() => '');
  const decoders = prompts.map(() => streamDecoder(tok));
  const stopAt = prompts.map(() => -1);
  const it = decodeTokens(
    model,
    prompts.map((p) => tok.encode(p)),
    options,
    (b, t) => {
      tokens[b].push(t);
      if (stop.length === 0) return false;
      texts[b] += decoders[b].write(t);
      stopAt[b] = findStop(texts[b], stop);
      return stopAt[b] >= 0;
    },
  );
  let r = it.next();
  while (!r.done) r = it.next();
  const finish = r.value;
  return prompts.map((_, b) => {
    const full = stopAt[b] >= 0 ? texts[b] : tok.decode(tokens[b]);
    return {
      text: stopAt[b] >= 0 ? full.slice(0, stopAt[b]) : full,
      tokens: tokens[b],
      finishReason: finish[b],
    };
  });
}

/** Text pieces of one generation as they are produced (whole characters; stop sequences never shown). */
export async function* streamText(
  model: GPT2,
  prompt: string,
  options: GenerateOptions,
): AsyncGenerator<string> {
  const tok = requireTokenizer(model);
  const stop = (options.stop ?? []).filter((s) => s.length > 0);
  const dec = streamDecoder(tok);
  let text = '';
  let emitted = 0;
  let stopped = -1;
  const it = decodeTokens(model, [tok.encode(prompt)], options, (_b, t) => {
    text += dec.write(t);
    stopped = findStop(text, stop);
    return stopped >= 0;
  });
  try {
    for (let r = it.next(); !r.done; r = it.next()) {
      const end = stopped >= 0 ? stopped : text.length - heldBack(text, stop);
      if (end > emitted) {
        yield text.slice(emitted, end);
        emitted = end;
      }
      await new Promise((res) => setImmediate(res)); // let the event loop breathe between tokens
    }
  } finally {
    it.return?.([]);
  }
  if (stopped < 0) {
    text += dec.flush();
    if (text.length > emitted) yield text.slice(emitted);
  }
}

/** The k most likely next tokens after a prompt, with logits and probabilities. */
export function topNextTokens(model: GPT2, prompt: string | number[], k: number): TopToken[] {
  const ids = typeof prompt === 'string' ? requireTokenizer(model).encode(prompt) : prompt;
  const logits = tf.tidy(() => {
    const all = model.forward([ids]);
    const T = ids.length;
    return tf.reshape(tf.slice(all, [0, T - 1, 0], [1, 1, model.config.vocab_size]), [-1]);
  });
  const row = logits.dataSync() as Float32Array;
  logits.dispose();
  let max = Number.NEGATIVE_INFINITY;
  for (const v of row) if (v > max) max = v;
  let z = 0;
  for (const v of row) z += Math.exp(v - max);
  const order = Array.from({ length: row.length }, (_, i) => i)
    .sort((a, b) => row[b] - row[a] || a - b)
    .slice(0, k);
  return order.map((id) => ({
    token: model.tokenizer ? model.tokenizer.decode([id]) : String(id),
    id,
    logit: row[id],
    prob: Math.exp(row[id] - max) / z,
  }));
}

/** The tokenizer's stream decoder when it has one, else decode-the-whole-prefix. */
function streamDecoder(tok: TextTokenizer): { write(id: number): string; flush(): string } {
  const withStream = tok as TextTokenizer & {
    createStreamDecoder?: () => { write(ids: number): string; flush(): string };
  };
  if (withStream.createStreamDecoder) return withStream.createStreamDecoder();
  const ids: number[] = [];
  let shown = '';
  return {
    write(id) {
      ids.push(id);
      const t = tok.decode(ids);
      const safe = t.endsWith('\uFFFD') ? t.slice(0, -1) : t;
      const piece = safe.slice(shown.length);
      shown = safe;
      return piece;
    },
    flush() {
      const t = tok.decode(ids);
      const piece = t.slice(shown.length);
      shown = t;
      return piece;
    },
  };
}
