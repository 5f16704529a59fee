import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** One fenced code block of a Markdown file. */
export interface CodeBlock {
  /** Path of the Markdown file, relative to the repository root. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** Info-string language (`ts`, `sh`, …); '' when absent. */
  lang: string;
  /** The rest of the info string (e.g. `no-check`). */
  meta: string;
  code: string;
}

/** Fenced blocks (``` or ~~~, 3+ characters) of a Markdown text, in order. An unclosed fence is an error. */
export function extractBlocks(markdown: string, file: string): CodeBlock[] {
  const lines = markdown.split('\n');
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)\s*(.*)$/.exec(lines[i]);
    if (!open) continue;
    const fence = open[1];
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !new RegExp(`^ {0,3}${fence[0]}{${fence.length},}\\s*$`).test(lines[j])) {
      body.push(lines[j]);
      j++;
    }
    if (j >= lines.length) throw new Error(`${file}:${i + 1}: code fence is never closed`);
    blocks.push({
      file,
      line: i + 1,
      lang: open[2].toLowerCase(),
      meta: open[3].trim(),
      code: body.join('\n'),
    });
    i = j;
  }
  return blocks;
}

/** Every `*.md` file under `dir` (recursively), as paths relative to `root`, sorted. */
export function markdownFiles(dir: string, root: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.md')) out.push(relative(root, join(d, e.name)));
    }
  };
  walk(dir);
  return out.sort();
}

/** All blocks of all Markdown files under `docsDir`. */
export function docsBlocks(docsDir: string, root: string): CodeBlock[] {
  return markdownFiles(docsDir, root).flatMap((f) => extractBlocks(readFileSync(join(root, f), 'utf8'), f));
}
