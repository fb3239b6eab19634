// A user's image file as a DiT input: cover-cropped to the model's square size, greyscale for a
// one-channel model, scaled to the [-1, 1] pixel space the DiT was trained in.
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import type { DitConfig } from '../models/dit';

/** [1, S, S, C] in [-1, 1] from encoded image bytes or a file path; the caller disposes it. */
export async function readDitImage(source: string | Buffer, config: Pick<DitConfig, 'imageSize' | 'inChannels'>): Promise<tf.Tensor4D> {
  const { imageSize: size, inChannels: channels } = config;
  let resized = sharp(source).rotate().resize(size, size, { fit: 'cover' }).removeAlpha();
  // A greyscale file decodes to one channel: an RGB model gets it as three.
  resized = channels === 1 ? resized.greyscale() : resized.toColourspace('srgb');
  const raw = await resized.raw().toBuffer();
  if (raw.length !== size * size * channels) throw new Error(`the image decodes to ${raw.length} values, not ${size}×${size}×${channels}`);
  return tf.tidy(() => tf.sub(tf.div(tf.tensor4d(Float32Array.from(raw), [1, size, size, channels]), 127.5), 1) as tf.Tensor4D);
}
