/**
 * advice-column: question → advice in one voice, full fine-tuning vs LoRA.
 *
 *   pnpm start                                  embedded data, both modes, comparison.md
 *   pnpm start -- --data embedded,etiquette,girls-own-paper --model gpt2
 *   pnpm start -- --stop-after 40               stop each mode at step 40 (checkpoint)
 *   pnpm start -- resume runs/advice-column-…   continue from the checkpoints
 */
import { parseArgs } from 'node:util';
import type { Mode } from './recipe.js';
import { readRecipeConfig } from './recipe.js';
import { defaultRunDir, type RecipeResult, resumeRecipe, runRecipe } from './run.js';

const CONFIG = new URL('../config.json', import.meta.url).pathname;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', default: CONFIG },
      data: { type: 'string', default: 'embedded' },
      model: { type: 'string' },
      modes: { type: 'string', default: 'full,lora' },
      steps: { type: 'string' },
      'stop-after': { type: 'string' },
      out: { type: 'string' },
      'gutenberg-base': { type: 'string' },
      backend: { type: 'string' },
    },
  });
  let result: RecipeResult;
  if (positionals[0] === 'resume') {
    if (!positionals[1]) throw new Error('usage: resume <run-dir>');
    result = await resumeRecipe(positionals[1], { backend: values.backend });
  } else {
    const config = await readRecipeConfig(values.config);
    if (values.model) config.model = values.model;
    if (values.steps) config.steps = Number(values.steps);
    const modes = values.modes.split(',') as Mode[];
    for (const m of modes) if (m !== 'full' && m !== 'lora') throw new Error(`--modes: unknown mode "${m}"`);
    const stopAfter = values['stop-after'] ? Number(values['stop-after']) : undefined;
    result = await runRecipe(
      {
        config,
        modes,
        sources: values.data.split(','),
        download: values['gutenberg-base'] ? { baseUrl: values['gutenberg-base'] } : undefined,
      },
      values.out ?? defaultRunDir(),
      { stopAfter, backend: values.backend },
    );
  }
  for (const r of result.results) {
    console.log(
      `${r.mode}: ${r.status} at step ${r.step}; train loss ${r.firstLoss.toFixed(3)} → ${r.lastLoss.toFixed(3)}; best val ${r.bestValLoss?.toFixed(3) ?? '–'}; ${r.seconds.toFixed(1)} s`,
    );
  }
  if (result.comparison) console.log(`comparison: ${result.comparison}`);
  else console.log(`stopped; continue with: pnpm start resume ${result.runDir}`);
  return 0;
}

main(process.argv.slice(2).filter((a, i) => !(i === 0 && a === '--'))).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`advice-column: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
