// Training-time augmentation on decoded model input (HWC float32, already normalised), drawing
// every random choice from the run's Rng so resumed runs see the same images.
import type { PreprocessConfig } from '../io/checkpoint';
import type { Rng } from './rng';

export interface AugmentConfig {
  /** Horizontal flip with probability ½. */
  flip: boolean;
  /**
   * Random resized crop (torchvision's RandomResizedCrop): area fraction in [cropScale, 1],
   * aspect ratio in [3/4, 4/3] log-uniform, resized back bilinearly; null for none.
   */
  cropScale: number | null;
  /** Colour jitter strength j: brightness, contrast and saturation factors in [1 − j, 1 + j]. */
  colorJitter: number;
}

export const NO_AUGMENT: AugmentConfig = { flip: false, cropScale: null, colorJitter: 0 };

/**
 * Defaults by input kind: natural RGB images get flip, a mild crop and jitter; greyscale inputs
 * (digits, where flips change meaning and colour means nothing) get none.
 */
export function defaultAugment(numChannels: number): AugmentConfig {
  return numChannels === 3 ? { flip: true, cropScale: 0.6, colorJitter: 0.2 } : NO_AUGMENT;
}

export function isIdentity(a: AugmentConfig): boolean {
  return !a.flip && a.cropScale === null && a.colorJitter === 0;
}

/** Returns a new augmented image (or the input itself when nothing applies). */
export function augment(image: Float32Array, size: number, channels: number, a: AugmentConfig, pre: PreprocessConfig, rng: Rng): Float32Array {
  let x = image;
  if (a.cropScale !== null) x = randomResizedCrop(x, size, channels, a.cropScale, rng);
  if (a.flip && rng.next() < 0.5) x = flipHorizontal(x, size, channels);
  if (a.colorJitter > 0) x = colorJitter(x, channels, a.colorJitter, pre, rng);
  return x;
}

export function flipHorizontal(x: Float32Array, size: number, channels: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      const from = (r * size + c) * channels;
      const to = (r * size + (size - 1 - c)) * channels;
      for (let k = 0; k < channels; k++) out[to + k] = x[from + k]!;
    }
  }
  return out;
}

function randomResizedCrop(x: Float32Array, size: number, channels: number, minScale: number, rng: Rng): Float32Array {
  const area = size * size;
  let h = size;
  let w = size;
  let top = 0;
  let left = 0;
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.uniform(minScale, 1);
    const ratio = Math.exp(rng.uniform(Math.log(3 / 4), Math.log(4 / 3)));
    const cw = Math.round(Math.sqrt(target * ratio));
    const ch = Math.round(Math.sqrt(target / ratio));
    if (cw > 0 && ch > 0 && cw <= size && ch <= size) {
      [h, w] = [ch, cw];
      top = rng.int(size - ch + 1);
      left = rng.int(size - cw + 1);
      break;
    }
  }
  if (h === size && w === size) return x;
  return resizeBilinear(x, size, channels, { top, left, h, w });
}

/** Bilinear resample of a crop back to size × size (align_corners = false). */
function resizeBilinear(x: Float32Array, size: number, channels: number, crop: { top: number; left: number; h: number; w: number }): Float32Array {
  const out = new Float32Array(size * size * channels);
  const sy = crop.h / size;
  const sx = crop.w / size;
  for (let r = 0; r < size; r++) {
    const fy = Math.min(Math.max((r + 0.5) * sy - 0.5, 0), crop.h - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, crop.h - 1);
    const ty = fy - y0;
    for (let c = 0; c < size; c++) {
      const fx = Math.min(Math.max((c + 0.5) * sx - 0.5, 0), crop.w - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, crop.w - 1);
      const tx = fx - x0;
      const at = (yy: number, xx: number, k: number) => x[((crop.top + yy) * size + crop.left + xx) * channels + k]!;
      for (let k = 0; k < channels; k++) {
        const top = at(y0, x0, k) * (1 - tx) + at(y0, x1, k) * tx;
        const bottom = at(y1, x0, k) * (1 - tx) + at(y1, x1, k) * tx;
        out[(r * size + c) * channels + k] = top * (1 - ty) + bottom * ty;
      }
    }
  }
  return out;
}

/**
 * Brightness, contrast and saturation in pixel space: undo the normalisation, jitter, clamp to
 * the pixel range, normalise again.
 */
function colorJitter(x: Float32Array, channels: number, j: number, pre: PreprocessConfig, rng: Rng): Float32Array {
  const mean = pre.normalize?.mean ?? new Array<number>(channels).fill(0);
  const std = pre.normalize?.std ?? new Array<number>(channels).fill(1);
  const max = 255 * (pre.rescale ?? 1);
  const brightness = rng.uniform(1 - j, 1 + j);
  const contrast = rng.uniform(1 - j, 1 + j);
  const saturation = rng.uniform(1 - j, 1 + j);
  const n = x.length / channels;
  const px = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) px[i] = x[i]! * std[i % channels]! + mean[i % channels]!;
  const gray = (i: number) => (channels === 3 ? 0.299 * px[i * 3]! + 0.587 * px[i * 3 + 1]! + 0.114 * px[i * 3 + 2]! : px[i]!);
  for (let i = 0; i < px.length; i++) px[i] = px[i]! * brightness;
  let meanGray = 0;
  for (let i = 0; i < n; i++) meanGray += gray(i);
  meanGray /= n;
  for (let i = 0; i < px.length; i++) px[i] = (px[i]! - meanGray) * contrast + meanGray;
  if (channels === 3) {
    for (let i = 0; i < n; i++) {
      const g = gray(i);
      for (let k = 0; k < 3; k++) px[i * 3 + k] = g + (px[i * 3 + k]! - g) * saturation;
    }
  }
  const out = new Float32Array(x.length);
  for (let i = 0; i < px.length; i++) out[i] = (Math.min(Math.max(px[i]!, 0), max) - mean[i % channels]!) / std[i % channels]!;
  return out;
}
