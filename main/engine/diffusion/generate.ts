// Class-conditional generation with a loaded DiT: guided sampling in chunks and conversion of the
// [-1, 1] samples to 8-bit pixels (PNG files, classifier input).
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import type { VitHooks } from '../models/vit';
import type { LoadedDit } from './dit-folder';
import { guidedEpsilon, sample, type SamplerKind } from './sampler';
import { makeSchedule } from './schedule';

export interface GenerateOptions {
  /** Class id per sample (numClasses = the null class: unconditional). */
  classes: readonly number[];
  steps: number;
  seed: number;
  /** Guidance scale s (1: conditional model only). */
  cfg: number;
  sampler: SamplerKind;
  eta: number;
  /** Samples per model batch (guidance doubles it); bounds memory, not the result. */
  chunk?: number;
  hooks?: VitHooks;
  onProgress?(samplesDone: number, stepsDone: number, steps: number): void;
}

/** 8-bit images, one Uint8Array of H·W·C per sample (NHWC order), from samples in [-1, 1]. */
export function toPixels(x: tf.Tensor4D): Uint8Array[] {
  const [b, h, w, c] = x.shape;
  const size = h * w * c;
  const bytes = tf.tidy(() => tf.cast(tf.clipByValue(tf.round(tf.mul(tf.add(x, 1), 127.5)), 0, 255), 'int32'));
  const u8 = bytes.dataSync();
  bytes.dispose();
  return Array.from({ length: b }, (_, i) => Uint8Array.from(u8.subarray(i * size, (i + 1) * size)));
}

/** Runs guided sampling for every requested class; the pixels of sample i depend on (seed, i) only. */
export function generate(model: LoadedDit, options: GenerateOptions): Uint8Array[] {
  const { imageSize: s, inChannels: c } = model.config;
  const schedule = makeSchedule(model.schedule);
  const chunk = options.chunk ?? 100;
  const out: Uint8Array[] = [];
  for (let first = 0; first < options.classes.length; first += chunk) {
    const classes = options.classes.slice(first, first + chunk);
    const x = sample(guidedEpsilon(model, classes, options.cfg, options.hooks), {
      schedule,
      steps: options.steps,
      sampler: options.sampler,
      eta: options.eta,
      shape: [classes.length, s, s, c],
      seed: options.seed,
      firstIndex: first,
      onStep: (done, total) => options.onProgress?.(first, done, total),
    });
    out.push(...toPixels(x));
    x.dispose();
  }
  return out;
}

/** Writes one sample as a PNG (greyscale or RGB by its channel count). */
export async function writePng(file: string, pixels: Uint8Array, size: number, channels: number): Promise<void> {
  const image = sharp(Buffer.from(pixels), { raw: { width: size, height: size, channels: channels as 1 | 3 } });
  // Without 'b-w', sharp writes one-channel input as RGB.
  await (channels === 1 ? image.toColourspace('b-w') : image).png().toFile(file);
}
