/**
 * The safetensors format (https://huggingface.co/docs/safetensors), read and written without Python.
 *
 * Layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON (the header), then the data bytes.
 * The header maps each tensor name to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the
 * start of the data) and may hold `"__metadata__": {string: string}`.
 *
 * Reading: F32, F16, BF16 and F64 become float32; I32, and I64/U32/U64 whose values fit, plus the small
 * integer and BOOL types, become int32. Files are read tensor by tensor through a file handle at each
 * tensor's offset, straight into the output array (F32) or through a small scratch buffer (others), so a
 * 1.4 GB checkpoint never sits in memory twice. Every header is validated before any data is read; each
 * failure is a `SafetensorsError` naming the file and the tensor.
 *
 * Writing: float32 data as F32 (or F16), int32 data as I32, in the canonical order of the reference
 * implementation (dtype descending, then name; header padded with spaces to 8 bytes), to a temporary file
 * that is renamed into place only when complete.
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { tf } from './tf.js';

/** Element types of the safetensors format (those this module knows how to size). */
export type SafetensorsDtype =
  | 'BOOL'
  | 'U8'
  | 'I8'
  | 'F8_E5M2'
  | 'F8_E4M3'
  | 'I16'
  | 'U16'
  | 'F16'
  | 'BF16'
  | 'I32'
  | 'U32'
  | 'F32'
  | 'F64'
  | 'I64'
  | 'U64';

/** Bytes per element, in the reference implementation's dtype order (used for canonical write order). */
const DTYPE_SIZE: Record<SafetensorsDtype, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};
const DTYPE_ORDER = Object.keys(DTYPE_SIZE) as SafetensorsDtype[];

/** Largest header accepted, as in the reference implementation (100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

/** One tensor's entry in a header. `begin`/`end` are byte offsets relative to the start of the data. */
export interface SafetensorsTensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** Tensors in file (offset) order. */
  tensors: Map<string, SafetensorsTensorInfo>;
  /** The `__metadata__` map (empty if absent). */
  metadata: Record<string, string>;
  /** Absolute file offset of the data: 8 + header length. */
  dataOffset: number;
}

/** A tensor in memory: tfjs dtype, shape, row-major data. */
export interface TensorData {
  dtype: 'float32' | 'int32';
  shape: number[];
  data: Float32Array | Int32Array;
}

/** A tensor read from a file; `sourceDtype` is the element type it was stored as. */
export interface LoadedTensor extends TensorData {
  sourceDtype: SafetensorsDtype;
}

/** A malformed or unreadable safetensors file. `file` and `tensor` say where. */
export class SafetensorsError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly tensor?: string,
  ) {
    super(`${file}: ${tensor !== undefined ? `tensor ${JSON.stringify(tensor)}: ` : ''}${message}`);
    this.name = 'SafetensorsError';
  }
}

export interface ReadOptions {
  /** Only these tensors (all must exist). Default: every tensor. */
  names?: Iterable<string>;
  /** Reject headers longer than this many bytes. Default MAX_HEADER_BYTES. */
  maxHeaderBytes?: number;
}

// ---------------------------------------------------------------------------------------------------------
// Header parsing and validation

/**
 * Parses and validates a header. `headerJson` is the N header bytes; `dataBytes` the length of what follows.
 * Checks: JSON object; known dtypes; shapes of non-negative integers; element count × dtype size equals the
 * byte range; offsets inside the data, non-overlapping and covering it without gaps (as the reference does).
 */
