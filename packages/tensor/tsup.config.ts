import { existsSync } from 'node:fs';
import { atelierTsup } from '@atelier/config/tsup';
import { defineConfig } from 'tsup';

// The native backend (src/native/) is loaded lazily by a computed specifier (see src/backend.ts), so it is
// built as its own entry next to index.js; code splitting keeps one copy of the shared modules.
const entry = ['src/index.ts'];
if (existsSync('src/native/index.ts')) entry.push('src/native/index.ts');

// TENSOR_BUILD_DIR: a private build (JS only) for the benchmark, safe from concurrent rebuilds of dist/.
const outDir = process.env.TENSOR_BUILD_DIR;

export default defineConfig(
  atelierTsup({ entry, splitting: true, ...(outDir ? { outDir, dts: false } : {}) }),
);
