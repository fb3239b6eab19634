// Reader and writer for the safetensors format (https://github.com/huggingface/safetensors):
// 8-byte little-endian header length N, N bytes of JSON header, then the raw tensor bytes.
// The reader validates the whole header before touching any data and then reads each tensor with a
// positioned read, so multi-gigabyte files are never held in memory as one buffer or string.
import { promises as fs } from 'node:fs';
import { writeFileAtomic } from './atomic';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'I64' | 'I32';

/** A tensor in host memory: floats are always upcast to float32, integers narrowed to int32. */
export type HostTensor =
  | { dtype: 'float32'; shape: number[]; data: Float32Array }
  | { dtype: 'int32'; shape: number[]; data: Int32Array };

export interface TensorEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Byte offsets relative to the start of the data section, end exclusive. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
  /** Absolute file offset of the data section. */
  dataStart: number;
  dataLength: number;
}

export class SafetensorsError extends Error {
  constructor(file: string, reason: string) {
    super(`${file}: ${reason}`);
    this.name = 'SafetensorsError';
  }
}

const DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4 };
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** Parses and validates the header of an opened file. */
async function readHeader(handle: fs.FileHandle, file: string): Promise<SafetensorsHeader> {
  const { size } = await handle.stat();
  if (size < 8) throw new SafetensorsError(file, `file is ${size} bytes, shorter than the 8-byte header length`);
  const prefix = Buffer.alloc(8);
  await handle.read(prefix, 0, 8, 0);
  const headerLength = prefix.readBigUInt64LE(0);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(file, `header length ${headerLength} exceeds the 100 MB limit`);
  }
  const n = Number(headerLength);
  if (8 + n > size) throw new SafetensorsError(file, `header length ${n} runs past the end of the ${size}-byte file`);
  const headerBytes = Buffer.alloc(n);
  await handle.read(headerBytes, 0, n, 8);
  const text = headerBytes.toString('utf8');

  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new SafetensorsError(file, `header is not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new SafetensorsError(file, 'header is not a JSON object');
  }
  const duplicate = findDuplicateTopLevelKey(text);
  if (duplicate !== undefined) throw new SafetensorsError(file, `header names tensor "${duplicate}" twice`);

  const dataStart = 8 + n;
  const dataLength = size - dataStart;
  const tensors = new Map<string, TensorEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(file, value);
      continue;
    }
    tensors.set(name, parseEntry(file, name, value, dataLength));
  }

  const byOffset = [...tensors.values()].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1]!;
    const cur = byOffset[i]!;
    if (cur.begin < prev.end) {
      throw new SafetensorsError(
        file,
        `tensors "${prev.name}" [${prev.begin}, ${prev.end}) and "${cur.name}" [${cur.begin}, ${cur.end}) overlap`,
      );
    }
  }
  return { tensors, metadata, dataStart, dataLength };
}

function parseMetadata(file: string, value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SafetensorsError(file, '__metadata__ is not an object');
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new SafetensorsError(file, `__metadata__.${k} is not a string`);
  }
  return value as Record<string, string>;
}

function parseEntry(file: string, name: string, value: unknown, dataLength: number): TensorEntry {
  if (typeof value !== 'object' || value === null) throw new SafetensorsError(file, `tensor "${name}" is not an object`);
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) {
    throw new SafetensorsError(file, `tensor "${name}" has unsupported dtype ${JSON.stringify(dtype)} (expected F32, F16, BF16, I64 or I32)`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SafetensorsError(file, `tensor "${name}" has invalid shape ${JSON.stringify(shape)}`);
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    throw new SafetensorsError(file, `tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end > dataLength) {
    throw new SafetensorsError(file, `tensor "${name}" data_offsets [${begin}, ${end}] lie outside the ${dataLength}-byte data section`);
  }
  const d = dtype as SafetensorsDtype;
  const expected = DTYPE_BYTES[d] * (shape as number[]).reduce((a, b) => a * b, 1);
  if (end - begin !== expected) {
    throw new SafetensorsError(
      file,
      `tensor "${name}" spans ${end - begin} bytes but ${d} [${(shape as number[]).join(', ')}] needs ${expected}`,
    );
  }
  return { name, dtype: d, shape: [...(shape as number[])], begin, end };
}

/**
 * JSON.parse keeps the last of duplicate keys silently, so scan the (already valid) JSON text for
 * keys at depth 1 ourselves. Returns the first repeated key, decoded.
 */
