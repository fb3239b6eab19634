// SINE-style image editing (Zhang et al. 2023) on SDEdit (Meng et al. 2022): the user's image is
// noised to t0 and denoised with model-based guidance
//   ε = ε_base(∅) + s·[(1−β)·ε_base(c_target) + β·ε_ft(c) − ε_base(∅)],
// where ε_ft is a model fine-tuned on that image (its identity) and ε_base(c_target) pulls towards
// the target class. β acts only inside a timestep window; outside it (and without ε_ft) β = 0 and
// the step is plain classifier-free guidance towards the target. Seeded per image like the sampler.
import * as tf from '@tensorflow/tfjs';
import { ditEpsilon } from '../models/dit';
import type { VitHooks } from '../models/vit';
import { ddimStep, SampleNoise, type DitModel } from './sampler';
import { alphaBar, samplingTimesteps, type NoiseSchedule } from './schedule';

/** ε prediction of a class-conditional model for a batch x at timestep t, one class per image. */
export type ClassEpsilonFn = (x: tf.Tensor4D, t: number, classes: readonly number[]) => tf.Tensor4D;

/** A DiT (with optional adapter hooks) as a ClassEpsilonFn. */
export function ditClassEpsilon(model: DitModel, hooks?: VitHooks): ClassEpsilonFn {
  return (x, t, classes) =>
    ditEpsilon(model.params, model.config, { x, t: tf.fill([x.shape[0]], t) as tf.Tensor1D, y: tf.tensor1d([...classes], 'int32') }, hooks);
}

/** ε = ε_∅ + s·[(1−β)·ε_target + β·ε_ft − ε_∅]; ε_ft may be null only when β = 0. */
export function composeEditGuidance(uncond: tf.Tensor4D, target: tf.Tensor4D, fineTuned: tf.Tensor4D | null, scale: number, beta: number): tf.Tensor4D {
  return tf.tidy(() => {
    if (beta !== 0 && !fineTuned) throw new Error('β ≠ 0 needs the fine-tuned model’s ε');
    const conditional = beta === 0 ? target : tf.add(tf.mul(target, 1 - beta), tf.mul(fineTuned!, beta));
    return tf.add(uncond, tf.mul(tf.sub(conditional, uncond), scale)) as tf.Tensor4D;
  });
}

/** Timesteps as fractions of the schedule: 0 is the clean image, 1 the last (pure-noise) step. */
export interface TimestepWindow {
  from: number;
  to: number;
}

/** The β in force at timestep t: β inside the window (inclusive), 0 outside it. */
export function betaAt(t: number, timesteps: number, beta: number, window: TimestepWindow): number {
  const position = timesteps > 1 ? t / (timesteps - 1) : 0;
  return position >= window.from && position <= window.to ? beta : 0;
}

/** The integer timestep the input is noised to: t0 (a fraction) of the schedule; −1 means "not noised". */
export function startTimestep(timesteps: number, t0: number): number {
  return t0 === 0 ? -1 : Math.round(t0 * (timesteps - 1));
}

export interface EditOptions {
  schedule: NoiseSchedule;
  /** Target class per image. */
  targetClasses: readonly number[];
  /** The null class id (the unconditional input). */
  nullClass: number;
  /** Guidance scale s. */
  scale: number;
  /** Weight of the fine-tuned model inside the window; forced to 0 without one. */
  beta: number;
  window: TimestepWindow;
  /** How far the input is noised, as a fraction of the schedule (SDEdit's strength): 0 returns it unchanged. */
  t0: number;
  /** Denoising steps from t0 to 0 (at most t0's timestep + 1). */
  steps: number;
  seed: number;
  /** DDIM's η; 0 (deterministic after the seeded noising) by default. */
  eta?: number;
  /** The fine-tuned model and the class it was fine-tuned with (one per image). */
  fineTuned?: { eps: ClassEpsilonFn; classes: readonly number[] };
  onStep?(done: number, total: number): void;
}

/** The β actually used per step, so the UI can say what the fine-tuned model did. */
export function effectiveBeta(options: Pick<EditOptions, 'beta' | 'fineTuned'>): number {
  return options.fineTuned ? options.beta : 0;
}

/**
 * Edits images x0 [B, H, W, C] in [-1, 1]: noises them to t0 with seeded noise, then runs DDIM
 * from t0 to 0 under the edit guidance. Returns a new tensor; the caller owns it.
 */
export function editImages(base: ClassEpsilonFn, x0: tf.Tensor4D, options: EditOptions): tf.Tensor4D {
  const { schedule, targetClasses, nullClass, scale, window, seed } = options;
  const b = x0.shape[0];
  if (targetClasses.length !== b) throw new Error(`${targetClasses.length} target classes for ${b} images`);
  if (options.fineTuned && options.fineTuned.classes.length !== b) throw new Error(`${options.fineTuned.classes.length} fine-tuned classes for ${b} images`);
  if (!(options.t0 >= 0 && options.t0 <= 1)) throw new Error(`t0 must be within 0…1, got ${options.t0}`);
  const eta = options.eta ?? 0;
  const beta = effectiveBeta(options);
  const tStart = startTimestep(schedule.timesteps, options.t0);
  if (tStart < 0) return tf.clone(x0);
  const steps = Math.min(options.steps, tStart + 1);
  // The chain runs over tStart+1 timesteps 0…tStart, spaced evenly as the sampler's are.
  const timesteps = samplingTimesteps(tStart + 1, steps);
  const noise = new SampleNoise(seed, b, [x0.shape[1], x0.shape[2], x0.shape[3]]);
  const z0 = noise.next();
  const abar0 = alphaBar(schedule, tStart);
  let x = tf.tidy(() => tf.add(tf.mul(x0, Math.sqrt(abar0)), tf.mul(z0, Math.sqrt(1 - abar0))) as tf.Tensor4D);
  z0.dispose();
  const nulls = targetClasses.map(() => nullClass);
  timesteps.forEach((t, i) => {
    const abar = alphaBar(schedule, t);
    const abarPrev = alphaBar(schedule, i + 1 < timesteps.length ? timesteps[i + 1]! : -1);
    const z = abarPrev < 1 && eta > 0 ? noise.next() : null;
    const stepBeta = betaAt(t, schedule.timesteps, beta, window);
    const next = tf.tidy(() => {
      // ε_base(c_target) and ε_base(∅) in one batch.
      const both = base(tf.concat([x, x]) as tf.Tensor4D, t, [...targetClasses, ...nulls]);
      const [target, uncond] = tf.split(both, 2, 0) as [tf.Tensor4D, tf.Tensor4D];
      const fineTuned = stepBeta !== 0 ? options.fineTuned!.eps(x, t, options.fineTuned!.classes) : null;
      const eps = composeEditGuidance(uncond, target, fineTuned, scale, stepBeta);
      return ddimStep(x, eps, abar, abarPrev, eta, z, true);
    });
    tf.dispose([x, ...(z ? [z] : [])]);
    x = next;
    options.onStep?.(i + 1, timesteps.length);
  });
  return x;
}
