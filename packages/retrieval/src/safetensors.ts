import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { parseSafetensors, saveSafetensors } from '@atelier/tensor';

/**
 * The safetensors I/O retrieval needs, on top of @atelier/tensor's reader/writer: float32 matrices in and
 * out (F16/BF16 checkpoints are widened to float32 by the reader).
 */
export interface NamedArray {
  shape: number[];
  data: Float32Array;
}

export interface SafetensorsContent {
  tensors: Map<string, NamedArray>;
  metadata: Record<string, string>;
}

/** Reads a .safetensors file; every floating-point tensor comes back as float32. Errors name the file. */
export async function readSafetensors(path: string): Promise<SafetensorsContent> {
  const { tensors, metadata } = parseSafetensors(await readFile(path), { file: path });
  const out = new Map<string, NamedArray>();
  for (const [name, t] of tensors) {
    out.set(name, {
      shape: t.shape,
      data: t.data instanceof Float32Array ? t.data : Float32Array.from(t.data),
    });
  }
  return { tensors: out, metadata };
}

/** Writes float32 tensors to a .safetensors file atomically (temp file + rename). */
export async function writeSafetensors(
  path: string,
  tensors: Map<string, NamedArray>,
  metadata: Record<string, string> = {},
): Promise<void> {
  const data = new Map(
    [...tensors].map(([k, v]) => [k, { dtype: 'float32' as const, shape: v.shape, data: v.data }]),
  );
  await saveSafetensors(path, data, { metadata });
}

/** Writes `data` to `path` through a temp file in the same directory and a rename, so readers never see half a file. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
