import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSafetensors, SafetensorsReader, writeSafetensors, type HostTensor } from './safetensors';

const dir = mkdtempSync(path.join(tmpdir(), 'safetensors-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let counter = 0;
/** Writes a file from a raw header text (or object) and data bytes, exactly as given. */
function rawFile(header: string | object, data: Uint8Array = new Uint8Array(0), lengthOverride?: bigint): string {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(lengthOverride ?? BigInt(json.length));
  const file = path.join(dir, `raw-${counter++}.safetensors`);
  writeFileSync(file, Buffer.concat([prefix, json, data]));
  return file;
}

const f32 = (...v: number[]) => new Uint8Array(new Float32Array(v).buffer);

async function rejects(file: string, message: RegExp): Promise<void> {
  const err = await SafetensorsReader.open(file).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(err, 'expected the file to be rejected').toBeInstanceOf(Error);
  expect(err!.message).toMatch(message);
  expect(err!.message).not.toContain('\n');
  expect(err!.message.startsWith(file)).toBe(true);
}

describe('safetensors reader rejects malformed files', () => {
  it('file shorter than the length prefix', async () => {
    const file = path.join(dir, 'short.safetensors');
    writeFileSync(file, Buffer.from([1, 2, 3]));
    await rejects(file, /shorter than the 8-byte header length/);
  });

  it('header length beyond the file', async () => {
    await rejects(rawFile({}, new Uint8Array(0), 1000n), /runs past the end of the/);
  });

  it('header length above 100 MB', async () => {
    await rejects(rawFile({}, new Uint8Array(0), 100n * 1024n * 1024n + 1n), /exceeds the 100 MB limit/);
  });

  it('invalid JSON', async () => {
    await rejects(rawFile('{"a": {"dtype": "F32",'), /not valid JSON/);
  });

  it('JSON that is not an object', async () => {
    await rejects(rawFile('[1, 2]'), /not a JSON object/);
  });

  it('duplicate tensor names', async () => {
    const entry = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}';
    await rejects(rawFile(`{"w": ${entry}, "b": {"dtype":"F32","shape":[],"data_offsets":[4,8]}, "w": ${entry}}`, f32(1, 2)), /names tensor "w" twice/);
  });

  it('duplicate detection ignores nested keys and escaped quotes', async () => {
    const header = `{"__metadata__": {"dtype": "x", "a\\"b": "y"}, "a\\"b": {"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`;
    const reader = await SafetensorsReader.open(rawFile(header, f32(7)));
    expect(reader.names).toEqual(['a"b']);
    expect(reader.header.metadata).toEqual({ dtype: 'x', 'a"b': 'y' });
    await reader.close();
  });

  it('offsets outside the data section', async () => {
    await rejects(rawFile({ w: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, f32(1, 2)), /lie outside the 8-byte data section/);
  });

  it('offsets that are reversed, negative or not integers', async () => {
    await rejects(rawFile({ w: { dtype: 'F32', shape: [0], data_offsets: [4, 0] } }, f32(1)), /invalid data_offsets/);
    await rejects(rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [-4, 0] } }, f32(1)), /invalid data_offsets/);
    await rejects(rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4.5] } }, f32(1, 2)), /invalid data_offsets/);
  });

  it('overlapping ranges', async () => {
    const header = {
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    };
    await rejects(rawFile(header, f32(1, 2, 3)), /"a" \[0, 8\) and "b" \[4, 12\) overlap/);
  });

  it('byte length that does not match dtype size × shape', async () => {
    await rejects(rawFile({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, f32(1, 2)), /spans 8 bytes but F32 \[3\] needs 12/);
    await rejects(rawFile({ w: { dtype: 'F16', shape: [2, 2], data_offsets: [0, 4] } }, f32(1)), /needs 8/);
  });

  it('unknown dtype', async () => {
    await rejects(rawFile({ w: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, f32(1, 2)), /unsupported dtype "F64"/);
  });

  it('invalid shape', async () => {
    await rejects(rawFile({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, f32(1)), /invalid shape/);
    await rejects(rawFile({ w: { dtype: 'F32', shape: 'x', data_offsets: [0, 4] } }, f32(1)), /invalid shape/);
  });

  it('metadata that is not string to string', async () => {
    await rejects(rawFile({ __metadata__: { n: 1 } }), /__metadata__.n is not a string/);
  });

  it('I64 values outside int32', async () => {
    const data = new Uint8Array(new BigInt64Array([1n, 2n ** 31n]).buffer);
    const reader = await SafetensorsReader.open(rawFile({ i: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, data));
    await expect(reader.read('i')).rejects.toThrow(/element 1 = 2147483648 does not fit in int32/);
    await reader.close();
  });
});

describe('safetensors decoding', () => {
  it('F16 known values: 1, -2, 0.5, max, smallest subnormal, -0, inf, NaN', async () => {
    const bits = [0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x8000, 0x7c00, 0x7e00];
    const data = new Uint8Array(new Uint16Array(bits).buffer);
    const { tensors } = await readSafetensors(rawFile({ h: { dtype: 'F16', shape: [8], data_offsets: [0, 16] } }, data));
    const h = tensors.get('h')!;
    expect(h.dtype).toBe('float32');
    expect([...h.data]).toEqual([1, -2, 0.5, 65504, 2 ** -24, -0, Infinity, NaN]);
  });

  it('BF16 known values: 1, -2, pi (truncated), 1e-3 (truncated)', async () => {
    const bits = [0x3f80, 0xc000, 0x4049, 0x3a83];
    const data = new Uint8Array(new Uint16Array(bits).buffer);
    const { tensors } = await readSafetensors(rawFile({ b: { dtype: 'BF16', shape: [2, 2], data_offsets: [0, 8] } }, data));
    const b = tensors.get('b')!;
    expect(b.shape).toEqual([2, 2]);
    expect([...b.data]).toEqual([1, -2, 3.140625, 0.00099945068359375]);
  });

  it('I64 within range narrows to int32', async () => {
    const data = new Uint8Array(new BigInt64Array([-(2n ** 31n), 0n, 2n ** 31n - 1n]).buffer);
    const { tensors } = await readSafetensors(rawFile({ i: { dtype: 'I64', shape: [3], data_offsets: [0, 24] } }, data));
    const i = tensors.get('i')!;
    expect(i.dtype).toBe('int32');
    expect([...i.data]).toEqual([-2147483648, 0, 2147483647]);
  });

  it('reads tensors stored out of header order with a zero-sized tensor', async () => {
    const header = {
      b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      e: { dtype: 'F32', shape: [0, 3], data_offsets: [12, 12] },
    };
    const { tensors } = await readSafetensors(rawFile(header, f32(1, 2, 3)));
    expect([...tensors.get('a')!.data]).toEqual([1, 2]);
    expect([...tensors.get('b')!.data]).toEqual([3]);
    expect(tensors.get('e')!.shape).toEqual([0, 3]);
  });
});

describe('safetensors writer', () => {
  it('round trips F32 and I32 with metadata, aligned data, no temp files left', async () => {
    const file = path.join(dir, 'sub-roundtrip.safetensors');
    const tensors = new Map<string, HostTensor>([
      ['w', { dtype: 'float32', shape: [2, 3], data: new Float32Array([1, -2.5, 3, 1e-8, 5, 6]) }],
      ['i', { dtype: 'int32', shape: [3], data: new Int32Array([-7, 0, 2147483647]) }],
      ['s', { dtype: 'float32', shape: [], data: new Float32Array([42]) }],
    ]);
    await writeSafetensors(file, tensors, { format: 'pt', note: 'unit test' });
    const reader = await SafetensorsReader.open(file);
    expect(reader.header.dataStart % 8).toBe(0);
    expect(reader.header.metadata).toEqual({ format: 'pt', note: 'unit test' });
    expect(reader.names).toEqual(['w', 'i', 's']);
    for (const [name, t] of tensors) {
      const back = await reader.read(name);
      expect(back.dtype).toBe(t.dtype);
      expect(back.shape).toEqual(t.shape);
      expect([...back.data]).toEqual([...t.data]);
    }
    expect(reader.header.tensors.get('w')!.dtype).toBe('F32');
    expect(reader.header.tensors.get('i')!.dtype).toBe('I32');
    await reader.close();
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('overwrites an existing file and accepts a plain record', async () => {
    const file = path.join(dir, 'overwrite.safetensors');
    await writeSafetensors(file, { a: { dtype: 'float32', shape: [1], data: new Float32Array([1]) } });
    await writeSafetensors(file, { a: { dtype: 'float32', shape: [2], data: new Float32Array([2, 3]) } });
    const { tensors, metadata } = await readSafetensors(file);
    expect([...tensors.get('a')!.data]).toEqual([2, 3]);
    expect(metadata).toEqual({});
  });

  it('writes a view into a larger buffer correctly', async () => {
    const file = path.join(dir, 'view.safetensors');
    const big = new Float32Array([9, 9, 1, 2, 9]);
    await writeSafetensors(file, { v: { dtype: 'float32', shape: [2], data: big.subarray(2, 4) } });
    const { tensors } = await readSafetensors(file);
    expect([...tensors.get('v')!.data]).toEqual([1, 2]);
  });

  it('refuses a shape that does not match the data', async () => {
    await expect(
      writeSafetensors(path.join(dir, 'bad.safetensors'), { a: { dtype: 'float32', shape: [3], data: new Float32Array(2) } }),
    ).rejects.toThrow(/has 2 values but shape \[3\] needs 3/);
  });
});
