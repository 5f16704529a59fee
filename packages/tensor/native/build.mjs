// Builds the native CPU backend (build/Release/atelier_native.node) with node-gyp at install time.
// Never fails the install: if the addon cannot be built, @atelier/tensor falls back to the WASM backend, and
// this script prints one line saying why. Offline: headers come from the local Node install (nodedir) when
// they are there, so node-gyp downloads nothing.
//   ATELIER_SKIP_NATIVE=1  skip the build
//   ATELIER_NATIVE_VERBOSE=1  show the compiler output
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const say = (msg) => console.log(`@atelier/tensor: ${msg}`);

function findNodeGyp() {
  try {
    return createRequire(join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    // npm ships its own node-gyp and tells install scripts where it is.
    const fromNpm = process.env.npm_config_node_gyp;
    return fromNpm && existsSync(fromNpm) ? fromNpm : null;
  }
}

function main() {
  if (process.env.ATELIER_SKIP_NATIVE === '1')
    return say('native CPU backend skipped (ATELIER_SKIP_NATIVE=1)');
  const gyp = findNodeGyp();
  if (!gyp) return say('native CPU backend not built: node-gyp not found (will use WASM)');
  const args = [gyp, 'rebuild', '--jobs=max'];
  // Headers of the running Node, when installed beside it (Debian: /usr/include/node), keep the build offline.
  const prefix = resolve(dirname(process.execPath), '..');
  if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h')))
    args.push(`--nodedir=${prefix}`);
  const verbose = process.env.ATELIER_NATIVE_VERBOSE === '1';
  const started = Date.now();
  const r = spawnSync(process.execPath, args, {
    cwd: root,
    encoding: 'utf8',
    stdio: verbose ? 'inherit' : 'pipe',
    env: { ...process.env, JOBS: process.env.JOBS ?? 'max' },
  });
  if (r.status === 0 && existsSync(join(root, 'build', 'Release', 'atelier_native.node'))) {
    return say(`native CPU backend built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  const output = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
  const line =
    output
      .split('\n')
      .map((l) => l.trim())
      .find((l) => /error/i.test(l) && !/^gyp (ERR|info)/.test(l)) ??
    (r.error ? String(r.error.message) : `node-gyp exited with ${r.status ?? r.signal}`);
  say(`native CPU backend not built (will use WASM): ${line.slice(0, 300)}`);
}

try {
  main();
} catch (err) {
  say(`native CPU backend not built (will use WASM): ${err instanceof Error ? err.message : String(err)}`);
}
