// ε-prediction training (DDPM's simple loss) with class dropout for classifier-free guidance:
// x_t = √ᾱ_t·x_0 + √(1−ᾱ_t)·ε, loss = mean (ε̂(x_t, t, y) − ε)², y replaced by the null class with
// probability p. All draws come from the caller's Rng, so a resumed run repeats them.
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../train/rng';
import type { NoiseSchedule } from './schedule';

export interface NoisedBatch {
  /** x_t [B, H, W, C]. */
  xt: tf.Tensor4D;
  /** The noise that was added, the regression target. */
  noise: tf.Tensor4D;
  /** Timesteps, one per sample (host values and the model's float input). */
  timesteps: number[];
  t: tf.Tensor1D;
  /** Class ids after dropout (dropped ones = nullClass). */
  classes: number[];
  y: tf.Tensor1D;
}

/** Replaces each label by nullClass with probability p. */
export function dropClasses(labels: readonly number[], p: number, nullClass: number, rng: Rng): number[] {
  if (p < 0 || p > 1) throw new Error(`class dropout must be in [0, 1], got ${p}`);
  return labels.map((label) => (rng.next() < p ? nullClass : label));
}

/**
 * Noises a batch of clean images x0 (in [-1, 1]) at timesteps drawn uniformly from 0 … T−1, or at
 * `fixedT` when given. New tensors; the caller disposes them.
 */
export function noiseBatch(
  x0: tf.Tensor4D,
  labels: readonly number[],
  schedule: NoiseSchedule,
  rng: Rng,
  options: { classDropout: number; nullClass: number; fixedT?: number },
): NoisedBatch {
  const [b, h, w, c] = x0.shape;
  const timesteps = labels.map(() => options.fixedT ?? rng.int(schedule.timesteps));
  const classes = dropClasses(labels, options.classDropout, options.nullClass, rng);
  const noise = tf.tensor4d(rng.fill(b * h * w * c, (r) => r.normal()), [b, h, w, c]);
  const sqrtAbar = timesteps.map((t) => Math.sqrt(schedule.alphasCumprod[t]!));
  const sqrtOneMinus = timesteps.map((t) => Math.sqrt(1 - schedule.alphasCumprod[t]!));
  const xt = tf.tidy(() =>
    tf.add(tf.mul(x0, tf.tensor4d(sqrtAbar, [b, 1, 1, 1])), tf.mul(noise, tf.tensor4d(sqrtOneMinus, [b, 1, 1, 1]))),
  ) as tf.Tensor4D;
  return { xt, noise, timesteps, t: tf.tensor1d(timesteps), classes, y: tf.tensor1d(classes, 'int32') };
}

/** Mean squared error between predicted and true noise. */
export function epsilonLoss(predicted: tf.Tensor4D, noise: tf.Tensor4D): tf.Scalar {
  return tf.mean(tf.square(tf.sub(predicted, noise)));
}

export function disposeBatch(batch: NoisedBatch): void {
  tf.dispose([batch.xt, batch.noise, batch.t, batch.y]);
}
