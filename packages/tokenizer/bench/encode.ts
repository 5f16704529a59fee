/**
 * Encode throughput (MB/s of UTF-8 input) on the shared corpus: @atelier/tokenizer vs js-tiktoken vs
 * gpt-3-encoder, in one run. `pnpm --filter @atelier/tokenizer bench` (needs ../shared/data).
 *
 * `first pass` = a fresh instance encoding the corpus once, its word cache filling as it goes.
 */
import { createRequire } from 'node:module';
import { getEncoding } from 'js-tiktoken';
import { loadSharedCorpus } from '../src/corpus.js';
import { Tokenizer } from '../src/index.js';

const require = createRequire(import.meta.url);
const gpt3 = require('gpt-3-encoder') as { encode(text: string): number[] };

const corpus = loadSharedCorpus();
if (corpus.length === 0) {
  console.error('bench: ../shared/data not found; nothing to measure');
  process.exit(1);
}
/** The corpus cut into ~16 KB chunks at line ends (gpt-3-encoder is quadratic in input length). */
const texts: string[] = [];
for (const { text } of corpus) {
  for (let i = 0; i < text.length; ) {
    const cut = text.indexOf('\n', i + 16_000);
    const end = cut < 0 ? text.length : cut + 1;
    texts.push(text.slice(i, end));
    i = end;
  }
}
const sizes = texts.map((t) => Buffer.byteLength(t));
const bytes = sizes.reduce((a, b) => a + b, 0);
const passes = Number(process.env.BENCH_PASSES ?? 3);
const budgetMs = Number(process.env.BENCH_BUDGET_MS ?? 8000);

/**
 * MB/s of `encode` over the corpus: a warm-up pass (≤ 2 s), then up to `passes` passes over all chunks, stopping early once `budgetMs` is spent (gpt-3-encoder is slow); rate = bytes done / time.
 */
function measure(name: string, encode: (t: string) => number[], maxPasses = passes): number {
  if (maxPasses > 1) {
    // Warm-up: one pass (JIT; our word cache), capped at 2 s for the slow encoders.
    const w0 = performance.now();
    for (const t of texts) {
      encode(t);
      if (performance.now() - w0 > 2000) break;
    }
  }
  let done = 0;
  let tokens = 0;
  global.gc?.();
  const t0 = performance.now();
  outer: for (let p = 0; p < maxPasses; p++) {
    for (let i = 0; i < texts.length; i++) {
      tokens += encode(texts[i]).length;
      done += sizes[i];
      if (performance.now() - t0 > budgetMs) break outer;
    }
  }
  const ms = performance.now() - t0;
  const mbs = done / 1e6 / (ms / 1000);
  console.log(
    `${name.padEnd(34)} ${mbs.toFixed(2).padStart(7)} MB/s  ${(done / 1e6).toFixed(1).padStart(5)} MB in ${(ms / 1000).toFixed(1)} s  ${tokens} tokens`,
  );
  return mbs;
}

console.log(
  `corpus: ${corpus.length} files in ${texts.length} chunks, ${(bytes / 1e6).toFixed(2)} MB UTF-8; up to ${passes} passes or ${budgetMs / 1000} s per encoder\n`,
);
const tok = Tokenizer.gpt2();
// First pass of a fresh instance: the word cache starts empty and fills as it goes.
const fresh = new Tokenizer({
  vocab: tok.model.encoder,
  merges: tok.model.merges,
  specialTokens: tok.specialTokens,
});
const oursCold = measure('@atelier/tokenizer (first pass)', (t) => fresh.encode(t), 1);
const ours = measure('@atelier/tokenizer', (t) => tok.encode(t));
const tik = getEncoding('gpt2');
const tiktoken = measure('js-tiktoken 1.x (gpt2)', (t) => tik.encode(t, [], []));
const g3 = measure('gpt-3-encoder', (t) => gpt3.encode(t));

console.log('');
console.log(
  `ours / js-tiktoken:   ${(ours / tiktoken).toFixed(2)}x (first pass ${(oursCold / tiktoken).toFixed(2)}x)`,
);
console.log(`ours / gpt-3-encoder: ${(ours / g3).toFixed(2)}x`);
