// Turns encoded images (or raw pixel arrays) into model input: HWC float32, resized, rescaled and
// normalised as the model's preprocessor_config.json says (Hugging Face ViTImageProcessor order).
import sharp, { type Sharp } from 'sharp';
import type { PreprocessConfig } from '../io/checkpoint';

/** What a model needs to know about its input. */
export interface InputSpec {
  imageSize: number;
  numChannels: number;
  preprocess: PreprocessConfig;
}

/** Raw 8-bit pixels, row-major HWC. */
export interface RawPixels {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/**
 * Decodes an image file or buffer into normalised HWC float32 of spec's size. Alpha is dropped
 * (as PIL's convert('RGB') does); greyscale uses PIL's ITU-R 601-2 luma so that pixels match what
 * Python preprocessing gives.
 */
export async function decodeImage(input: string | Buffer, spec: InputSpec): Promise<Float32Array> {
  // rotate(): EXIF-rotated photos train upright, as the studio shows them.
  const image = sharp(input, { failOn: 'error' }).rotate().removeAlpha().toColourspace('srgb');
  return toModelInput(await resizeAndRead(image, spec), spec);
}

/** Same as decodeImage for pixels already in memory (IDX data sets). */
export async function rawToInput(pixels: RawPixels, spec: InputSpec): Promise<Float32Array> {
  const { data, width, height, channels } = pixels;
  if (width === spec.imageSize && height === spec.imageSize) return toModelInput(pixels, spec);
  const image = sharp(data, { raw: { width, height, channels: channels as 1 | 3 } });
  return toModelInput(await resizeAndRead(image, spec), spec);
}

async function resizeAndRead(image: Sharp, spec: InputSpec): Promise<RawPixels> {
  const { resize } = spec.preprocess;
  if (resize) {
    if (resize.height !== spec.imageSize || resize.width !== spec.imageSize) {
      throw new Error(`preprocessor resizes to ${resize.height}×${resize.width} but the model takes ${spec.imageSize}×${spec.imageSize}`);
    }
    // Bilinear, as ViTImageProcessor's default resample; 'fill' ignores the aspect ratio like it does.
    image = image.resize(resize.width, resize.height, { fit: 'fill', kernel: 'linear' });
  }
  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
  if (info.width !== spec.imageSize || info.height !== spec.imageSize) {
    throw new Error(`image is ${info.width}×${info.height}, the model takes ${spec.imageSize}×${spec.imageSize} and do_resize is off`);
  }
  return { data, width: info.width, height: info.height, channels: info.channels };
}

/** Converts to the model's channel count, then rescales and normalises. */
function toModelInput(pixels: RawPixels, spec: InputSpec): Float32Array {
  const { data, width, height, channels } = pixels;
  const c = spec.numChannels;
  const n = width * height;
  const out = new Float32Array(n * c);
  const scale = spec.preprocess.rescale ?? 1;
  const mean = spec.preprocess.normalize?.mean ?? new Array<number>(c).fill(0);
  const std = spec.preprocess.normalize?.std ?? new Array<number>(c).fill(1);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < c; k++) {
      let v: number;
      if (channels === c) v = data[i * channels + k]!;
      else if (c === 1) {
        const r = data[i * channels]!;
        const g = data[i * channels + 1]!;
        const b = data[i * channels + 2]!;
        // PIL: L = R * 299/1000 + G * 587/1000 + B * 114/1000, rounded.
        v = Math.round((r * 299 + g * 587 + b * 114) / 1000);
      } else v = data[i * channels]!; // greyscale source for a colour model: replicate
      out[i * c + k] = (v * scale - mean[k]!) / std[k]!;
    }
  }
  return out;
}
