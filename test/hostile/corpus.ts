// Generates the hostile-input corpus: files that a studio is handed in the wild and must refuse
// cleanly (or accept correctly). Made by code, so the repository holds no binary test files.
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { pngBomb, truncated } from '../bad-files';

export interface HostileCase {
  /** Path inside the corpus folder. */
  path: string;
  /** A pattern of the one-line reason it is skipped, or 'imported' for valid oddities. */
  expect: RegExp | 'imported';
}

const noisy = (width: number, height: number, channels: 3 | 4 = 3) =>
  sharp({ create: { width, height, channels, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } });

/** Writes the corpus into dir (an ImageFolder with one class, "cases") and says what each file must give. */
export async function writeHostileCorpus(dir: string): Promise<HostileCase[]> {
  const folder = join(dir, 'cases');
  mkdirSync(folder, { recursive: true });
  const cases: HostileCase[] = [];
  const add = (name: string, bytes: Buffer | string, expect: HostileCase['expect']) => {
    writeFileSync(join(folder, name), bytes);
    cases.push({ path: join('cases', name), expect });
  };
  const png = await noisy(64, 48).png().toBuffer();
  const jpeg = await noisy(64, 48).jpeg().toBuffer();
  const webp = await noisy(64, 48).webp().toBuffer();

  add('truncated.png', truncated(png), /truncated or corrupt/);
  add('truncated.jpg', truncated(jpeg), /truncated or corrupt/);
  add('truncated.webp', truncated(webp), /truncated or corrupt|not an image/);
  add('zero-bytes.png', Buffer.alloc(0), /empty file/);
  add('text-renamed.jpg', 'just some text pretending to be a photo\n', /not an image/);
  add('bomb.png', pngBomb(100_000, 100_000), /above the 100 MP limit/);
  add('header-only.jpg', jpeg.subarray(0, 200), /truncated or corrupt|not an image/);
  add('random-bytes.png', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)), /not an image/);
  // Valid oddities: imported, decoded to sRGB 8-bit, upright.
  add('sixteen-bit.png', await noisy(40, 30).toColourspace('rgb16').png().toBuffer(), 'imported');
  add('cmyk.jpg', await noisy(40, 30).toColourspace('cmyk').jpeg().toBuffer(), 'imported');
  add('palette.png', await noisy(40, 30).png({ palette: true, colours: 16 }).toBuffer(), 'imported');
  add('exif-rotated.jpg', await noisy(60, 20).jpeg().withMetadata({ orientation: 6 }).toBuffer(), 'imported');
  add('with-alpha.png', await noisy(30, 30, 4).png().toBuffer(), 'imported');

  // A symbolic link loop and a link out of the folder: never followed.
  symlinkSync(dir, join(folder, 'loop'));
  cases.push({ path: join('cases', 'loop'), expect: /symbolic link/ });
  symlinkSync('/etc/passwd', join(folder, 'passwd.png'));
  cases.push({ path: join('cases', 'passwd.png'), expect: /symbolic link/ });
  return cases;
}
