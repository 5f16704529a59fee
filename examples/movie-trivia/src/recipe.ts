import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { GPT2, type GPT2Config } from '@atelier/gpt2';
import { applyLora, loadAdapter, saveAdapter, trainableParameters } from '@atelier/lora';
import {
  Bm25Index,
  buildTriplets,
  type ChunkOptions,
  chunkDocuments,
  exactMatch,
  firstRelevantRank,
  meanReciprocalRank,
  normalizeAnswer,
  type QaRecord,
  recallAtK,
  spanTokenizer,
  type Triplet,
  tokenF1,
} from '@atelier/retrieval';
import { initBackend } from '@atelier/tensor';
import { Tokenizer } from '@atelier/tokenizer';
import {
  gpt2Trainable,
  parseTrainConfig,
  readMetrics,
  renderReport,
  rowsBatchSource,
  type TrainConfigInput,
  train,
  writeFileAtomic,
} from '@atelier/trainer';

/** Hyper-parameters of the recipe (config.json). */
export interface TriviaConfig {
  /** `scratch` (random init with `scratch`'s shape) or a pretrained hub id / directory (`gpt2`, `distilgpt2`). */
  model: string;
  scratch: Partial<GPT2Config>;
  /** Hub endpoint for pretrained models (HF_ENDPOINT otherwise). */
  hubEndpoint?: string;
  /** Download cache for pretrained models (ATELIER_CACHE_DIR / HF_HUB_CACHE otherwise). */
  hubCacheDir?: string;
  chunk: ChunkOptions;
  /** k of recall@k. */
  k: number;
  validationFraction: number;
  /** Row length T in tokens (prompt + answer, padded). */
  blockSize: number;
  batchSize: number;
  lora: { r: number; alpha: number; dropout: number; targetModules: string | string[] };
  training: TrainConfigInput;
  maxAnswerTokens: number;
  /** Score at most this many validation questions (generation is the slow part). */
  maxEvalQuestions: number;
  seed: number;
}

/** The prompt the model learns to complete; `context` null gives the question-only prompt. */
export function formatPrompt(question: string, context: string | null): string {
  return context === null
    ? `Question: ${question}\nAnswer:`
    : `Context: ${context}\nQuestion: ${question}\nAnswer:`;
}

/** Step 1: chunk every distinct document and rank chunks of the whole corpus with BM25 for each question. */
export function retrievalRecall(
  records: readonly QaRecord[],
  tok: Tokenizer,
  chunk: ChunkOptions,
  k: number,
) {
  const docIds = new Map<string, string>();
  for (const r of records) if (!docIds.has(r.context)) docIds.set(r.context, `doc${docIds.size}`);
  const chunks = chunkDocuments(
    [...docIds].map(([text, id]) => ({ id, text })),
    spanTokenizer(tok),
    chunk,
  );
  const bm25 = new Bm25Index();
  bm25.add(chunks.map((c) => c.text));
  const ranks = records.map((r) => {
    const gold = docIds.get(r.context);
    const answer = normalizeAnswer(r.answer);
    const hits = bm25.search(r.question, Math.max(k, 10)).map((h) => chunks[h.index]);
    // Relevant: a chunk of the question's own document that contains the answer.
    return firstRelevantRank(hits, (c) => c.docId === gold && normalizeAnswer(c.text).includes(answer));
  });
  return {
    questions: records.length,
    documents: docIds.size,
    chunks: chunks.length,
    k,
    recallAt1: recallAtK(ranks, 1),
    recallAtK: recallAtK(ranks, k),
    mrrAt10: meanReciprocalRank(ranks),
  };
}

/**
 * Step 3: token rows for "context + question → answer": prompt tokens, then ` answer<eos>`, padded with eos to
 * T. The loss mask is 1 on the answer and eos tokens only. A context too long for T is cut at its end.
 */
export function encodeTriplets(triplets: readonly Triplet[], tok: Tokenizer, T: number) {
  const eos = tok.eosTokenId ?? 50256;
  const ids = new Int32Array(triplets.length * T).fill(eos);
  const mask = new Float32Array(triplets.length * T);
  let cut = 0;
  triplets.forEach((t, row) => {
    const answer = [...tok.encode(` ${t.answer}`), eos];
    let ctx = tok.encode(t.context);
    let prompt = tok.encode(formatPrompt(t.question, tok.decode(ctx)));
    while (prompt.length + answer.length > T && ctx.length > 0) {
      ctx = ctx.slice(0, Math.max(0, ctx.length - (prompt.length + answer.length - T)));
      prompt = tok.encode(formatPrompt(t.question, tok.decode(ctx)));
      cut++;
    }
    if (prompt.length + answer.length > T)
      throw new Error(
        `question "${t.question}": prompt and answer exceed blockSize ${T} even without context`,
      );
    ids.set([...prompt, ...answer], row * T);
    for (let i = 0; i < answer.length; i++) mask[row * T + prompt.length + i] = 1;
  });
  return { T, ids, mask, cut };
}

