// Shared tsup settings: ESM, .d.ts, source maps, Node 20.
/** @param {import('tsup').Options} [overrides] */
export function atelierTsup(overrides = {}) {
  return {
    entry: ['src/index.ts'],
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    dts: true,
    sourcemap: true,
    clean: true,
    splitting: false,
    treeshake: true,
    ...overrides,
  };
}
