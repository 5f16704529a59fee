// Shared vitest settings for every Atelier package.
// Workspace packages resolve to their TypeScript sources through the "@atelier/source" export
// condition, so tests never need a prior build of the packages they depend on.
const conditions = ['@atelier/source', 'import', 'module', 'node', 'default'];

/** @param {import('vitest/config').UserConfig} [overrides] */
export function atelierVitest(overrides = {}) {
  const { test = {}, ...rest } = overrides;
  return {
    resolve: { conditions },
    ssr: { resolve: { conditions, externalConditions: ['node', 'import', 'default'] } },
    test: {
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      environment: 'node',
      pool: 'forks',
      testTimeout: 60_000,
      hookTimeout: 120_000,
      reporters: process.env.CI ? ['default'] : ['default'],
      ...test,
    },
    ...rest,
  };
}
