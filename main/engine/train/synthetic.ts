// Synthetic labelled images for tests and smoke runs: each class is a fixed random pattern plus
// per-sample noise, so a few steps of training visibly separate them. No files needed, or an IDX
// pair on disk for the CLI and worker.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ImageDataset } from '../data/dataset';
import { Rng } from './rng';

function pixels(n: number, numClasses: number, size: number, channels: number, seed: number): { images: Float32Array[]; labels: number[] } {
  const rng = Rng.fromSeed(seed);
  const per = size * size * channels;
  const patterns = Array.from({ length: numClasses }, () => rng.fill(per, (r) => r.normal()));
  const labels = Array.from({ length: n }, (_, i) => i % numClasses);
  const images = labels.map((label) => {
    const noise = rng.fill(per, (r) => 0.8 * r.normal());
    return noise.map((v, k) => v + patterns[label]![k]!);
  });
  return { images, labels };
}

/** An in-memory data set of normalised HWC images of exactly `size` × `size`. */
export function syntheticDataset(n: number, numClasses: number, size: number, channels: number, seed = 0): ImageDataset {
  const { images, labels } = pixels(n, numClasses, size, channels, seed);
  return {
    classes: Array.from({ length: numClasses }, (_, i) => `class${i}`),
    classOrder: 'sorted',
    length: n,
    label: (i) => labels[i]!,
    id: (i) => `synthetic#${i}`,
    load: async (i, spec) => {
      if (spec.imageSize !== size || spec.numChannels !== channels) throw new Error(`synthetic images are ${size}×${size}×${channels}`);
      return images[i]!;
    },
  };
}

/** Writes train-images-idx3-ubyte + train-labels-idx1-ubyte (greyscale, 0–255) into `dir`. */
export async function writeSyntheticIdx(dir: string, n: number, numClasses: number, size: number, seed = 0): Promise<void> {
  const { images, labels } = pixels(n, numClasses, size, 1, seed);
  const header = (magic: number, dims: number[]) => {
    const b = Buffer.alloc(4 + 4 * dims.length);
    b.writeUInt32BE(magic, 0);
    dims.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
    return b;
  };
  const bytes = Buffer.alloc(n * size * size);
  images.forEach((img, i) => img.forEach((v, k) => (bytes[i * size * size + k] = Math.min(255, Math.max(0, Math.round(128 + 50 * v))))));
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'train-images-idx3-ubyte'), Buffer.concat([header(0x803, [n, size, size]), bytes]));
  await fs.writeFile(path.join(dir, 'train-labels-idx1-ubyte'), Buffer.concat([header(0x801, [n]), Buffer.from(labels)]));
}
