import { Command, CommanderError, Option } from 'commander';
import { collectRedditCommand, prepareCommand, retrieveCommand, tokenizeCommand } from './commands/data.js';
import { evalCommand, generateCommand, mergeCommand, topTokensCommand } from './commands/model.js';
import { resumeCommand, trainCommand } from './commands/train.js';
import { DATA_FORMATS } from './data.js';
import { EXIT, InterruptedError, type Io, processIo, UsageError } from './io.js';
import { collect, num } from './options.js';

const EXIT_HELP = `
Exit codes: 0 ok · 1 runtime error · 2 usage error (bad flag, argument or config field) · 130 interrupted (Ctrl-C).
Errors are one line on stderr starting with "atelier: ".`;

const backendOption = () =>
  new Option('--backend <kind>', 'tensor backend').choices(['auto', 'webgpu', 'cpu', 'wasm', 'native']);
const modelOption = (cmd: Command, required = true) => {
  const o = new Option(
    '-m, --model <dir|hub-id>',
    'model directory (e.g. a checkpoint) or Hugging Face hub id',
  );
  if (required) o.makeOptionMandatory();
  return cmd
    .addOption(o)
    .option('--adapter <dir>', 'LoRA adapter directory (PEFT format) to apply')
    .addOption(backendOption());
};

