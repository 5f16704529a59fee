// Shared helpers for this package's tests (not exported from the package).
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type LoadedTensor, loadSafetensors } from '@atelier/tensor';
import { expect } from 'vitest';
import { readConfig } from './config.js';
import { GPT2 } from './model.js';

/** tools/reference/fixtures/ (written by tools/reference/gpt2_reference.py). */
export const FIXTURES = fileURLToPath(new URL('../../../tools/reference/fixtures/', import.meta.url));

export interface Fixture {
  dir: string;
  model: GPT2;
  expected: Map<string, LoadedTensor>;
  meta: Record<string, unknown>;
}

export async function loadFixture(name: string): Promise<Fixture> {
  const dir = `${FIXTURES}${name}/`;
  const config = await readConfig(`${dir}config.json`);
  const model = GPT2.fromSafetensors(config, await loadSafetensors(`${dir}model.safetensors`));
  const expected = await loadSafetensors(`${dir}expected.safetensors`);
  const meta = JSON.parse(await readFile(`${dir}expected.json`, 'utf8'));
  return { dir, model, expected, meta };
}

/** Fails with the worst index when |a − e| > atol + rtol·|e| anywhere. */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  { rtol = 1e-4, atol = 1e-5 }: { rtol?: number; atol?: number },
  label: string,
): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const excess = Math.abs(actual[i] - expected[i]) - (atol + rtol * Math.abs(expected[i]));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(excess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    expect.fail(
      `${label}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`,
    );
  }
}

export function tensorOf(
  f: Map<string, LoadedTensor>,
  key: string,
): { shape: number[]; data: ArrayLike<number> & Float32Array } {
  const t = f.get(key);
  if (!t) throw new Error(`fixture tensor ${key} missing`);
  return { shape: t.shape, data: t.data as Float32Array };
}