export function parseSafetensorsHeader(
  headerJson: Uint8Array,
  dataBytes: number,
  file = '<buffer>',
): SafetensorsHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerJson));
  } catch (err) {
    throw new SafetensorsError(`header is not valid UTF-8 JSON (${(err as Error).message})`, file);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new SafetensorsError('header is not a JSON object', file);
  }
  const metadata: Record<string, string> = {};
  const list: SafetensorsTensorInfo[] = [];
  for (const [name, entry] of Object.entries(raw as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
        throw new SafetensorsError('__metadata__ is not an object of strings', file);
      }
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') {
          throw new SafetensorsError(`__metadata__[${JSON.stringify(k)}] is not a string`, file);
        }
        metadata[k] = v;
      }
      continue;
    }
    list.push(parseEntry(name, entry, file));
  }
  // Offsets: sorted, contiguous from 0, ending exactly at the end of the data.
  list.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: string | undefined;
  for (const t of list) {
    if (t.begin < pos) {
      throw new SafetensorsError(
        `bytes [${t.begin}, ${t.end}) overlap tensor ${JSON.stringify(prev)}`,
        file,
        t.name,
      );
    }
    if (t.begin > pos) {
      throw new SafetensorsError(`starts at byte ${t.begin}, leaving a gap after byte ${pos}`, file, t.name);
    }
    if (t.end > dataBytes) {
      throw new SafetensorsError(
        `bytes [${t.begin}, ${t.end}) run past the end of the data (${dataBytes} bytes): file truncated?`,
        file,
        t.name,
      );
    }
    pos = t.end;
    prev = t.name;
  }
  if (pos !== dataBytes) {
    throw new SafetensorsError(
      `${dataBytes - pos} bytes after the last tensor are not described by the header`,
      file,
    );
  }
  return { tensors: new Map(list.map((t) => [t.name, t])), metadata, dataOffset: 0 };
}

function parseEntry(name: string, entry: unknown, file: string): SafetensorsTensorInfo {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    throw new SafetensorsError('header entry is not an object', file, name);
  }
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (typeof dtype !== 'string' || !(dtype in DTYPE_SIZE)) {
    throw new SafetensorsError(`unknown dtype ${JSON.stringify(dtype)}`, file, name);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SafetensorsError(
      `shape ${JSON.stringify(shape)} is not a list of non-negative integers`,
      file,
      name,
    );
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    throw new SafetensorsError(
      `data_offsets ${JSON.stringify(offsets)} is not [begin, end] with begin ≤ end`,
      file,
      name,
    );
  }
  const count = shape.reduce((a: number, b: number) => a * b, 1);
  const bytes = count * DTYPE_SIZE[dtype as SafetensorsDtype];
  if (!Number.isSafeInteger(bytes) || bytes !== offsets[1] - offsets[0]) {
    throw new SafetensorsError(
      `shape ${JSON.stringify(shape)} × ${dtype} is ${bytes} bytes but data_offsets span ${offsets[1] - offsets[0]}`,
      file,
      name,
    );
  }
  return {
    name,
    dtype: dtype as SafetensorsDtype,
    shape: shape as number[],
    begin: offsets[0],
    end: offsets[1],
  };
}

function headerLength(prefix: Uint8Array, total: number, file: string, maxHeaderBytes: number): number {
  if (total < 8)
    throw new SafetensorsError(`only ${total} bytes: too short for the 8-byte header length`, file);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(maxHeaderBytes)) {
    throw new SafetensorsError(`header length ${n} exceeds the limit of ${maxHeaderBytes} bytes`, file);
  }
  if (n > BigInt(total - 8)) {
    throw new SafetensorsError(
      `header length ${n} runs past the end of the file (${total} bytes): truncated?`,
      file,
    );
  }
  return Number(n);
}

function selectTensors(header: SafetensorsHeader, names: Iterable<string> | undefined, file: string) {
  if (!names) return [...header.tensors.values()];
  const out: SafetensorsTensorInfo[] = [];
  for (const name of names) {
    const t = header.tensors.get(name);
    if (!t) throw new SafetensorsError('not in the file', file, name);
    out.push(t);
  }
  return out.sort((a, b) => a.begin - b.begin);
}

// ---------------------------------------------------------------------------------------------------------
// Element conversion

let F16_TABLE: Float32Array | undefined;

/** float32 value of every binary16 bit pattern (256 KiB, built once). */
function f16Table(): Float32Array {
  if (F16_TABLE) return F16_TABLE;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) table[h] = sign * frac * 2 ** -24;
    else if (exp === 31) table[h] = frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
    else table[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  F16_TABLE = table;
  return table;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE binary16 bits of a float32, rounding to nearest even (as numpy/torch `.half()` do). */
export function float32ToFloat16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0); // Inf / NaN (quiet)
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00; // overflow → Inf
  if (e <= 0) {
    // Subnormal half (or zero): shift the full mantissa (with its implicit 1) into place, round to even.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rem > mid || (rem === mid && half & 1) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // Rounding may carry into the exponent, up to Inf: that is the correct result.
  return sign | (half + (rem > 0x1000 || (rem === 0x1000 && half & 1) ? 1 : 0));
}

