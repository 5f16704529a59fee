import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend, tf } from './index.js';
import {
  float32ToFloat16Bits,
  iterateSafetensors,
  loadSafetensors,
  parseSafetensors,
  readSafetensorsHeader,
  SafetensorsError,
  saveSafetensors,
  serializeSafetensors,
  type TensorData,
} from './safetensors.js';

// Fixtures written by tools/make_safetensors_fixtures.py (PyTorch values, bytes laid out by hand per the spec).
const FIXTURES = new URL('../test/fixtures/', import.meta.url);
const fixture = (name: string) => new URL(name, FIXTURES).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'atelier-safetensors-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

type JsonNumber = number | 'inf' | '-inf' | 'nan';
const num = (v: JsonNumber) =>
  v === 'inf'
    ? Number.POSITIVE_INFINITY
    : v === '-inf'
      ? Number.NEGATIVE_INFINITY
      : v === 'nan'
        ? Number.NaN
        : v;

/** A tiny valid file: header + data, written by our writer (checked against the reference below). */
function smallFile(): Uint8Array {
  return serializeSafetensors(
    {
      w: { dtype: 'float32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
      ids: { dtype: 'int32', shape: [2], data: Int32Array.from([7, -8]) },
    },
    { metadata: { k: 'v' } },
  );
}

describe('safetensors reading', () => {
  const expected = JSON.parse(readFileSync(fixture('read-mixed.json'), 'utf8')) as {
    metadata: Record<string, string>;
    tensors: Record<string, { dtype: string; shape: number[]; values: JsonNumber[] }>;
  };

  it('reads every dtype of a PyTorch-made file into float32/int32 with the exact values', async () => {
    const tensors = await loadSafetensors(fixture('read-mixed.safetensors'));
    expect([...tensors.keys()].sort()).toEqual(Object.keys(expected.tensors).sort());
    for (const [name, want] of Object.entries(expected.tensors)) {
      const got = tensors.get(name)!;
      expect(got.sourceDtype, name).toBe(want.dtype);
      expect(got.shape, name).toEqual(want.shape);
      const isFloat = ['F32', 'F16', 'BF16', 'F64'].includes(want.dtype);
      expect(got.dtype, name).toBe(isFloat ? 'float32' : 'int32');
      // F16/BF16/F32 values are exactly representable in float32; F64 rounds to nearest float32.
      const values = want.values.map(num);
      expect(Array.from(got.data), name).toEqual(isFloat ? values.map(Math.fround) : values);
    }
    const header = await readSafetensorsHeader(fixture('read-mixed.safetensors'));
    expect(header.metadata).toEqual(expected.metadata);
    expect(header.dataOffset % 8).toBe(0);
  });

  it('reads a subset by name, in memory too, and names a missing tensor', async () => {
    const some = await loadSafetensors(fixture('read-mixed.safetensors'), { names: ['bf16', 'i64'] });
    expect([...some.keys()].sort()).toEqual(['bf16', 'i64']);
    const bytes = readFileSync(fixture('read-mixed.safetensors'));
    const mem = parseSafetensors(bytes, { names: ['f16'] });
    expect(Array.from(mem.tensors.get('f16')!.data)).toEqual(
      expected.tensors.f16.values.map((v) => Math.fround(num(v))),
    );
    expect(mem.metadata.note).toBe('fixture ✓');
    await expect(loadSafetensors(fixture('read-mixed.safetensors'), { names: ['nope'] })).rejects.toThrow(
      /read-mixed\.safetensors: tensor "nope": not in the file/,
    );
  });

  it('streams tensors one at a time in file order', async () => {
    const seen: string[] = [];
    for await (const [name] of iterateSafetensors(fixture('read-mixed.safetensors'))) seen.push(name);
    const header = await readSafetensorsHeader(fixture('read-mixed.safetensors'));
    expect(seen).toEqual([...header.tensors.keys()]);
    const begins = [...header.tensors.values()].map((t) => t.begin);
    expect(begins).toEqual([...begins].sort((a, b) => a - b));
  });

  it('reads a large F32 tensor without a second copy of its bytes', async () => {
    const n = 8 << 20; // 32 MiB of float32
    const data = new Float32Array(n);
    for (let i = 0; i < n; i += 4099) data[i] = i;
    const path = join(tmp, 'big.safetensors');
    await saveSafetensors(path, { big: { dtype: 'float32', shape: [n], data } });
    global.gc?.();
    const before = process.memoryUsage().arrayBuffers;
    const it = iterateSafetensors(path);
    const first = await it.next();
    const grown = process.memoryUsage().arrayBuffers - before;
    const t = (first.value as [string, TensorData])[1];
    expect(t.data[4099 * 7]).toBe(4099 * 7);
    expect(grown).toBeLessThan(n * 4 * 1.25);
    await it.return(undefined);
  });
});

describe('safetensors writing', () => {
  const spec = JSON.parse(readFileSync(fixture('write.json'), 'utf8')) as {
    metadata: Record<string, string>;
    float32: Record<string, { shape: number[]; values: JsonNumber[] }>;
    int32: Record<string, { shape: number[]; values: number[] }>;
  };
  const inputs: Record<string, TensorData> = {};
  for (const [k, v] of Object.entries(spec.float32)) {
    inputs[k] = { dtype: 'float32', shape: v.shape, data: Float32Array.from(v.values.map(num)) };
  }
  for (const [k, v] of Object.entries(spec.int32)) {
    inputs[k] = { dtype: 'int32', shape: v.shape, data: Int32Array.from(v.values) };
  }

  it('produces byte-for-byte the reference layout (F32, and F16 rounded as PyTorch does)', () => {
    const f32 = serializeSafetensors(inputs, { metadata: spec.metadata });
    expect(Buffer.from(f32).equals(readFileSync(fixture('write-f32.safetensors')))).toBe(true);
    const f16 = serializeSafetensors(inputs, { metadata: spec.metadata, floatDtype: 'F16' });
    expect(Buffer.from(f16).equals(readFileSync(fixture('write-f16.safetensors')))).toBe(true);
  });

  it('matches the byte vectors of the reference implementation tests', () => {
    // huggingface/safetensors safetensors/src/tensor.rs: test_serialization and test_empty.
    const one = serializeSafetensors({
      'attn.0': { dtype: 'float32', shape: [1, 2, 3], data: Float32Array.from([0, 1, 2, 3, 4, 5]) },
    });
    const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    expect(Array.from(one.subarray(0, 8))).toEqual([64, 0, 0, 0, 0, 0, 0, 0]);
    expect(Buffer.from(one.subarray(8, 72)).toString()).toBe(header);
    expect(Array.from(one.subarray(72, 80))).toEqual([0, 0, 0, 0, 0, 0, 128, 63]);
    expect(Array.from(serializeSafetensors({}))).toEqual([
      8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32,
    ]);
    const meta = serializeSafetensors({}, { metadata: { framework: 'pt' } });
    expect(meta[0]).toBe(40);
    expect(Buffer.from(meta.subarray(8)).toString()).toBe('{"__metadata__":{"framework":"pt"}}     ');
  });

  it('rounds float32 to float16 to nearest even, with subnormals, overflow and NaN', () => {
    expect(float32ToFloat16Bits(1)).toBe(0x3c00);
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(float32ToFloat16Bits(65504)).toBe(0x7bff);
    expect(float32ToFloat16Bits(65520)).toBe(0x7c00); // rounds up to Inf
    expect(float32ToFloat16Bits(2 ** -24)).toBe(0x0001);
    expect(float32ToFloat16Bits(2 ** -25)).toBe(0x0000); // tie → even (zero)
    expect(float32ToFloat16Bits(-0)).toBe(0x8000);
    expect(float32ToFloat16Bits(Number.NaN) & 0x7c00).toBe(0x7c00);
    expect(float32ToFloat16Bits(Number.NaN) & 0x3ff).not.toBe(0);
  });

  it('saves tf tensors atomically and reads them back', async () => {
    await initBackend('wasm');
    const path = join(tmp, 'model.safetensors');
    const w = tf.tensor2d([0.5, -1.25, 3, 4], [2, 2]);
    const ids = tf.tensor1d([1, 2, 3], 'int32');
    await saveSafetensors(path, { w, ids }, { metadata: { step: '3' } });
    const back = await loadSafetensors(path);
    expect(Array.from(back.get('w')!.data)).toEqual([0.5, -1.25, 3, 4]);
    expect(back.get('ids')).toMatchObject({ dtype: 'int32', shape: [3], data: Int32Array.from([1, 2, 3]) });
    expect((await readSafetensorsHeader(path)).metadata).toEqual({ step: '3' });
    // Overwrite; a failing save (bool tensor) leaves the previous file and no temporary file behind.
    const bad = tf.tensor1d([1, 0], 'bool');
    await expect(saveSafetensors(path, { bad })).rejects.toThrow(/"bad" has dtype bool/);
    expect((await loadSafetensors(path)).size).toBe(2);
    expect(readdirSync(tmp).filter((f) => f.includes('.tmp'))).toEqual([]);
    tf.dispose([w, ids, bad]);
  });
});

describe('safetensors validation', () => {
  /** A file with `header` (object) and `dataBytes` zero bytes of data. */
  function craft(header: unknown, dataBytes: number, rawHeader?: string): Uint8Array {
    const json = Buffer.from(rawHeader ?? JSON.stringify(header));
    const out = new Uint8Array(8 + json.length + dataBytes);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(json, 8);
    return out;
  }
  const t = (dtype: string, shape: number[], offsets: number[]) => ({ dtype, shape, data_offsets: offsets });
  const cases: [string, Uint8Array, RegExp][] = [
    ['too short', new Uint8Array(5), /only 5 bytes/],
    ['header past the end', craft({}, 0).subarray(0, 9), /header length 2 runs past the end/],
    [
      'header too large',
      (() => {
        const b = new Uint8Array(16);
        new DataView(b.buffer).setBigUint64(0, 200_000_000n, true);
        return b;
      })(),
      /exceeds the limit/,
    ],
    ['invalid JSON', craft(null, 0, '{"a":'), /header is not valid UTF-8 JSON/],
    ['not an object', craft([1, 2], 0), /header is not a JSON object/],
    ['unknown dtype', craft({ x: t('F128', [1], [0, 16]) }, 16), /tensor "x": unknown dtype "F128"/],
    ['bad shape', craft({ x: t('F32', [-1], [0, 4]) }, 4), /tensor "x": shape \[-1\]/],
    ['bad offsets', craft({ x: t('F32', [1], [4, 0]) }, 4), /tensor "x": data_offsets \[4,0\]/],
    [
      'size mismatch',
      craft({ x: t('F32', [2, 3], [0, 20]) }, 20),
      /tensor "x": shape \[2,3\] × F32 is 24 bytes/,
    ],
    [
      'overlap',
      craft({ a: t('F32', [2], [0, 8]), b: t('F32', [2], [4, 12]) }, 12),
      /tensor "b".*overlap tensor "a"/,
    ],
    [
      'gap',
      craft({ a: t('F32', [1], [0, 4]), b: t('F32', [1], [8, 12]) }, 12),
      /tensor "b": starts at byte 8, leaving a gap/,
    ],
    [
      'truncated data',
      craft({ a: t('F32', [4], [0, 16]) }, 10),
      /tensor "a": bytes \[0, 16\) run past the end.*truncated/,
    ],
    ['trailing bytes', craft({ a: t('F32', [1], [0, 4]) }, 9), /5 bytes after the last tensor/],
    ['metadata not strings', craft({ __metadata__: { n: 1 } }, 0), /__metadata__\["n"\] is not a string/],
    [
      'I64 out of int32 range',
      (() => {
        const b = craft({ big: t('I64', [1], [0, 8]) }, 8);
        new DataView(b.buffer).setBigInt64(b.length - 8, 1n << 40n, true);
        return b;
      })(),
      /tensor "big": I64 value 1099511627776 at element 0 does not fit in int32/,
    ],
  ];

  it.each(cases)('rejects %s with an error naming the file and tensor', async (_name, bytes, pattern) => {
    expect(() => parseSafetensors(bytes, { file: 'm.safetensors' })).toThrow(pattern);
    const path = join(tmp, 'bad.safetensors');
    writeFileSync(path, bytes);
    const err = await loadSafetensors(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SafetensorsError);
    expect((err as Error).message).toMatch(pattern);
    expect((err as Error).message.startsWith(path)).toBe(true);
  });

  it('fuzz: every truncation of a file fails with a SafetensorsError (buffer and file)', async () => {
    const good = smallFile();
    expect(parseSafetensors(good).tensors.size).toBe(2);
    const path = join(tmp, 'trunc.safetensors');
    for (let len = 0; len < good.length; len++) {
      const cut = good.subarray(0, len);
      expect(() => parseSafetensors(cut), `length ${len}`).toThrow(SafetensorsError);
      writeFileSync(path, cut);
      await expect(loadSafetensors(path), `length ${len}`).rejects.toBeInstanceOf(SafetensorsError);
    }
  });

  it('fuzz: random byte corruption either parses or fails with a SafetensorsError, never anything else', () => {
    const good = smallFile();
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    let failures = 0;
    for (let iter = 0; iter < 3000; iter++) {
      const bad = good.slice();
      const flips = 1 + Math.floor(rand() * 3);
      for (let f = 0; f < flips; f++) bad[Math.floor(rand() * bad.length)] = Math.floor(rand() * 256);
      try {
        const r = parseSafetensors(bad);
        for (const v of r.tensors.values()) expect(v.data.length).toBe(v.shape.reduce((a, b) => a * b, 1));
      } catch (err) {
        if (!(err instanceof SafetensorsError)) throw err;
        failures++;
      }
    }
    expect(failures).toBeGreaterThan(100); // the header is most of the file: many flips must be caught
  });
});
