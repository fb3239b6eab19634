// Reader for the IDX format of MNIST / Fashion-MNIST (plain or gzip-compressed files).
import { promises as fs } from 'node:fs';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';

const gunzipAsync = promisify(gunzip);

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Reads an unsigned-byte IDX file: magic 0x0000 0x08 ndim, big-endian u32 dims, then the bytes. */
export async function readIdx(file: string): Promise<IdxArray> {
  let bytes: Uint8Array = await fs.readFile(file);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = await gunzipAsync(bytes);
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) throw new Error(`${file}: not an IDX file`);
  if (bytes[2] !== 0x08) throw new Error(`${file}: IDX type 0x${bytes[2]!.toString(16)} is not unsigned byte (0x08)`);
  const ndim = bytes[3]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4 + 4 * ndim) throw new Error(`${file}: truncated IDX header`);
  const dims = Array.from({ length: ndim }, (_, i) => view.getUint32(4 + 4 * i, false));
  const start = 4 + 4 * ndim;
  const count = dims.reduce((a, b) => a * b, 1);
  if (bytes.length - start !== count) {
    throw new Error(`${file}: IDX dims [${dims.join(', ')}] need ${count} bytes, file has ${bytes.length - start}`);
  }
  return { dims, data: bytes.subarray(start) };
}