/** Converts `count` elements of `src` (raw little-endian bytes of `dtype`) into `out` starting at `at`. */
function convertInto(
  dtype: SafetensorsDtype,
  src: Uint8Array,
  count: number,
  out: Float32Array | Int32Array,
  at: number,
  file: string,
  name: string,
): void {
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  switch (dtype) {
    case 'F32':
    case 'I32':
      new Uint8Array(out.buffer, out.byteOffset + at * 4, count * 4).set(src.subarray(0, count * 4));
      return;
    case 'F16': {
      const table = f16Table();
      for (let i = 0; i < count; i++) out[at + i] = table[view.getUint16(2 * i, true)];
      return;
    }
    case 'BF16': {
      const bits = new Uint32Array(out.buffer, out.byteOffset + at * 4, count);
      for (let i = 0; i < count; i++) bits[i] = view.getUint16(2 * i, true) << 16;
      return;
    }
    case 'F64':
      for (let i = 0; i < count; i++) out[at + i] = view.getFloat64(8 * i, true);
      return;
    case 'I64':
    case 'U64':
      for (let i = 0; i < count; i++) {
        const v = dtype === 'I64' ? view.getBigInt64(8 * i, true) : view.getBigUint64(8 * i, true);
        if (v < -2147483648n || v > 2147483647n) {
          throw new SafetensorsError(
            `${dtype} value ${v} at element ${at + i} does not fit in int32`,
            file,
            name,
          );
        }
        out[at + i] = Number(v);
      }
      return;
    case 'U32':
      for (let i = 0; i < count; i++) {
        const v = view.getUint32(4 * i, true);
        if (v > 2147483647) {
          throw new SafetensorsError(`U32 value ${v} at element ${at + i} does not fit in int32`, file, name);
        }
        out[at + i] = v;
      }
      return;
    case 'I16':
      for (let i = 0; i < count; i++) out[at + i] = view.getInt16(2 * i, true);
      return;
    case 'U16':
      for (let i = 0; i < count; i++) out[at + i] = view.getUint16(2 * i, true);
      return;
    case 'I8':
      for (let i = 0; i < count; i++) out[at + i] = view.getInt8(i);
      return;
    case 'U8':
    case 'BOOL':
      for (let i = 0; i < count; i++) out[at + i] = src[i];
      return;
    default:
      throw new SafetensorsError(`reading dtype ${dtype} is not supported`, file, name);
  }
}