function findDuplicateTopLevelKey(text: string): string | undefined {
  const seen = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (seen.has(key)) return key;
        seen.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      depth++;
      expectKey = c === '{' && depth === 1;
    } else if (c === '}' || c === ']') {
      depth--;
    } else if (c === ',' && depth === 1) {
      expectKey = true;
    }
  }
  return undefined;
}

/** An open safetensors file: header parsed and validated, tensors read on demand. */
export class SafetensorsReader {
  private constructor(
    readonly file: string,
    readonly header: SafetensorsHeader,
    private readonly handle: fs.FileHandle,
  ) {}

  static async open(file: string): Promise<SafetensorsReader> {
    const handle = await fs.open(file, 'r');
    try {
      return new SafetensorsReader(file, await readHeader(handle, file), handle);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  get names(): string[] {
    return [...this.header.tensors.keys()];
  }

  async read(name: string): Promise<HostTensor> {
    const entry = this.header.tensors.get(name);
    if (!entry) throw new SafetensorsError(this.file, `no tensor named "${name}"`);
    const length = entry.end - entry.begin;
    // allocUnsafeSlow gives a buffer that owns its ArrayBuffer at offset 0, so typed-array views
    // over it are aligned.
    const bytes = Buffer.allocUnsafeSlow(length);
    const { bytesRead } = await this.handle.read(bytes, 0, length, this.header.dataStart + entry.begin);
    if (bytesRead !== length) throw new SafetensorsError(this.file, `tensor "${name}" is truncated`);
    return decode(this.file, entry, bytes.buffer.slice(0, length) as ArrayBuffer);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

function decode(file: string, entry: TensorEntry, buf: ArrayBuffer): HostTensor {
  const shape = [...entry.shape];
  switch (entry.dtype) {
    case 'F32':
      return { dtype: 'float32', shape, data: new Float32Array(buf) };
    case 'F16':
      return { dtype: 'float32', shape, data: f16ToF32(new Uint16Array(buf)) };
    case 'BF16': {
      // bfloat16 is the top half of a float32.
      const src = new Uint16Array(buf);
      const out = new Uint32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = src[i]! << 16;
      return { dtype: 'float32', shape, data: new Float32Array(out.buffer) };
    }
    case 'I32':
      return { dtype: 'int32', shape, data: new Int32Array(buf) };
    case 'I64': {
      const src = new BigInt64Array(buf);
      const out = new Int32Array(src.length);
      for (let i = 0; i < src.length; i++) {
        const v = src[i]!;
        if (v > 2147483647n || v < -2147483648n) {
          throw new SafetensorsError(file, `tensor "${entry.name}" element ${i} = ${v} does not fit in int32`);
        }
        out[i] = Number(v);
      }
      return { dtype: 'int32', shape, data: out };
    }
  }
}

/** IEEE 754 half precision → float32, including subnormals, infinities and NaN. */
function f16ToF32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const h = src[i]!;
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) out[i] = sign * frac * 2 ** -24;
    else if (exp === 31) out[i] = frac ? NaN : sign * Infinity;
    else out[i] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return out;
}

/** Reads every tensor of a file. */
export async function readSafetensors(file: string): Promise<{ tensors: Map<string, HostTensor>; metadata: Record<string, string> }> {
  const reader = await SafetensorsReader.open(file);
  try {
    const tensors = new Map<string, HostTensor>();
    for (const name of reader.names) tensors.set(name, await reader.read(name));
    return { tensors, metadata: reader.header.metadata };
  } finally {
    await reader.close();
  }
}

/**
 * Writes float32 tensors as F32 and int32 tensors as I32, in the given order, atomically.
 * The header is padded with spaces to a multiple of 8 bytes so the data section is aligned, as the
 * reference implementation does.
 */
export async function writeSafetensors(
  file: string,
  tensors: ReadonlyMap<string, HostTensor> | Readonly<Record<string, HostTensor>>,
  metadata: Readonly<Record<string, string>> = {},
): Promise<void> {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const chunks: Uint8Array[] = [];
  for (const [name, t] of entries) {
    if (name === '__metadata__') throw new Error('a tensor cannot be named __metadata__');
    const count = t.shape.reduce((a: number, b: number) => a * b, 1);
    if (count !== t.data.length) {
      throw new Error(`tensor "${name}" has ${t.data.length} values but shape [${t.shape.join(', ')}] needs ${count}`);
    }
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype: t.dtype === 'float32' ? 'F32' : 'I32', shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
    chunks.push(bytes);
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) json = Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)]);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  await writeFileAtomic(file, [prefix, json, ...chunks]);
}
