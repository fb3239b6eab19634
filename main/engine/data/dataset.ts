// Labelled image sources (an ImageFolder tree or an IDX pair) behind one interface, and batching.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { decodeImage, rawToInput, type InputSpec } from './decode';
import { readIdx } from './idx';

export interface ImageDataset {
  /** Class names; labels index into this list. */
  classes: string[];
  /** 'model': classes are the model's id2label order; 'sorted': sorted folder names; 'numeric': IDX. */
  classOrder: 'model' | 'sorted' | 'numeric';
  length: number;
  label(i: number): number;
  /** Where sample i comes from: a file path, or "file#index" for IDX. */
  id(i: number): string;
  /** Sample i as model input (HWC float32, normalised). */
  load(i: number, spec: InputSpec): Promise<Float32Array>;
  /** The user's split of sample i (studio manifests); absent when the source has no splits. */
  split?(i: number): 'train' | 'val' | 'test' | null;
}

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.gif', '.tif', '.tiff', '.avif', '.bmp']);

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * An ImageFolder: one sub-folder per class holding that class's images. When every folder name
 * is one of the model's labels, labels follow the model's id2label (so predictions and labels
 * agree); otherwise classes are the sorted folder names, as torchvision's ImageFolder does.
 */
export async function readImageFolder(root: string, modelClasses?: readonly string[]): Promise<ImageDataset> {
  const entries = await fs.readdir(root, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`${root}: cannot read data folder (${err.code ?? err.message})`);
  });
  const folders = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort(byName);
  if (folders.length === 0) throw new Error(`${root}: no class sub-folders (expected <root>/<class>/<image>)`);
  const fromModel = modelClasses !== undefined && folders.every((f) => modelClasses.includes(f));
  const classes = fromModel ? [...modelClasses] : folders;
  const files: string[] = [];
  const labels: number[] = [];
  for (const folder of fromModel ? classes.filter((c) => folders.includes(c)) : folders) {
    const dir = path.join(root, folder);
    const names = (await fs.readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isFile() && !e.name.startsWith('.') && IMAGE_EXTENSIONS.has(path.extname(e.name).toLowerCase()))
      .map((e) => e.name)
      .sort(byName);
    for (const name of names) {
      files.push(path.join(dir, name));
      labels.push(classes.indexOf(folder));
    }
  }
  if (files.length === 0) throw new Error(`${root}: no images (${[...IMAGE_EXTENSIONS].join(' ')}) in its class folders`);
  return {
    classes,
    classOrder: fromModel ? 'model' : 'sorted',
    length: files.length,
    label: (i) => labels[i]!,
    id: (i) => files[i]!,
    load: (i, spec) => decodeFile(files[i]!, spec),
  };
}

/** Decodes one image file as model input; a failure names the file, in one line. */
export async function decodeFile(file: string, spec: InputSpec): Promise<Float32Array> {
  try {
    return await decodeImage(file, spec);
  } catch (err) {
    throw new Error(`${file}: cannot decode (${(err as Error).message.split('\n')[0]})`, { cause: err });
  }
}

/** Finds `<prefix>-images-idx3-ubyte[.gz]` + `<prefix>-labels-idx1-ubyte[.gz]` pairs in a folder. */
export async function findIdxPairs(dir: string): Promise<Map<string, { images: string; labels: string }>> {
  const names = await fs.readdir(dir);
  const pairs = new Map<string, { images: string; labels: string }>();
  for (const name of names) {
    const m = /^(.*)-images[-.]idx3-ubyte(\.gz)?$/.exec(name);
    if (!m) continue;
    const label = names.find((n) => new RegExp(`^${m[1]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-labels[-.]idx1-ubyte(\\.gz)?$`).test(n));
    if (label) pairs.set(m[1]!, { images: path.join(dir, name), labels: path.join(dir, label) });
  }
  return pairs;
}

/** An IDX image/label pair (MNIST layout): greyscale images, integer labels named "0".."K-1". */
export async function readIdxDataset(imagesFile: string, labelsFile: string): Promise<ImageDataset> {
  const images = await readIdx(imagesFile);
  const labels = await readIdx(labelsFile);
  if (images.dims.length !== 3) throw new Error(`${imagesFile}: expected [n, rows, cols] images, got [${images.dims.join(', ')}]`);
  const [n, height, width] = images.dims as [number, number, number];
  if (labels.dims.length !== 1 || labels.dims[0] !== n) {
    throw new Error(`${labelsFile}: ${labels.dims[0]} labels for ${n} images`);
  }
  const numClasses = Math.max(...labels.data) + 1;
  const size = height * width;
  return {
    classes: Array.from({ length: numClasses }, (_, i) => String(i)),
    classOrder: 'numeric',
    length: n,
    label: (i) => labels.data[i]!,
    id: (i) => `${imagesFile}#${i}`,
    load: (i, spec) => rawToInput({ data: images.data.subarray(i * size, (i + 1) * size), width, height, channels: 1 }, spec),
  };
}

/**
 * Opens a data folder: an IDX folder (the t10k pair when present, for evaluation) or an
 * ImageFolder tree.
 */
export async function openDataset(dir: string, modelClasses?: readonly string[]): Promise<ImageDataset> {
  const pairs = await findIdxPairs(dir).catch(() => new Map<string, { images: string; labels: string }>());
  if (pairs.size > 0) {
    const pair = pairs.get('t10k') ?? pairs.get('test') ?? [...pairs.values()][0]!;
    return readIdxDataset(pair.images, pair.labels);
  }
  return readImageFolder(dir, modelClasses);
}

export interface Batch {
  /** NHWC float32, normalised. */
  images: Float32Array;
  shape: [number, number, number, number];
  labels: Int32Array;
  ids: string[];
}

/** Batches of the first `limit` samples in order; images of a batch are decoded concurrently. */
export async function* batches(
  dataset: ImageDataset,
  spec: InputSpec,
  options: { batchSize: number; limit?: number },
): AsyncGenerator<Batch> {
  const total = Math.min(options.limit ?? dataset.length, dataset.length);
  const { imageSize: s, numChannels: c } = spec;
  const per = s * s * c;
  for (let start = 0; start < total; start += options.batchSize) {
    const end = Math.min(start + options.batchSize, total);
    const indices = Array.from({ length: end - start }, (_, k) => start + k);
    const decoded = await Promise.all(indices.map((i) => dataset.load(i, spec)));
    const images = new Float32Array(indices.length * per);
    decoded.forEach((d, k) => images.set(d, k * per));
    yield {
      images,
      shape: [indices.length, s, s, c],
      labels: Int32Array.from(indices, (i) => dataset.label(i)),
      ids: indices.map((i) => dataset.id(i)),
    };
  }
}
