// Shared helpers for this package's tests (not exported from the package).
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { GPT2, readConfig } from '@atelier/gpt2';
import { type LoadedTensor, loadSafetensors, tf } from '@atelier/tensor';
import { expect } from 'vitest';

/** tools/reference/fixtures/ (gpt2_reference.py and lora_reference.py write them). */
export const FIXTURES = fileURLToPath(new URL('../../../tools/reference/fixtures/', import.meta.url));
export const REFERENCE_SCRIPT = fileURLToPath(
  new URL('../../../tools/reference/lora_reference.py', import.meta.url),
);

/** The gpt2-tiny reference model (real 50,257-token vocabulary, n_embd 8, 2 layers). */
export async function loadTinyModel(): Promise<GPT2> {
  const dir = `${FIXTURES}gpt2-tiny/`;
  const config = await readConfig(`${dir}config.json`);
  return GPT2.fromSafetensors(config, await loadSafetensors(`${dir}model.safetensors`));
}

export interface LoraFixture {
  dir: string;
  expected: Map<string, LoadedTensor>;
  meta: {
    ids: number[][];
    vocab_subset: number[];
    loss: number;
    scaling: number;
    targets: string[];
    trainable: string[];
    peft_keys: string[];
  };
}

export async function loadLoraFixture(name: string): Promise<LoraFixture> {
  const dir = `${FIXTURES}${name}/`;
  return {
    dir,
    expected: await loadSafetensors(`${dir}expected.safetensors`),
    meta: JSON.parse(await readFile(`${dir}expected.json`, 'utf8')),
  };
}

export function tensorOf(f: Map<string, LoadedTensor>, key: string): { shape: number[]; data: Float32Array } {
  const t = f.get(key);
  if (!t) throw new Error(`fixture tensor ${key} missing`);
  return { shape: t.shape, data: t.data as Float32Array };
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

/** Logits [B, T, V] → values at the vocab subset [B·T·S] and logsumexp [B·T], as the fixtures store them. */
export function logitsView(logits: tf.Tensor3D, subset: number[]): { s: Float32Array; l: Float32Array } {
  return tf.tidy(() => ({
    s: tf.gather(logits, subset, 2).dataSync() as Float32Array,
    l: tf.logSumExp(logits, 2).dataSync() as Float32Array,
  }));
}

/** Forward pass in evaluation mode → the fixture view; disposes the logits. */
export function evalView(model: GPT2, ids: number[][], subset: number[]) {
  const logits = model.forward(ids, { training: false });
  const v = logitsView(logits, subset);
  logits.dispose();
  return v;
}

/** A copy of a variable's values. */
export function valuesOf(v: tf.Tensor): Float32Array {
  return (v.dataSync() as Float32Array).slice();
}