/** The base model: from scratch with the config's shape, or pretrained weights from the hub / a directory. */
export async function loadBase(c: TriviaConfig, tok: Tokenizer): Promise<GPT2> {
  if (c.model === 'scratch') return GPT2.fromConfig(c.scratch, { seed: c.seed, tokenizer: tok });
  return GPT2.fromPretrained(c.model, {
    seed: c.seed,
    ...(c.hubEndpoint ? { endpoint: c.hubEndpoint } : {}),
    ...(c.hubCacheDir ? { cacheDir: c.hubCacheDir } : {}),
  });
}

export interface AnswerScore {
  exactMatch: number;
  f1: number;
  samples: { question: string; gold: string; prediction: string; context: string | null }[];
}

/** Step 5: greedy answers for the validation questions, scored with SQuAD exact match and token F1. */
export async function scoreAnswers(
  model: GPT2,
  triplets: readonly Triplet[],
  withContext: boolean,
  maxNewTokens: number,
  T: number,
): Promise<AnswerScore> {
  const tok = model.tokenizer as Tokenizer;
  const samples: AnswerScore['samples'] = [];
  let em = 0;
  let f1 = 0;
  for (const t of triplets) {
    let context: string | null = withContext ? t.context : null;
    // Keep the prompt inside the window, leaving room for the answer.
    while (context && tok.encode(formatPrompt(t.question, context)).length + maxNewTokens > T)
      context = tok.decode(tok.encode(context).slice(0, -8));
    const prediction = (
      await model.generate(formatPrompt(t.question, context), { maxNewTokens, temperature: 0, stop: ['\n'] })
    ).trim();
    em += exactMatch(prediction, t.answer);
    f1 += tokenF1(prediction, t.answer);
    samples.push({ question: t.question, gold: t.answer, prediction, context });
  }
  const n = Math.max(1, triplets.length);
  return { exactMatch: em / n, f1: f1 / n, samples };
}

export interface RunOptions {
  config: TriviaConfig;
  records: QaRecord[];
  outDir: string;
  backend?: 'cpu' | 'wasm' | 'native' | 'webgpu' | 'auto';
  progress?: boolean;
  log?: (line: string) => void;
}

/** The whole recipe: retrieve → triplets → encode → LoRA train → evaluate with and without retrieval → report. */
export async function runMovieTrivia(o: RunOptions) {
  const c = o.config;
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  await initBackend(o.backend ?? 'cpu');
  await mkdir(o.outDir, { recursive: true });
  const tok = Tokenizer.gpt2();

  const retrieval = retrievalRecall(o.records, tok, c.chunk, c.k);
  log(
    `retrieval: ${retrieval.questions} questions, ${retrieval.chunks} chunks, recall@1 ${retrieval.recallAt1.toFixed(3)}, recall@${c.k} ${retrieval.recallAtK.toFixed(3)}`,
  );

  const triplets = await buildTriplets(o.records, {
    tokenizer: spanTokenizer(tok),
    chunk: c.chunk,
    k: c.k,
    validationFraction: c.validationFraction,
    outDir: o.outDir,
  });
  if (triplets.train.length === 0 || triplets.validation.length === 0)
    throw new Error(
      `triplets: ${triplets.train.length} training and ${triplets.validation.length} validation questions; need both (change validationFraction)`,
    );
  log(`triplets: ${triplets.train.length} train, ${triplets.validation.length} validation`);

  const model = await loadBase(c, tok);
  model.tokenizer ??= tok;
  const T = Math.min(c.blockSize, model.config.n_positions);
  const trainRows = encodeTriplets(triplets.train, tok, T);
  const valRows = encodeTriplets(triplets.validation, tok, T);
  applyLora(
    model,
    {
      r: c.lora.r,
      lora_alpha: c.lora.alpha,
      lora_dropout: c.lora.dropout,
      target_modules: c.lora.targetModules,
    },
    { seed: c.seed },
  );
  const params = trainableParameters(model);
  log(`LoRA: ${JSON.stringify(params)}`);

  const sample = triplets.validation[0];
  const result = await train({
    model: gpt2Trainable(model, {
      tokenizer: tok,
      save: (d) => saveAdapter(model, d),
      load: async (d) => {
        await loadAdapter(model, d, { trainable: true });
      },
    }),
    train: rowsBatchSource(trainRows, {
      batchSize: Math.min(c.batchSize, triplets.train.length),
      shuffle: true,
      seed: c.seed,
    }),
    val: rowsBatchSource(valRows, {
      batchSize: Math.min(c.batchSize, triplets.validation.length),
      shuffle: false,
      seed: 0,
      dropLast: false,
    }),
    config: parseTrainConfig({
      seed: c.seed,
      samplePrompts: [formatPrompt(sample.question, sample.context)],
      ...c.training,
    }),
    outDir: o.outDir,
    progress: o.progress,
    log,
  });

  const evalSet = triplets.validation.slice(0, c.maxEvalQuestions);
  const withRetrieval = await scoreAnswers(model, evalSet, true, c.maxAnswerTokens, T);
  const questionOnly = await scoreAnswers(model, evalSet, false, c.maxAnswerTokens, T);
  const metrics = await readMetrics(result.metricsPath);
  const losses = metrics.flatMap((m) => (m.type === 'train' ? [m.loss] : []));
  const summary = {
    model: c.model,
    status: result.status,
    steps: result.step,
    firstTrainLoss: losses[0] ?? null,
    lastTrainLoss: losses.at(-1) ?? null,
    bestValLoss: result.bestValLoss,
    retrieval,
    tripletAnswerRecallAt1: triplets.answerRecallAt1,
    tripletAnswerRecallAtK: triplets.answerRecallAtK,
    trainQuestions: triplets.train.length,
    validationQuestions: triplets.validation.length,
    scoredQuestions: evalSet.length,
    contextsCut: trainRows.cut + valRows.cut,
    withRetrieval: { exactMatch: withRetrieval.exactMatch, f1: withRetrieval.f1 },
    questionOnly: { exactMatch: questionOnly.exactMatch, f1: questionOnly.f1 },
  };
  await writeOutputs(o.outDir, summary, withRetrieval, questionOnly, metrics);
  log(
    `validation EM/F1 with retrieval ${fmt(withRetrieval)}, question only ${fmt(questionOnly)}; ${o.outDir}/report.html`,
  );
  return { summary, withRetrieval, questionOnly, trainResult: result };
}

