/**
 * Static checks of the shell commands in the docs: each command must name something that exists.
 * A problem is returned as a message; an empty list means the command is fine.
 */

/** What a shell command may refer to. */
export interface Repo {
  /** Scripts of the root package.json. */
  rootScripts: Set<string>;
  /** Workspace package name → its scripts. */
  packages: Map<string, Set<string>>;
  /** Whether a path (relative to the repository root) exists. */
  exists: (path: string) => boolean;
}

/** A CLI invocation found in the docs: `atelier <command...> [--flags]`. */
export interface CliUse {
  /** `['train']`, `['collect', 'reddit']`. */
  command: string[];
  /** Long flags used, without values (`--steps`). */
  flags: string[];
}

/** Commands other than pnpm/atelier that docs may use, with nothing else to check but their paths. */
const PLAIN = new Set(['cd', 'cp', 'mkdir', 'ls', 'cat', 'git', 'node', 'bash', 'export', 'echo', 'rm']);
const PNPM_BUILTINS = new Set(['install', 'exec', 'add', 'i']);
const PATH_PREFIXES = ['packages/', 'tools/', 'examples/', 'docs/', '.ci/'];

/** Logical command lines: comments removed, `\` continuations joined, split on `&&`, `||`, `;` and `|`. */
export function commandLines(script: string): string[] {
  const joined = script.replace(/\\\n/g, ' ');
  const out: string[] = [];
  for (const raw of joined.split('\n')) {
    const line = stripComment(raw).trim();
    if (!line) continue;
    for (const part of line.split(/&&|\|\||;|\|/)) if (part.trim()) out.push(part.trim());
  }
  return out;
}

/** A build output's source (`packages/cli/dist/bin.js` → `packages/cli/src/bin.ts`), so docs checks need no build. */
export function builtFrom(path: string): string {
  return path.replace(/^((?:packages|tools|examples)\/[^/]+)\/dist\/(.*)\.js$/, '$1/src/$2.ts');
}

function stripComment(line: string): string {
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) return line.slice(0, i);
  }
  return line;
}

/** Words of a command, honouring single and double quotes (no expansion). */
export function words(command: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(command); m; m = re.exec(command)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

/** Checks one logical command; CLI uses are appended to `cli` for a later `--help` check. */
export function checkCommand(command: string, repo: Repo, cli: CliUse[]): string[] {
  let w = words(command);
  while (w.length > 0 && /^[A-Z_][A-Z0-9_]*=/.test(w[0])) w = w.slice(1); // VAR=value prefixes
  if (w.length === 0) return [];
  const problems: string[] = [];
  // Paths into the repository must exist.
  for (const word of w) {
    const p = word.replace(/^\.\//, '').replace(/[,)]$/, '');
    if (PATH_PREFIXES.some((pre) => p.startsWith(pre)) && !p.includes('*') && !p.includes('<')) {
      if (!repo.exists(p) && !repo.exists(builtFrom(p))) problems.push(`path "${p}" does not exist`);
    }
  }
  let [head, ...rest] = w;
  if (head === 'npx') {
    rest = rest.filter((x) => x !== '--yes' && x !== '-y');
    if (rest[0]?.startsWith('pnpm@')) [head, ...rest] = ['pnpm', ...rest.slice(1)];
    else return [...problems, `unexpected npx use: ${command}`];
  }
  if (head === 'pnpm') return [...problems, ...checkPnpm(rest, repo)];
  if (head === 'atelier') {
    const cmd = rest.filter((x) => !x.startsWith('-'));
    if (cmd.length === 0) return [...problems, 'atelier without a command'];
    const command = cmd[0] === 'collect' ? cmd.slice(0, 2) : cmd.slice(0, 1);
    const flags = rest.filter((x) => x.startsWith('--')).map((x) => x.split('=')[0]);
    cli.push({ command, flags });
    return problems;
  }
  if (!PLAIN.has(head))
    problems.push(`unknown command "${head}" (docs-check knows pnpm, atelier, ${[...PLAIN]})`);
  return problems;
}

function checkPnpm(args: string[], repo: Repo): string[] {
  let scripts = repo.rootScripts;
  let where = 'the root package.json';
  const a = [...args];
  while (a[0]?.startsWith('-')) {
    const flag = a.shift() as string;
    if (flag === '--filter' || flag === '-F') {
      const name = (a.shift() ?? '').replace(/\.\.\.$/, '').replace(/^\.\.\./, '');
      const pkg = repo.packages.get(name);
      if (!pkg) return [`pnpm --filter ${name}: no workspace package of that name`];
      scripts = pkg;
      where = name;
    }
  }
  if (a[0] === 'run') a.shift();
  const script = a[0];
  if (!script || PNPM_BUILTINS.has(script)) return [];
  return scripts.has(script) ? [] : [`pnpm ${script}: no script "${script}" in ${where}`];
}
