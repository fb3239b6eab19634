import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PreprocessConfig } from '../io/checkpoint';
import { batches, openDataset, readImageFolder } from './dataset';
import { decodeImage, type InputSpec } from './decode';
import { readIdx } from './idx';

const dir = mkdtempSync(path.join(tmpdir(), 'data-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function idx(dims: number[], data: number[]): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt8(0x08, 2);
  header.writeUInt8(dims.length, 3);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(data)]);
}

const identity: PreprocessConfig = { resize: null, rescale: null, normalize: null };
const spec = (imageSize: number, numChannels: number, preprocess: PreprocessConfig = identity): InputSpec => ({
  imageSize,
  numChannels,
  preprocess,
});

async function png(file: string, width: number, height: number, channels: 1 | 3 | 4, pixels: number[]): Promise<void> {
  mkdirSync(path.dirname(file), { recursive: true });
  await sharp(Buffer.from(pixels), { raw: { width, height, channels } }).png().toFile(file);
}

describe('IDX reader', () => {
  it('reads plain and gzip files, dims big-endian', async () => {
    const bytes = idx([2, 1, 3], [1, 2, 3, 4, 5, 6]);
    writeFileSync(path.join(dir, 'plain-idx'), bytes);
    writeFileSync(path.join(dir, 'gz-idx.gz'), gzipSync(bytes));
    for (const f of ['plain-idx', 'gz-idx.gz']) {
      const a = await readIdx(path.join(dir, f));
      expect(a.dims).toEqual([2, 1, 3]);
      expect([...a.data]).toEqual([1, 2, 3, 4, 5, 6]);
    }
  });

  it('rejects wrong magic, non-byte types and size mismatches', async () => {
    writeFileSync(path.join(dir, 'bad1'), Buffer.from([1, 0, 8, 1, 0, 0, 0, 1, 5]));
    await expect(readIdx(path.join(dir, 'bad1'))).rejects.toThrow(/not an IDX file/);
    writeFileSync(path.join(dir, 'bad2'), Buffer.from([0, 0, 0x0d, 1, 0, 0, 0, 1, 5, 5, 5, 5]));
    await expect(readIdx(path.join(dir, 'bad2'))).rejects.toThrow(/type 0xd is not unsigned byte/);
    writeFileSync(path.join(dir, 'bad3'), idx([3], [1, 2]));
    await expect(readIdx(path.join(dir, 'bad3'))).rejects.toThrow(/need 3 bytes, file has 2/);
  });

  it('openDataset prefers the t10k pair and rescales/normalises pixels', async () => {
    const folder = path.join(dir, 'idx-folder');
    mkdirSync(folder);
    writeFileSync(path.join(folder, 'train-images-idx3-ubyte.gz'), gzipSync(idx([1, 2, 2], [9, 9, 9, 9])));
    writeFileSync(path.join(folder, 'train-labels-idx1-ubyte.gz'), gzipSync(idx([1], [0])));
    writeFileSync(path.join(folder, 't10k-images-idx3-ubyte.gz'), gzipSync(idx([2, 2, 2], [0, 51, 102, 255, 255, 0, 0, 0])));
    writeFileSync(path.join(folder, 't10k-labels-idx1-ubyte.gz'), gzipSync(idx([2], [3, 1])));
    const ds = await openDataset(folder);
    expect(ds.classOrder).toBe('numeric');
    expect(ds.classes).toEqual(['0', '1', '2', '3']);
    expect(ds.length).toBe(2);
    expect([ds.label(0), ds.label(1)]).toEqual([3, 1]);
    expect(ds.id(1)).toMatch(/t10k-images-idx3-ubyte\.gz#1$/);
    const pre: PreprocessConfig = { resize: { height: 2, width: 2 }, rescale: 1 / 255, normalize: { mean: [0.5], std: [0.5] } };
    const x = await ds.load(0, spec(2, 1, pre));
    [-1, -0.6, -0.2, 1].forEach((v, i) => expect(x[i]).toBeCloseTo(v, 6));
  });
});

describe('decodeImage', () => {
  it('greyscale uses PIL luma (299/587/114), alpha dropped, then rescale and normalise', async () => {
    const file = path.join(dir, 'rgba.png');
    await png(file, 2, 2, 4, [10, 200, 30, 0, 255, 255, 255, 128, 0, 0, 0, 255, 1, 2, 3, 4]);
    const grey = await decodeImage(file, spec(2, 1, { resize: null, rescale: 1, normalize: { mean: [100], std: [2] } }));
    expect([...grey]).toEqual([124, 255, 0, 2].map((v) => (v - 100) / 2)); // PIL: 124 = round(2.99 + 117.4 + 3.42)
    const rgb = await decodeImage(file, spec(2, 3));
    expect([...rgb]).toEqual([10, 200, 30, 255, 255, 255, 0, 0, 0, 1, 2, 3]);
  });

  it('replicates a greyscale image into three channels for an RGB model', async () => {
    const file = path.join(dir, 'grey.png');
    await png(file, 1, 1, 1, [77]);
    expect([...(await decodeImage(file, spec(1, 3)))]).toEqual([77, 77, 77]);
  });

  it('resizes to the model size, and refuses a wrong size when do_resize is off', async () => {
    const file = path.join(dir, 'big.png');
    await png(file, 4, 4, 3, new Array(48).fill(60));
    const x = await decodeImage(file, spec(2, 3, { resize: { height: 2, width: 2 }, rescale: null, normalize: null }));
    expect(x.length).toBe(12);
    x.forEach((v) => expect(v).toBeCloseTo(60, 0));
    await expect(decodeImage(file, spec(2, 3))).rejects.toThrow(/image is 4×4, the model takes 2×2 and do_resize is off/);
  });
});

describe('ImageFolder', () => {
  const root = path.join(dir, 'folder');
  beforeAll(async () => {
    for (const [cls, names] of [
      ['cat', ['b.png', 'a.png']],
      ['dog', ['z.png']],
      ['ant', ['x.png']],
    ] as const) {
      for (const n of names) await png(path.join(root, cls, n), 1, 1, 3, [1, 2, 3]);
    }
    writeFileSync(path.join(root, 'cat', 'notes.txt'), 'not an image');
    writeFileSync(path.join(root, 'README'), 'top-level file');
  });

  it('without model labels: sorted folder names, sorted files, non-images ignored', async () => {
    const ds = await readImageFolder(root);
    expect(ds.classOrder).toBe('sorted');
    expect(ds.classes).toEqual(['ant', 'cat', 'dog']);
    expect(Array.from({ length: ds.length }, (_, i) => [path.relative(root, ds.id(i)), ds.label(i)])).toEqual([
      ['ant/x.png', 0],
      ['cat/a.png', 1],
      ['cat/b.png', 1],
      ['dog/z.png', 2],
    ]);
  });

  it("follows the model's id2label order when every folder is one of its labels", async () => {
    const ds = await readImageFolder(root, ['dog', 'bird', 'cat', 'ant']);
    expect(ds.classOrder).toBe('model');
    expect(ds.classes).toEqual(['dog', 'bird', 'cat', 'ant']);
    expect(Array.from({ length: ds.length }, (_, i) => ds.label(i))).toEqual([0, 2, 2, 3]);
    const other = await readImageFolder(root, ['dog', 'cat']);
    expect(other.classOrder).toBe('sorted');
  });

  it('batches in order with a limit', async () => {
    const ds = await readImageFolder(root);
    const out = [];
    for await (const b of batches(ds, spec(1, 3), { batchSize: 2, limit: 3 })) out.push(b);
    expect(out.map((b) => b.shape)).toEqual([
      [2, 1, 1, 3],
      [1, 1, 1, 3],
    ]);
    expect([...out[0]!.labels, ...out[1]!.labels]).toEqual([0, 1, 1]);
    expect([...out[1]!.images]).toEqual([1, 2, 3]);
  });

  it('reports a folder without class sub-folders', async () => {
    const empty = path.join(dir, 'empty');
    mkdirSync(empty);
    await expect(readImageFolder(empty)).rejects.toThrow(/no class sub-folders/);
  });
});