function outputFor(t: SafetensorsTensorInfo, file: string): LoadedTensor {
  const count = (t.end - t.begin) / DTYPE_SIZE[t.dtype];
  const float = t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16' || t.dtype === 'F64';
  if (t.dtype === 'F8_E5M2' || t.dtype === 'F8_E4M3') {
    throw new SafetensorsError(`reading dtype ${t.dtype} is not supported`, file, t.name);
  }
  return {
    dtype: float ? 'float32' : 'int32',
    shape: t.shape.slice(),
    data: float ? new Float32Array(count) : new Int32Array(count),
    sourceDtype: t.dtype,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Reading from files (streaming) and buffers

const CHUNK_BYTES = 1 << 24; // 16 MiB per read call

async function readExactly(fh: FileHandle, dst: Uint8Array, position: number, file: string, name?: string) {
  let done = 0;
  while (done < dst.byteLength) {
    const len = Math.min(CHUNK_BYTES * 4, dst.byteLength - done);
    const { bytesRead } = await fh.read(dst, done, len, position + done);
    if (bytesRead === 0) {
      throw new SafetensorsError(`unexpected end of file at byte ${position + done}`, file, name);
    }
    done += bytesRead;
  }
}

async function readHeaderFrom(
  fh: FileHandle,
  file: string,
  maxHeaderBytes: number,
): Promise<SafetensorsHeader> {
  const { size } = await fh.stat();
  const prefix = new Uint8Array(8);
  if (size >= 8) await readExactly(fh, prefix, 0, file);
  const n = headerLength(prefix, size, file, maxHeaderBytes);
  const json = new Uint8Array(n);
  await readExactly(fh, json, 8, file);
  const header = parseSafetensorsHeader(json, size - 8 - n, file);
  header.dataOffset = 8 + n;
  return header;
}

/** Reads and validates the header of a safetensors file (the data is not read). */
export async function readSafetensorsHeader(
  path: string,
  opts: { maxHeaderBytes?: number } = {},
): Promise<SafetensorsHeader> {
  const fh = await openForRead(path);
  try {
    return await readHeaderFrom(fh, path, opts.maxHeaderBytes ?? MAX_HEADER_BYTES);
  } finally {
    await fh.close();
  }
}

async function openForRead(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (err) {
    throw new SafetensorsError(`cannot open (${(err as Error).message})`, path);
  }
}

/**
 * Yields the tensors of a safetensors file one at a time, in file order, each read from disk only when
 * requested. Use it to move a large checkpoint into tf tensors without holding all of it as TypedArrays.
 */
export async function* iterateSafetensors(
  path: string,
  opts: ReadOptions = {},
): AsyncGenerator<[string, LoadedTensor]> {
  const fh = await openForRead(path);
  try {
    const header = await readHeaderFrom(fh, path, opts.maxHeaderBytes ?? MAX_HEADER_BYTES);
    for (const t of selectTensors(header, opts.names, path)) {
      const out = outputFor(t, path);
      const position = header.dataOffset + t.begin;
      if (t.dtype === 'F32' || t.dtype === 'I32') {
        // Straight into the output array: one copy of the data in memory.
        await readExactly(fh, new Uint8Array(out.data.buffer), position, path, t.name);
      } else {
        const size = DTYPE_SIZE[t.dtype];
        const scratch = new Uint8Array(Math.min(CHUNK_BYTES, t.end - t.begin));
        const perChunk = Math.floor(scratch.byteLength / size);
        for (let at = 0; at < out.data.length; at += perChunk) {
          const count = Math.min(perChunk, out.data.length - at);
          const chunk = scratch.subarray(0, count * size);
          await readExactly(fh, chunk, position + at * size, path, t.name);
          convertInto(t.dtype, chunk, count, out.data, at, path, t.name);
        }
      }
      yield [t.name, out];
    }
  } finally {
    await fh.close();
  }
}

/** Reads a safetensors file (all tensors, or `opts.names`) into float32/int32 arrays. */
export async function loadSafetensors(
  path: string,
  opts: ReadOptions = {},
): Promise<Map<string, LoadedTensor>> {
  const out = new Map<string, LoadedTensor>();
  for await (const [name, t] of iterateSafetensors(path, opts)) out.set(name, t);
  return out;
}

/** Parses a whole safetensors file held in memory. The returned arrays are copies. */
export function parseSafetensors(
  bytes: Uint8Array,
  opts: ReadOptions & { file?: string } = {},
): { tensors: Map<string, LoadedTensor>; metadata: Record<string, string> } {
  const file = opts.file ?? '<buffer>';
  const n = headerLength(bytes, bytes.byteLength, file, opts.maxHeaderBytes ?? MAX_HEADER_BYTES);
  const header = parseSafetensorsHeader(bytes.subarray(8, 8 + n), bytes.byteLength - 8 - n, file);
  const tensors = new Map<string, LoadedTensor>();
  for (const t of selectTensors(header, opts.names, file)) {
    const out = outputFor(t, file);
    const src = bytes.subarray(8 + n + t.begin, 8 + n + t.end);
    convertInto(t.dtype, src, out.data.length, out.data, 0, file, t.name);
    tensors.set(t.name, out);
  }
  return { tensors, metadata: header.metadata };
}

// ---------------------------------------------------------------------------------------------------------
// Writing

/** What can be saved: a tf.Tensor (float32 or int32) or plain data. */
export type SaveableTensor = tf.Tensor | TensorData;

export interface WriteOptions {
  /** String → string metadata stored as `__metadata__`. */
  metadata?: Record<string, string>;
  /** Element type for float32 tensors: 'F32' (default) or 'F16'. int32 tensors are always I32. */
  floatDtype?: 'F32' | 'F16';
}

interface Planned {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  source: SaveableTensor;
  begin: number;
  end: number;
}

/** Header and layout in the reference implementation's order: dtype descending, then name. */
function plan(tensors: Record<string, SaveableTensor> | Map<string, SaveableTensor>, opts: WriteOptions) {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const list: Planned[] = entries.map(([name, t]) => {
    if (name === '__metadata__') throw new Error('safetensors: "__metadata__" cannot be a tensor name');
    const dtype = t.dtype;
    if (dtype !== 'float32' && dtype !== 'int32') {
      throw new Error(
        `safetensors: tensor ${JSON.stringify(name)} has dtype ${dtype}; only float32 and int32 can be written`,
      );
    }
    const shape = [...t.shape];
    const count = shape.reduce((a, b) => a * b, 1);
    if (!(t instanceof tf.Tensor) && t.data.length !== count) {
      throw new Error(
        `safetensors: tensor ${JSON.stringify(name)} has ${t.data.length} values for shape ${JSON.stringify(shape)}`,
      );
    }
    const st: SafetensorsDtype = dtype === 'int32' ? 'I32' : (opts.floatDtype ?? 'F32');
    return { name, dtype: st, shape, source: t, begin: 0, end: 0 };
  });
  list.sort(
    (a, b) =>
      DTYPE_ORDER.indexOf(b.dtype) - DTYPE_ORDER.indexOf(a.dtype) ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  let pos = 0;
  const header: Record<string, unknown> = {};
  if (opts.metadata && Object.keys(opts.metadata).length > 0) {
    for (const [k, v] of Object.entries(opts.metadata)) {
      if (typeof v !== 'string')
        throw new Error(`safetensors: metadata ${JSON.stringify(k)} must be a string`);
    }
    header.__metadata__ = opts.metadata;
  }
  for (const p of list) {
    p.begin = pos;
    p.end = pos + p.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[p.dtype];
    pos = p.end;
    header[p.name] = { dtype: p.dtype, shape: p.shape, data_offsets: [p.begin, p.end] };
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8; // data starts 8-byte aligned
  if (padded !== json.byteLength) {
    const buf = new Uint8Array(padded).fill(0x20);
    buf.set(json);
    json = buf;
  }
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  return { list, prefix, json, dataBytes: pos };
}

function valuesOf(t: SaveableTensor): Float32Array | Int32Array {
  return t instanceof tf.Tensor ? (t.dataSync() as Float32Array | Int32Array) : t.data;
}

/** Encodes `values` as the element type `dtype` into fresh little-endian bytes. */
function encode(dtype: SafetensorsDtype, values: Float32Array | Int32Array): Uint8Array {
  if (dtype === 'F16') {
    const out = new Uint8Array(values.length * 2);
    const view = new DataView(out.buffer);
    for (let i = 0; i < values.length; i++) view.setUint16(2 * i, float32ToFloat16Bits(values[i]), true);
    return out;
  }
  const typed = dtype === 'I32' ? Int32Array.from(values) : Float32Array.from(values);
  return new Uint8Array(typed.buffer);
}

function bytesOf(dtype: SafetensorsDtype, values: Float32Array | Int32Array): Uint8Array {
  const sameLayout =
    (dtype === 'F32' && values instanceof Float32Array) || (dtype === 'I32' && values instanceof Int32Array);
  return sameLayout
    ? new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
    : encode(dtype, values);
}

async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.byteLength - done);
    done += bytesWritten;
  }
}

/** Encodes tensors into a complete safetensors file in memory. */
export function serializeSafetensors(
  tensors: Record<string, SaveableTensor> | Map<string, SaveableTensor>,
  opts: WriteOptions = {},
): Uint8Array {
  const { list, prefix, json, dataBytes } = plan(tensors, opts);
  const out = new Uint8Array(8 + json.byteLength + dataBytes);
  out.set(prefix, 0);
  out.set(json, 8);
  const base = 8 + json.byteLength;
  for (const p of list) out.set(bytesOf(p.dtype, valuesOf(p.source)), base + p.begin);
  return out;
}

/**
 * Writes tensors to `path` atomically: into a temporary file beside it, flushed, then renamed over `path`.
 * Tensors are encoded one at a time, so memory holds at most one tensor's converted bytes.
 */
export async function saveSafetensors(
  path: string,
  tensors: Record<string, SaveableTensor> | Map<string, SaveableTensor>,
  opts: WriteOptions = {},
): Promise<void> {
  const { list, prefix, json } = plan(tensors, opts);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx');
  try {
    await writeAll(fh, prefix);
    await writeAll(fh, json);
    for (const p of list) {
      const values =
        p.source instanceof tf.Tensor
          ? ((await p.source.data()) as Float32Array | Int32Array)
          : p.source.data;
      const bytes = bytesOf(p.dtype, values);
      for (let off = 0; off < bytes.byteLength; off += CHUNK_BYTES * 4) {
        await writeAll(fh, bytes.subarray(off, Math.min(bytes.byteLength, off + CHUNK_BYTES * 4)));
      }
    }
    await fh.sync();
    await fh.close();
    await rename(tmp, path);
  } catch (err) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  }
}
