// Writes the first N images of each class of Fashion-MNIST (Debian's dataset-fashion-mnist
// package: apt-get install -y dataset-fashion-mnist) as PNGs into an ImageFolder, one
// sub-folder per class named after it (T-shirt_top, Trouser, …).
//   npx tsx scripts/make-fashion-folder.ts OUT_DIR [PER_CLASS=100] [CLASSES=all, e.g. 0,1,7]
// "First" follows the order of the training set's IDX files; the files are read from
// /usr/share/datasets/fashion-mnist (or $FASHION_MNIST_DIR).
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { readIdx } from '../main/engine/data/idx';

export const FASHION_CLASSES = ['T-shirt_top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle_boot'];

const DEFAULT_DIR = '/usr/share/datasets/fashion-mnist';

/** Where the IDX files are, or undefined when the package is not installed. */
export function fashionMnistDir(): string | undefined {
  const dir = process.env.FASHION_MNIST_DIR ?? DEFAULT_DIR;
  return existsSync(path.join(dir, 'train-images-idx3-ubyte.gz')) || existsSync(path.join(dir, 'train-images-idx3-ubyte')) ? dir : undefined;
}

const idxFile = (dir: string, base: string) => (existsSync(path.join(dir, `${base}.gz`)) ? path.join(dir, `${base}.gz`) : path.join(dir, base));

/**
 * Writes `perClass` images of each class (all ten, or the indices in `classes`) to
 * OUT_DIR/<class name>/<index>.png and returns how many it wrote per class name.
 */
export async function makeFashionFolder(outDir: string, perClass: number, classes: readonly number[] = FASHION_CLASSES.map((_, i) => i)): Promise<Record<string, number>> {
  const dir = fashionMnistDir();
  if (!dir) throw new Error(`Fashion-MNIST not found in ${process.env.FASHION_MNIST_DIR ?? DEFAULT_DIR}: apt-get install -y dataset-fashion-mnist`);
  const [images, labels] = await Promise.all([readIdx(idxFile(dir, 'train-images-idx3-ubyte')), readIdx(idxFile(dir, 'train-labels-idx1-ubyte'))]);
  const [count, rows, cols] = images.dims as [number, number, number];
  if (labels.dims[0] !== count) throw new Error(`Fashion-MNIST: ${count} images but ${labels.dims[0]} labels`);
  const wanted = new Set(classes);
  const written: Record<string, number> = {};
  for (const c of wanted) {
    if (!FASHION_CLASSES[c]) throw new Error(`Fashion-MNIST has classes 0..9, not ${c}`);
    written[FASHION_CLASSES[c]] = 0;
    await mkdir(path.join(outDir, FASHION_CLASSES[c]), { recursive: true });
  }
  const size = rows * cols;
  for (let i = 0; i < count; i++) {
    const label = labels.data[i]!;
    const name = FASHION_CLASSES[label]!;
    if (!wanted.has(label) || written[name]! >= perClass) continue;
    const pixels = images.data.subarray(i * size, (i + 1) * size);
    const file = path.join(outDir, name, `${String(i).padStart(5, '0')}.png`);
    await sharp(Buffer.from(pixels), { raw: { width: cols, height: rows, channels: 1 } }).png().toFile(file);
    written[name]!++;
    if (Object.values(written).every((n) => n >= perClass)) break;
  }
  return written;
}

// Run as a script (no import.meta here: Playwright specs import this file too).
if (/make-fashion-folder\.ts$/.test(process.argv[1] ?? '')) {
  const [out, n = '100', which] = process.argv.slice(2);
  if (!out) {
    console.error('usage: tsx scripts/make-fashion-folder.ts OUT_DIR [PER_CLASS=100] [CLASSES=0,1,…]');
    process.exit(2);
  }
  const classes = which ? which.split(',').map(Number) : undefined;
  makeFashionFolder(out, Number(n), classes).then(
    (written) => console.log(`wrote ${JSON.stringify(written)} to ${out}`),
    (err: unknown) => {
      console.error(String(err instanceof Error ? err.message : err));
      process.exit(1);
    },
  );
}
