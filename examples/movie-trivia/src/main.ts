import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { downloadFilmSquad, loadDocumentsAndQuestions, loadSquadFile } from './data.js';
import { runMovieTrivia, type TriviaConfig } from './recipe.js';

const USAGE = `movie-trivia [options]
  --config <file>       hyper-parameters (default: config.json beside this package)
  --model <id|dir>      scratch (default), gpt2, distilgpt2, gpt2-medium or a model directory
  --data <file>         SQuAD-style QA: nested SQuAD JSON or JSONL {title, context, question, answer}
  --squad               download SQuAD v1.1 train (cached) and keep the film/TV articles
  --squad-base-url <u>  mirror of the SQuAD files (default: the official site)
  --steps <n>           optimizer steps (overrides config.training.maxSteps)
  --out <dir>           run directory (default runs/movie-trivia-<timestamp>)
  --backend <kind>      cpu (default), wasm, native, webgpu, auto
Without --data/--squad it trains on the embedded film documents under data/.`;

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      model: { type: 'string' },
      data: { type: 'string' },
      squad: { type: 'boolean' },
      'squad-base-url': { type: 'string' },
      steps: { type: 'string' },
      out: { type: 'string' },
      backend: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const configPath = values.config ?? new URL('../config.json', import.meta.url).pathname;
  const config = JSON.parse(await readFile(configPath, 'utf8')) as TriviaConfig;
  if (values.model) config.model = values.model;
  if (values.steps !== undefined) {
    const steps = Number(values.steps);
    if (!Number.isInteger(steps) || steps < 1)
      throw new Error(`--steps: expected a positive integer, got ${values.steps}`);
    config.training = { ...config.training, maxSteps: steps };
  }
  const records = values.data
    ? await loadSquadFile(values.data)
    : values.squad
      ? await downloadFilmSquad(values['squad-base-url'] ? { baseUrl: values['squad-base-url'] } : {})
      : await loadDocumentsAndQuestions();
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const outDir = values.out ?? join('runs', `movie-trivia-${stamp}`);
  const backends = ['cpu', 'wasm', 'native', 'webgpu', 'auto'] as const;
  const backend = (values.backend ?? 'cpu') as (typeof backends)[number];
  if (!backends.includes(backend))
    throw new Error(`--backend: "${values.backend}" is not one of ${backends.join(', ')}`);
  await runMovieTrivia({ config, records, outDir, backend, progress: process.stderr.isTTY });
}

// `pnpm start -- --flag` passes the `--` through.
const args = process.argv.slice(2);
main(args[0] === '--' ? args.slice(1) : args).catch((e: unknown) => {
  process.stderr.write(`movie-trivia: ${(e as Error).message}\n`);
  process.exit(1);
});
