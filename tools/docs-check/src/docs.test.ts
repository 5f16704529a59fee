import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type CodeBlock, docsBlocks, extractBlocks } from './blocks.js';
import { builtFrom, type CliUse, checkCommand, commandLines, type Repo, words } from './shell.js';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const root = join(pkgDir, '..', '..');
const blocks = docsBlocks(join(root, 'docs'), root);
const snippetDir = join(pkgDir, '.snippets');

/** Runs a TypeScript file from this package (so workspace packages resolve to their sources). */
function runTs(file: string, args: string[] = []) {
  return spawnSync(process.execPath, ['--conditions=@atelier/source', '--import', 'tsx', file, ...args], {
    cwd: pkgDir,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ATELIER_BACKEND: process.env.ATELIER_BACKEND ?? 'cpu', HF_HUB_OFFLINE: '1' },
  });
}

function readRepo(): Repo {
  const json = (p: string) => JSON.parse(readFileSync(join(root, p), 'utf8'));
  const packages = new Map<string, Set<string>>();
  for (const group of ['packages', 'tools', 'examples']) {
    if (!existsSync(join(root, group))) continue;
    for (const d of readdirSync(join(root, group))) {
      const p = `${group}/${d}/package.json`;
      if (existsSync(join(root, p))) {
        const pj = json(p);
        packages.set(pj.name, new Set(Object.keys(pj.scripts ?? {})));
      }
    }
  }
  return {
    rootScripts: new Set(Object.keys(json('package.json').scripts)),
    packages,
    exists: (p) => existsSync(join(root, p)),
  };
}

const where = (b: CodeBlock) => `${b.file}:${b.line}`;
const KNOWN = new Set(['ts', 'typescript', 'sh', 'bash', 'shell', 'json', 'jsonl', 'text', 'txt', '']);

describe('docs code blocks', () => {
  it('finds the docs and knows every block language', () => {
    expect(blocks.length).toBeGreaterThan(10);
    const unknown = blocks.filter((b) => !KNOWN.has(b.lang)).map((b) => `${where(b)} (${b.lang})`);
    expect(unknown).toEqual([]);
  });

  it('parses every json block', () => {
    for (const b of blocks.filter((x) => x.lang === 'json')) {
      expect(() => JSON.parse(b.code), where(b)).not.toThrow();
    }
    for (const b of blocks.filter((x) => x.lang === 'jsonl')) {
      for (const line of b.code.split('\n').filter((l) => l.trim())) {
        expect(() => JSON.parse(line), where(b)).not.toThrow();
      }
    }
  });

  const shell = blocks.filter((b) => ['sh', 'bash', 'shell'].includes(b.lang) && b.meta !== 'no-check');
  // Collected up front so each test below stands alone (e.g. under `vitest -t`).
  const cli: CliUse[] = [];
  const shellProblems: string[] = [];
  const repo = readRepo();
  for (const b of shell) {
    for (const cmd of commandLines(b.code)) {
      for (const p of checkCommand(cmd, repo, cli)) shellProblems.push(`${where(b)}: ${p}  (${cmd})`);
    }
  }
  it('every shell command refers to something real', () => {
    expect(shellProblems).toEqual([]);
    expect(cli.length).toBeGreaterThan(0);
  });

  it('every atelier command in the docs exists and takes the flags used', () => {
    const bin = join(root, 'packages', 'cli', 'src', 'bin.ts');
    const help = new Map<string, string>();
    const problems: string[] = [];
    for (const use of cli) {
      const key = use.command.join(' ');
      if (!help.has(key)) {
        const r = runTs(bin, [...use.command, '--help']);
        if (r.status !== 0)
          problems.push(`atelier ${key} --help exited ${r.status}: ${r.stderr.slice(0, 300)}`);
        help.set(key, r.stdout);
      }
      for (const f of use.flags) {
        if (f !== '--help' && !new RegExp(`${f}(?![\\w-])`).test(help.get(key) ?? '')) {
          problems.push(`atelier ${key}: no flag ${f} in its --help`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  const ts = blocks.filter((b) => ['ts', 'typescript'].includes(b.lang) && b.meta !== 'no-check');
  it.each(ts.map((b) => [where(b), b] as const))('runs %s', (_name, b) => {
    mkdirSync(snippetDir, { recursive: true });
    const file = join(snippetDir, `${b.file.replace(/[^a-z0-9]+/gi, '-')}-${b.line}.ts`);
    writeFileSync(file, `${b.code}\nexport {};\n`);
    try {
      const r = runTs(file);
      expect(r.status, `${where(b)} exited ${r.status}\n${r.stdout}\n${r.stderr}`).toBe(0);
    } finally {
      rmSync(file, { force: true });
    }
  });
});

describe('docs-check itself', () => {
  it('extracts fences with their language, meta and line', () => {
    const md = 'a\n```ts\nconst x = 1;\n```\n\n~~~sh no-check\nfoo\n~~~\n````text\n```\n````\n';
    expect(extractBlocks(md, 'x.md')).toEqual([
      { file: 'x.md', line: 2, lang: 'ts', meta: '', code: 'const x = 1;' },
      { file: 'x.md', line: 6, lang: 'sh', meta: 'no-check', code: 'foo' },
      { file: 'x.md', line: 9, lang: 'text', meta: '', code: '```' },
    ]);
    expect(() => extractBlocks('```ts\nx', 'y.md')).toThrow('y.md:1: code fence is never closed');
  });

  it('splits shell scripts and rejects what does not exist', () => {
    expect(commandLines('# c\npnpm build  # x\nA=1 atelier train \\\n  --steps 2 && ls "a#b"')).toEqual([
      'pnpm build',
      'A=1 atelier train    --steps 2',
      'ls "a#b"',
    ]);
    expect(words(`atelier generate "Q: a b" -n 2 'x y'`)).toEqual([
      'atelier',
      'generate',
      'Q: a b',
      '-n',
      '2',
      'x y',
    ]);
    const repo: Repo = {
      rootScripts: new Set(['build']),
      packages: new Map([['@atelier/cli', new Set(['build'])]]),
      exists: (p) => p === 'tools/setup-system.sh',
    };
    const cli: CliUse[] = [];
    expect(checkCommand('pnpm build', repo, cli)).toEqual([]);
    expect(checkCommand('pnpm run nope', repo, cli)).toEqual([
      'pnpm nope: no script "nope" in the root package.json',
    ]);
    expect(checkCommand('pnpm --filter @atelier/cli... build', repo, cli)).toEqual([]);
    expect(checkCommand('pnpm --filter @atelier/x test', repo, cli)).toHaveLength(1);
    expect(checkCommand('bash tools/setup-system.sh', repo, cli)).toEqual([]);
    expect(checkCommand('bash tools/missing.sh', repo, cli)).toEqual([
      'path "tools/missing.sh" does not exist',
    ]);
    expect(builtFrom('packages/cli/dist/bin.js')).toBe('packages/cli/src/bin.ts');
    expect(checkCommand('node tools/setup-system.sh', repo, cli)).toEqual([]);
    expect(checkCommand('curl x', repo, cli)[0]).toMatch(/unknown command "curl"/);
    expect(checkCommand('ATELIER_BACKEND=cpu atelier collect reddit --limit=3 -n 2', repo, cli)).toEqual([]);
    expect(cli).toEqual([{ command: ['collect', 'reddit'], flags: ['--limit'] }]);
  });
});
