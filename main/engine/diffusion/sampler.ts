// Reverse diffusion: DDPM ancestral sampling (Ho et al. 2020) and DDIM (Song et al. 2021) over any
// subsequence of the training timesteps, and classifier-free guidance (Ho & Salimans 2022).
// Every draw comes from a seeded Rng per sample, so sample i of seed s is the same image whatever
// the batch size. Callers own the returned tensor.
import * as tf from '@tensorflow/tfjs';
import { ditEpsilon, type DitConfig } from '../models/dit';
import type { VitHooks, VitParams } from '../models/vit';
import { Rng } from '../train/rng';
import { alphaBar, samplingTimesteps, type NoiseSchedule } from './schedule';

/** ε prediction for a batch x [B, H, W, C] at integer timestep t; runs inside the sampler's tidy. */
export type EpsilonFn = (x: tf.Tensor4D, t: number) => tf.Tensor4D;

export type SamplerKind = 'ddim' | 'ddpm';

/** x̂_0 = (x_t − √(1−ᾱ_t)·ε) / √ᾱ_t, optionally clipped to the data range [-1, 1]. */
function predictX0(x: tf.Tensor4D, eps: tf.Tensor4D, abar: number, clip: boolean): tf.Tensor4D {
  const x0 = tf.div(tf.sub(x, tf.mul(eps, Math.sqrt(1 - abar))), Math.sqrt(abar)) as tf.Tensor4D;
  return clip ? tf.clipByValue(x0, -1, 1) : x0;
}

/**
 * One DDIM step from ᾱ_t to ᾱ_prev: x_prev = √ᾱ_prev·x̂_0 + √(1−ᾱ_prev−σ²)·ε̂ + σ·z with
 * σ = η·√((1−ᾱ_prev)/(1−ᾱ_t))·√(1−ᾱ_t/ᾱ_prev). With clipping, ε̂ is recomputed from the clipped x̂_0.
 * η = 0 is deterministic (noise unused); η = 1 is DDPM's ancestral step.
 */
export function ddimStep(x: tf.Tensor4D, eps: tf.Tensor4D, abar: number, abarPrev: number, eta: number, noise: tf.Tensor4D | null, clip: boolean): tf.Tensor4D {
  const x0 = predictX0(x, eps, abar, clip);
  const e = clip ? (tf.div(tf.sub(x, tf.mul(x0, Math.sqrt(abar))), Math.sqrt(1 - abar)) as tf.Tensor4D) : eps;
  const sigma = eta * Math.sqrt((1 - abarPrev) / (1 - abar)) * Math.sqrt(1 - abar / abarPrev);
  let out = tf.add(tf.mul(x0, Math.sqrt(abarPrev)), tf.mul(e, Math.sqrt(Math.max(0, 1 - abarPrev - sigma * sigma))));
  if (sigma > 0) {
    if (!noise) throw new Error('a stochastic DDIM step (η > 0) needs noise');
    out = tf.add(out, tf.mul(noise, sigma));
  }
  return out as tf.Tensor4D;
}

/**
 * One DDPM ancestral step: the posterior q(x_prev | x_t, x̂_0) of the (respaced) chain with
 * β = 1 − ᾱ_t/ᾱ_prev: mean √ᾱ_prev·β/(1−ᾱ_t)·x̂_0 + √(1−β)·(1−ᾱ_prev)/(1−ᾱ_t)·x_t, variance
 * β̃ = β·(1−ᾱ_prev)/(1−ᾱ_t).
 */
export function ddpmStep(x: tf.Tensor4D, eps: tf.Tensor4D, abar: number, abarPrev: number, noise: tf.Tensor4D | null, clip: boolean): tf.Tensor4D {
  const beta = 1 - abar / abarPrev;
  const x0 = predictX0(x, eps, abar, clip);
  const mean = tf.add(tf.mul(x0, (Math.sqrt(abarPrev) * beta) / (1 - abar)), tf.mul(x, (Math.sqrt(1 - beta) * (1 - abarPrev)) / (1 - abar)));
  const variance = (beta * (1 - abarPrev)) / (1 - abar);
  if (variance === 0) return mean as tf.Tensor4D;
  if (!noise) throw new Error('a DDPM step needs noise');
  return tf.add(mean, tf.mul(noise, Math.sqrt(variance))) as tf.Tensor4D;
}

/** Per-sample seeded normal draws: sample i's stream depends on (seed, i) only. */
export class SampleNoise {
  private readonly rngs: Rng[];