const fmt = (s: { exactMatch: number; f1: number }) => `${s.exactMatch.toFixed(3)}/${s.f1.toFixed(3)}`;

/** Step 6: summary.json, summary.md, samples.jsonl and report.html (the trainer's, with retrieval and EM/F1). */
async function writeOutputs(
  dir: string,
  summary: Record<string, unknown> & {
    retrieval: ReturnType<typeof retrievalRecall>;
    withRetrieval: { exactMatch: number; f1: number };
    questionOnly: { exactMatch: number; f1: number };
  },
  withRetrieval: AnswerScore,
  questionOnly: AnswerScore,
  metrics: Awaited<ReturnType<typeof readMetrics>>,
) {
  const r = summary.retrieval;
  await writeFileAtomic(join(dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  const samples = withRetrieval.samples.map((s, i) => ({
    question: s.question,
    gold: s.gold,
    withRetrieval: s.prediction,
    questionOnly: questionOnly.samples[i]?.prediction,
    context: s.context,
  }));
  await writeFileAtomic(
    join(dir, 'samples.jsonl'),
    samples.map((s) => JSON.stringify(s)).join('\n') + (samples.length ? '\n' : ''),
  );
  const md = [
    '# movie-trivia run',
    '',
    `| metric | value |`,
    `|---|---|`,
    `| retrieval recall@1 (${r.questions} questions, ${r.chunks} chunks) | ${r.recallAt1.toFixed(3)} |`,
    `| retrieval recall@${r.k} | ${r.recallAtK.toFixed(3)} |`,
    `| retrieval MRR@10 | ${r.mrrAt10.toFixed(3)} |`,
    `| validation EM / F1 with retrieval | ${fmt(summary.withRetrieval)} |`,
    `| validation EM / F1 question only | ${fmt(summary.questionOnly)} |`,
    `| train loss first → last | ${summary.firstTrainLoss} → ${summary.lastTrainLoss} |`,
    '',
    '## Samples',
    '',
    ...samples
      .slice(0, 10)
      .map(
        (s) =>
          `- **${s.question}** gold: ${s.gold} · with retrieval: ${s.withRetrieval || '(empty)'} · question only: ${s.questionOnly || '(empty)'}`,
      ),
    '',
  ].join('\n');
  await writeFileAtomic(join(dir, 'summary.md'), md);
  const html = renderReport(metrics, {
    title: 'movie-trivia: retrieval-augmented LoRA fine-tune',
    info: {
      model: String(summary.model),
      [`retrieval recall@1`]: r.recallAt1.toFixed(3),
      [`retrieval recall@${r.k}`]: r.recallAtK.toFixed(3),
      'retrieval MRR@10': r.mrrAt10.toFixed(3),
      'EM with retrieval': summary.withRetrieval.exactMatch.toFixed(3),
      'F1 with retrieval': summary.withRetrieval.f1.toFixed(3),
      'EM question only': summary.questionOnly.exactMatch.toFixed(3),
      'F1 question only': summary.questionOnly.f1.toFixed(3),
      'validation questions': String(summary.validationQuestions),
      'sample answers': 'samples.jsonl, summary.md',
    },
  });
  await writeFileAtomic(join(dir, 'report.html'), html);
}