function build(io: Io, setCode: (c: number) => void): Command {
  const program = new Command('atelier')
    .description(
      'Build a domain-expert GPT-2 in TypeScript: prepare data, train (full or LoRA), evaluate, generate.',
    )
    .version('0.1.0')
    .showSuggestionAfterError(true)
    .addHelpText('after', EXIT_HELP)
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: () => {} })
    .exitOverride();
  const run =
    (fn: (...args: never[]) => Promise<number>) =>
    async (...args: unknown[]) =>
      setCode(await (fn as (...a: unknown[]) => Promise<number>)(...args));

  program
    .command('train')
    .description(
      'train a model (from scratch, full fine-tuning or LoRA) with evaluation, checkpoints and a report',
    )
    .argument('[config]', 'JSON config file (flags and environment variables override it)')
    .option(
      '-m, --model <preset|dir|hub-id>',
      'tiny|small|base (from scratch), a model directory or a hub id [env MODEL_TYPE]',
    )
    .option(
      '-d, --data <file>',
      'training data file or `atelier prepare` directory; repeatable [env TRAINING_DATA_SOURCE]',
      collect,
    )
    .addOption(new Option('--format <format>', 'data format').choices(DATA_FORMATS))
    .option('-o, --out <dir>', 'run directory (default runs/<timestamp>)')
    .option('--lora', 'train a LoRA adapter instead of every weight [env USE_LORA]')
    .option('--no-lora', 'full training even if the config or USE_LORA asks for LoRA')
    .option('--lora-r <n>', 'LoRA rank', num('--lora-r', { int: true, min: 1 }))
    .option('--lora-alpha <n>', 'LoRA alpha', num('--lora-alpha', { min: 0 }))
    .option('--steps <n>', 'optimizer steps [env TRAINING_STEPS]', num('--steps', { int: true, min: 1 }))
    .option('--epochs <n>', 'epochs over the data', num('--epochs', { int: true, min: 1 }))
    .option('--lr <x>', 'peak learning rate [env LEARNING_RATE]', num('--lr', { min: 0 }))
    .option('--batch-size <n>', 'rows per batch', num('--batch-size', { int: true, min: 1 }))
    .option('--block-size <n>', 'tokens per row', num('--block-size', { int: true, min: 2 }))
    .option(
      '--grad-accum <n>',
      'micro-batches per optimizer step',
      num('--grad-accum', { int: true, min: 1 }),
    )
    .option('--warmup <n>', 'warmup steps', num('--warmup', { int: true, min: 0 }))
    .option(
      '--warmup-ratio <x>',
      'warmup as a fraction of the steps (e.g. 0.15)',
      num('--warmup-ratio', { min: 0, max: 0.99 }),
    )
    .option(
      '--eval-every <n>',
      'evaluate every n steps (and at each epoch end)',
      num('--eval-every', { int: true, min: 0 }),
    )
    .option(
      '--eval-batches <n>',
      'validation batches per evaluation (default all)',
      num('--eval-batches', { int: true, min: 1 }),
    )
    .option(
      '--checkpoint-every <n>',
      'checkpoint every n steps',
      num('--checkpoint-every', { int: true, min: 0 }),
    )
    .option('--no-checkpoints', 'write no checkpoints [env ENABLE_CHECKPOINTS=false]')
    .option('--weight-decay <x>', 'AdamW decoupled weight decay', num('--weight-decay', { min: 0 }))
    .option('--grad-clip <x>', 'clip gradients to this global norm (0 = off)', num('--grad-clip', { min: 0 }))
    .option(
      '--patience <n>',
      'early stopping: evaluations without improvement',
      num('--patience', { int: true, min: 1 }),
    )
    .option(
      '--min-delta <x>',
      'early stopping: smallest improvement that counts',
      num('--min-delta', { min: 0 }),
    )
    .option(
      '--keep-last <n>',
      'checkpoints to keep (the best one is kept too)',
      num('--keep-last', { int: true, min: 1 }),
    )
    .option('--eval-at-start', 'evaluate before the first step too')
    .option(
      '--sample-prompt <text>',
      'prompt whose continuation is logged at each evaluation; repeatable',
      collect,
    )
    .option(
      '--val-fraction <x>',
      'fraction of the data held out for validation',
      num('--val-fraction', { min: 0, max: 0.99 }),
    )
    .option('--seed <n>', 'seed of init, data order and dropout', num('--seed', { int: true, min: 0 }))
    .addOption(backendOption())
    .option('--no-progress', 'no progress bar')
    .option('--json', 'print the result as one JSON line')
    .addHelpText(
      'after',
      '\nExample:\n  atelier train --model tiny --data notes.txt --steps 200 --eval-every 50 --out runs/notes\n  TRAINING_DATA_SOURCE=notes.txt TRAINING_STEPS=200 atelier train config.json',
    )
    .action(run((config: string | undefined, flags: never) => trainCommand(config, flags, io)));

  program
    .command('resume')
    .description(
      'continue a run from its newest checkpoint (or a given one); the loss curve matches an uninterrupted run',
    )
    .argument('<dir>', 'run directory or checkpoint directory')
    .option('--steps <n>', 'new step budget (extends the run)', num('--steps', { int: true, min: 1 }))
    .addOption(backendOption())
    .option('--no-progress', 'no progress bar')
    .option('--json', 'print the result as one JSON line')
    .addHelpText('after', '\nExample:\n  atelier resume runs/notes')
    .action(run((dir: string, flags: never) => resumeCommand(dir, flags, io)));

  modelOption(
    program.command('eval').description('validation loss and perplexity of a model (+ adapter) on data'),
  )
    .requiredOption('-d, --data <file>', 'data file or `atelier prepare` directory; repeatable', collect)
    .addOption(new Option('--format <format>', 'data format').choices(DATA_FORMATS).default('auto'))
    .option('--block-size <n>', 'tokens per row', num('--block-size', { int: true, min: 2 }), 128)
    .option('--batch-size <n>', 'rows per batch', num('--batch-size', { int: true, min: 1 }), 8)
    .option('--max-batches <n>', 'evaluate at most n batches', num('--max-batches', { int: true, min: 1 }))
    .option('--json', 'print {loss, perplexity, tokens} as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  atelier eval --model runs/notes/checkpoints/step-00000200-… --data notes.txt',
    )
    .action(run((flags: never) => evalCommand(flags, io)));

  modelOption(program.command('generate').description('continue a prompt (streams text as it is generated)'))
    .argument('[prompt]', 'prompt text')
    .option('--prompt-file <file>', 'read the prompt from a file')
    .option(
      '-n, --max-new-tokens <n>',
      'tokens to generate',
      num('--max-new-tokens', { int: true, min: 1 }),
      50,
    )
    .option('-t, --temperature <x>', 'sampling temperature (0 = greedy)', num('--temperature', { min: 0 }), 0)
    .option('--top-k <n>', 'sample from the k most likely tokens', num('--top-k', { int: true, min: 1 }))
    .option('--top-p <x>', 'nucleus sampling threshold', num('--top-p', { min: 0, max: 1 }))
    .option(
      '--repetition-penalty <x>',
      'penalise repeated tokens (> 1)',
      num('--repetition-penalty', { min: 0 }),
    )
    .option('--stop <text>', 'stop sequence; repeatable', collect)
    .option('--seed <n>', 'sampling seed', num('--seed', { int: true, min: 0 }), 0)
    .option('--no-stream', 'print the text at the end instead of streaming it')
    .option('--json', 'print {prompt, text, seconds} as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  atelier generate --model gpt2 "Q: What is Impressionism?\\nA:" -n 40 -t 0.8 --top-k 40',
    )
    .action(run((prompt: string | undefined, flags: never) => generateCommand(prompt, flags, io)));

  modelOption(
    program.command('top-tokens').description('the k most likely next tokens for a prompt (diagnosis)'),
  )
    .argument('<prompt>', 'prompt text')
    .option('-k, --k <n>', 'how many tokens', num('-k', { int: true, min: 1 }), 10)
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  atelier top-tokens --model gpt2 "Q: What is Impressionism?\\nA:" -k 5',
    )
    .action(run((prompt: string, flags: never) => topTokensCommand(prompt, flags, io)));

  modelOption(
    program.command('merge').description('merge a LoRA adapter into its base model and save a plain model'),
  )
    .requiredOption('-o, --out <dir>', 'output model directory')
    .addHelpText(
      'after',
      '\nExample:\n  atelier merge --model gpt2 --adapter runs/art/checkpoints/step-… --out models/art-merged',
    )
    .action(run((flags: never) => mergeCommand(flags, io)));

  program
    .command('tokenize')
    .description('GPT-2 token ids of a text')
    .argument('[text]', 'text to tokenize')
    .option('-f, --file <file>', 'read the text from a file')
    .option('-m, --model <dir>', 'model directory whose tokenizer to use (default GPT-2)')
    .option('--tokens', 'print the token strings instead of ids')
    .option('--count', 'print only the number of tokens')
    .option('--json', 'print {count, ids, tokens} as JSON')
    .addHelpText('after', '\nExample:\n  atelier tokenize "Hello world"   # 15496 995')
    .action(run((text: string | undefined, flags: never) => tokenizeCommand(text, flags, io)));

  program
    .command('prepare')
    .description('read, split, tokenize and pack data files into a directory `atelier train --data` accepts')
    .requiredOption('-d, --data <file>', 'data file; repeatable', collect)
    .addOption(new Option('--format <format>', 'data format').choices(DATA_FORMATS).default('auto'))
    .requiredOption('-o, --out <dir>', 'output directory')
    .option('--block-size <n>', 'tokens per row', num('--block-size', { int: true, min: 2 }), 128)
    .option(
      '--val-fraction <x>',
      'fraction held out for validation',
      num('--val-fraction', { min: 0.001, max: 0.99 }),
      0.1,
    )
    .option('--seed <n>', 'split seed', num('--seed', { int: true, min: 0 }), 0)
    .option('-m, --model <dir>', 'model directory whose tokenizer to use (default GPT-2)')
    .addHelpText(
      'after',
      '\nExample:\n  atelier prepare --data etiquette.txt --out data/etiquette --block-size 128',
    )
    .action(run((flags: never) => prepareCommand(flags, io)));

  program
    .command('retrieve')
    .description('BM25 search over chunks of text files')
    .argument('<query>', 'search query')
    .requiredOption('-c, --corpus <file>', 'file to search; repeatable', collect)
    .addOption(new Option('--format <format>', 'data format').choices(DATA_FORMATS).default('auto'))
    .option('-k, --k <n>', 'hits to return', num('-k', { int: true, min: 1 }), 5)
    .option('--chunk-size <n>', 'tokens per chunk', num('--chunk-size', { int: true, min: 8 }), 128)
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  atelier retrieve "who directed Jaws" --corpus films.txt -k 3')
    .action(run((query: string, flags: never) => retrieveCommand(query, flags, io)));

  const collectCmd = program.command('collect').description('collect training data from public sources');
  collectCmd
    .command('reddit')
    .description("top posts and their top comments from a subreddit's public JSON listings (no credentials)")
    .requiredOption('--subreddit <name>', 'subreddit, with or without r/')
    .option('--limit <n>', 'posts to collect', num('--limit', { int: true, min: 1 }), 100)
    .option('--time-filter <t>', 'hour|day|week|month|year|all', 'month')
    .option('--min-upvotes <n>', 'minimum post score', num('--min-upvotes', { int: true, min: 0 }), 0)
    .option('--comments <n>', 'top comments per post (0 = none)', num('--comments', { int: true, min: 0 }), 3)
    .requiredOption('-o, --output <file>', 'output file (.jsonl, or .md for Markdown Q&A)')
    .option('--format <f>', 'jsonl|markdown (default from the extension)')
    .option('--base-url <url>', 'Reddit base URL', 'https://www.reddit.com')
    .option('--delay <ms>', 'minimum milliseconds between requests', num('--delay', { int: true, min: 0 }))
    .option('--json', 'print the summary as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  atelier collect reddit --subreddit relationship_advice --limit 300 --time-filter month --min-upvotes 50 --comments 3 --output data/advice.jsonl',
    )
    .action(run((flags: never) => collectRedditCommand(flags, io)));
  return program;
}

/**
 * Run the CLI with `argv` (without node and script path). Returns the exit code; never calls process.exit.
 * @example await main(['generate', '--model', 'gpt2', 'Hello']);
 */
export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  let code: number = EXIT.ok;
  const program = build(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return EXIT.ok;
      if (e.code === 'commander.help' || e.code === 'commander.executeSubCommandAsync') return EXIT.usage;
      io.stderr(`atelier: ${e.message.replace(/^error: /, '')}\n`);
      return EXIT.usage;
    }
    const err = e as Error;
    const msg = (err?.message ?? String(e)).split('\n')[0];
    if (err instanceof UsageError) {
      io.stderr(`atelier: ${msg}\n`);
      return EXIT.usage;
    }
    if (err instanceof InterruptedError) {
      io.stderr(`atelier: ${msg}\n`);
      return EXIT.interrupted;
    }
    io.stderr(`atelier: ${msg}\n`);
    if (io.env.ATELIER_DEBUG) io.stderr(`${err?.stack ?? ''}\n`);
    return EXIT.error;
  }
}
