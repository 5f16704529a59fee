// Throughput of the readers, cleaning and batching on the shared reference data, each beside a plain peer
// in the same run (numbers go to docs/benchmarks.md, "Datasets"). Run: pnpm --filter @atelier/datasets bench
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  BatchLoader,
  cleanRecords,
  collect,
  MinHashLSH,
  packDocuments,
  readGutenberg,
  readJsonlRecords,
  TemplateDetector,
} from '../dist/index.js';

const data = fileURLToPath(new URL('../../../../shared/data/', import.meta.url));
const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
async function time(fn, runs = 5) {
  const t = [];
  let out;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    out = await fn();
    t.push(performance.now() - t0);
  }
  return { ms: median(t), out };
}
const mb = (bytes, ms) => `${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s`;

const squad = `${data}squad11_film_tv_qa.jsonl`;
const squadBytes = statSync(squad).size;
const peer = await time(() =>
  readFileSync(squad, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l)),
);
const ours = await time(() => collect(readJsonlRecords(squad)));
console.log(
  `readJsonlRecords  ${mb(squadBytes, ours.ms)}  (peer readFileSync+split+JSON.parse ${mb(squadBytes, peer.ms)}) rows=${ours.out.length}`,
);

const post = `${data}emily_post_etiquette_1922_pg14314.txt`;
const postBytes = statSync(post).size;
const gpeer = await time(() => readFileSync(post, 'utf8').split(/\n{2,}/).length);
const g = await time(() => collect(readGutenberg(post, { split: 'paragraph' })));
console.log(
  `readGutenberg     ${mb(postBytes, g.ms)}  (peer readFileSync+split on blank lines ${mb(postBytes, gpeer.ms)}) paragraphs=${g.out.length}`,
);

const paras = g.out.map((r) => r.text);
const paraBytes = paras.reduce((a, p) => a + Buffer.byteLength(p), 0);
const sha = await time(() => new Set(paras.map((p) => createHash('sha1').update(p).digest('base64'))).size);
const mh = await time(() => {
  const lsh = new MinHashLSH();
  let dup = 0;
  for (const p of paras) if (lsh.addIfNew(p) >= 0) dup++;
  return dup;
}, 3);
console.log(
  `MinHash LSH (128 perms, 5-shingles)  ${mb(paraBytes, mh.ms)}  ${((paras.length / mh.ms) * 1000).toFixed(0)} docs/s  (peer exact SHA-1 dedup ${mb(paraBytes, sha.ms)}) near-dups=${mh.out}`,
);
const tpl = await time(() => {
  const d = new TemplateDetector();
  for (const p of paras) d.add(p);
  return d.report().templated;
}, 3);
console.log(`TemplateDetector  ${mb(paraBytes, tpl.ms)}  templated=${tpl.out}`);
const clean = await time(() => cleanRecords(g.out), 3);
console.log(
  `cleanRecords (all stages)  ${mb(paraBytes, clean.ms)}  kept=${clean.out.report.kept}/${clean.out.report.input}`,
);

// Packing and batches: 4M synthetic tokens, T=1024, B=8.
const docs = Array.from({ length: 4000 }, (_, d) => ({
  ids: Int32Array.from({ length: 1000 }, (_, i) => (d * 7 + i) % 50257),
}));
const pk = await time(() => packDocuments(docs, { blockSize: 1024 }), 3);
const loader = new BatchLoader(pk.out, { batchSize: 8, seed: 1 });
const b = await time(() => {
  for (let i = 0; i < 100; i++) loader.next();
}, 3);
const copy = await time(() => {
  for (let i = 0; i < 100; i++) pk.out.tokens.slice(i * 8192, i * 8192 + 8192 * 3);
}, 3);
console.log(
  `packDocuments  ${(((4e6 / pk.ms) * 1000) / 1e6).toFixed(0)} M tokens/s; BatchLoader.next (B=8, T=1024) ${(b.ms / 100).toFixed(3)} ms/batch (peer: copying 3×B·T ints ${(copy.ms / 100).toFixed(3)} ms)`,
);
