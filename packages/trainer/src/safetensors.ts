import { readFile } from 'node:fs/promises';

/**
 * Minimal float32 safetensors I/O for the trainer's own optimizer-state file (header: u64 little-endian
 * length, JSON {name: {dtype, shape, data_offsets}}, then raw little-endian data). Model weights go through
 * the model's own `save`; this file only holds AdamW moments, so F32 is all it needs.
 */
export function encodeSafetensorsF32(
  tensors: Map<string, { shape: number[]; data: Float32Array }>,
  metadata: Record<string, string> = {},
): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const names = [...tensors.keys()].sort();
  for (const name of names) {
    const t = tensors.get(name) as { shape: number[]; data: Float32Array };
    const bytes = t.data.length * 4;
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // align data to 8 bytes, as the Rust writer does
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let pos = 8 + headerBytes.length;
  for (const name of names) {
    const t = tensors.get(name) as { shape: number[]; data: Float32Array };
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(out, pos);
    pos += t.data.byteLength;
  }
  return out;
}

/** Read a float32 safetensors file written by `encodeSafetensorsF32` (or any F32-only safetensors file). */
export async function readSafetensorsF32(path: string): Promise<{
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
  metadata: Record<string, string>;
}> {
  const buf = await readFile(path);
  if (buf.length < 8) throw new Error(`${path}: not a safetensors file (too short)`);
  const n = Number(buf.readBigUInt64LE(0));
  if (8 + n > buf.length) throw new Error(`${path}: truncated safetensors header`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  } catch (e) {
    throw new Error(`${path}: bad safetensors header: ${(e as Error).message}`);
  }
  const base = 8 + n;
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  let metadata: Record<string, string> = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = info as unknown as Record<string, string>;
      continue;
    }
    if (info.dtype !== 'F32') throw new Error(`${path}: tensor "${name}" is ${info.dtype}, expected F32`);
    const [start, end] = info.data_offsets;
    if (base + end > buf.length) throw new Error(`${path}: tensor "${name}" runs past the end of the file`);
    const bytes = buf.subarray(base + start, base + end);
    const data = new Float32Array(bytes.length / 4);
    Buffer.from(data.buffer).set(bytes);
    tensors.set(name, { shape: info.shape, data });
  }
  return { tensors, metadata };
}