  /** Streams for samples firstIndex … firstIndex + count − 1 (a chunk of a larger set). */
  constructor(
    seed: number,
    count: number,
    private readonly perSample: [number, number, number],
    firstIndex = 0,
  ) {
    const master = Rng.fromSeed(seed);
    for (let i = 0; i < firstIndex; i++) master.nextUint32();
    this.rngs = Array.from({ length: count }, () => Rng.fromSeed(master.nextUint32()));
  }

  /** A fresh N(0, 1) tensor [count, ...perSample]. */
  next(): tf.Tensor4D {
    const size = this.perSample[0] * this.perSample[1] * this.perSample[2];
    const data = new Float32Array(size * this.rngs.length);
    this.rngs.forEach((rng, i) => data.set(rng.fill(size, (r) => r.normal()), i * size));
    return tf.tensor4d(data, [this.rngs.length, ...this.perSample]);
  }
}

export interface SampleOptions {
  schedule: NoiseSchedule;
  /** Number of model evaluations, 1 … T. */
  steps: number;
  sampler: SamplerKind;
  /** DDIM's η (0: deterministic, 1: ancestral); ignored by DDPM. */
  eta?: number;
  /** [B, H, W, C] of the samples. */
  shape: [number, number, number, number];
  seed: number;
  /** Index of the batch's first sample within the seed's set (chunked sampling); 0 by default. */
  firstIndex?: number;
  /** Clip x̂_0 to [-1, 1] at every step (images); off for unbounded data. */
  clip?: boolean;
  /** Called after each step with (steps done, total). */
  onStep?(done: number, total: number): void;
}

/** Runs the reverse chain from x_T ~ N(0, I) and returns x_0 (a new tensor). */
export function sample(eps: EpsilonFn, options: SampleOptions): tf.Tensor4D {
  const { schedule, steps, shape, seed } = options;
  const eta = options.eta ?? 0;
  const clip = options.clip ?? true;
  if (eta < 0) throw new Error(`η must be ≥ 0, got ${eta}`);
  const noise = new SampleNoise(seed, shape[0], [shape[1], shape[2], shape[3]], options.firstIndex ?? 0);
  const timesteps = samplingTimesteps(schedule.timesteps, steps);
  let x = noise.next();
  timesteps.forEach((t, i) => {
    const abar = alphaBar(schedule, t);
    const abarPrev = alphaBar(schedule, i + 1 < timesteps.length ? timesteps[i + 1]! : -1);
    const stochastic = abarPrev < 1 && (options.sampler === 'ddpm' || eta > 0);
    const z = stochastic ? noise.next() : null;
    const next = tf.tidy(() => {
      const e = eps(x, t);
      return options.sampler === 'ddpm' ? ddpmStep(x, e, abar, abarPrev, z, clip) : ddimStep(x, e, abar, abarPrev, eta, z, clip);
    });
    tf.dispose([x, ...(z ? [z] : [])]);
    x = next;
    options.onStep?.(i + 1, timesteps.length);
  });
  return x;
}

export interface DitModel {
  params: VitParams;
  config: DitConfig;
}

/**
 * Classifier-free guidance: ε = ε(∅) + s·(ε(y) − ε(∅)), the conditional and unconditional passes in
 * one batch. s = 1 is the plain conditional model (one pass), s = 0 the unconditional one.
 */
export function guidedEpsilon(model: DitModel, classes: readonly number[], scale: number, hooks?: VitHooks): EpsilonFn {
  const nullClass = model.config.numClasses;
  for (const c of classes) {
    if (!Number.isInteger(c) || c < 0 || c > nullClass) throw new Error(`class ${c} is outside 0…${nullClass} (${nullClass} = the null class)`);
  }
  return (x, t) => {
    const b = x.shape[0];
    const run = (input: tf.Tensor4D, labels: number[]) =>
      ditEpsilon(model.params, model.config, { x: input, t: tf.fill([input.shape[0]], t) as tf.Tensor1D, y: tf.tensor1d(labels, 'int32') }, hooks);
    if (scale === 1) return run(x, [...classes]);
    if (scale === 0) return run(x, classes.map(() => nullClass));
    const both = run(tf.concat([x, x]) as tf.Tensor4D, [...classes, ...classes.map(() => nullClass)]);
    const [h, w, c] = [x.shape[1], x.shape[2], x.shape[3]];
    const cond = tf.slice(both, [0, 0, 0, 0], [b, h, w, c]);
    const uncond = tf.slice(both, [b, 0, 0, 0], [b, h, w, c]);
    return tf.add(uncond, tf.mul(tf.sub(cond, uncond), scale)) as tf.Tensor4D;
  };
}
