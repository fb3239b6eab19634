// Schedules, samplers, guidance and the training loss against closed-form values.
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { Rng } from '../train/rng';
import { loadDitFolder, type LoadedDit } from './dit-folder';
import { disposeBatch, dropClasses, epsilonLoss, noiseBatch } from './loss';
import { ddimStep, ddpmStep, guidedEpsilon, sample, type EpsilonFn } from './sampler';
import { alphaBar, cosineSchedule, linearSchedule, posteriorVariance, samplingTimesteps } from './schedule';

let tiny: LoadedDit;

beforeAll(async () => {
  await initBackend();
  tiny = await loadDitFolder(path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'dit', 'dit_tiny_grey'));
});
afterAll(() => tf.dispose(Object.values(tiny.params)));

const values = (t: tf.Tensor) => Array.from(t.dataSync());
const maxDiff = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));

describe('noise schedules', () => {
  it('linear: β from 1e-4 to 0.02, ᾱ_t = ∏(1 − β_s), the DDPM value ᾱ_999 ≈ 4.04e-5', () => {
    const s = linearSchedule(1000, 1e-4, 0.02);
    expect(s.betas[0]).toBeCloseTo(1e-4, 12);
    expect(s.betas[999]).toBeCloseTo(0.02, 12);
    expect(s.betas[500]! - s.betas[499]!).toBeCloseTo((0.02 - 1e-4) / 999, 12);
    let logProduct = 0;
    for (let t = 0; t <= 499; t++) logProduct += Math.log(1 - (1e-4 + ((0.02 - 1e-4) * t) / 999));
    expect(s.alphasCumprod[499]).toBeCloseTo(Math.exp(logProduct), 12);
    expect(s.alphasCumprod[999]! / 4.0358e-5).toBeCloseTo(1, 3);
    expect(alphaBar(s, -1)).toBe(1);
  });

  it('cosine: ᾱ_t = f(t+1)/f(0) with f = cos²((t/T + s)/(1 + s)·π/2) wherever β is not clipped', () => {
    const T = 1000;
    const s = cosineSchedule(T);
    const f = (t: number) => Math.cos(((t / T + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    for (const t of [0, 10, 250, 500, 900]) expect(s.alphasCumprod[t]).toBeCloseTo(f(t + 1) / f(0), 10);
    expect(Math.max(...s.betas)).toBeLessThanOrEqual(0.999);
    expect(s.betas[T - 1]).toBe(0.999);
  });

  it('posterior variance β̃_t = β_t(1 − ᾱ_{t−1})/(1 − ᾱ_t), zero at t = 0', () => {
    const s = linearSchedule(1000, 1e-4, 0.02);
    expect(posteriorVariance(s, 0)).toBe(0);
    const t = 300;
    const expected = (s.betas[t]! * (1 - s.alphasCumprod[t - 1]!)) / (1 - s.alphasCumprod[t]!);
    expect(posteriorVariance(s, t)).toBeCloseTo(expected, 14);
    expect(posteriorVariance(s, t)).toBeLessThan(s.betas[t]!);
  });

  it('sampling timesteps: any count from 1 to T, descending from T−1 to 0, distinct', () => {
    expect(samplingTimesteps(1000, 1)).toEqual([999]);
    expect(samplingTimesteps(1000, 2)).toEqual([999, 0]);
    for (const n of [3, 50, 999, 1000]) {
      const ts = samplingTimesteps(1000, n);
      expect(ts.length).toBe(n);
      expect(ts[0]).toBe(999);
      expect(ts[n - 1]).toBe(0);
      expect(new Set(ts).size).toBe(n);
      expect(ts.every((t, i) => i === 0 || t < ts[i - 1]!)).toBe(true);
    }
    expect(() => samplingTimesteps(1000, 0)).toThrow(/steps/);
    expect(() => samplingTimesteps(1000, 1001)).toThrow(/steps/);
  });
});

/** Data = N(μ, σ0²): x_t ~ N(√ᾱ μ, ᾱσ0² + 1 − ᾱ) and E[ε | x_t] = √(1−ᾱ)(x_t − √ᾱ μ)/(ᾱσ0² + 1 − ᾱ). */
function gaussianOracle(schedule: ReturnType<typeof linearSchedule>, mu: number, sigma0: number): EpsilonFn {
  return (x, t) => {
    const a = schedule.alphasCumprod[t]!;
    return tf.mul(tf.sub(x, Math.sqrt(a) * mu), Math.sqrt(1 - a) / (a * sigma0 * sigma0 + 1 - a)) as tf.Tensor4D;
  };
}

function moments(x: tf.Tensor): { mean: number; std: number } {
  const v = values(x);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  return { mean, std: Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length) };
}

describe('samplers', () => {
  const schedule = linearSchedule(1000, 1e-4, 0.02);

  it('DDIM with η = 0 is deterministic and recovers a single data point in one step', () => {
    const x0 = 0.37;
    // Data concentrated at x0: the exact ε is (x_t − √ᾱ x0)/√(1 − ᾱ).
    const oracle: EpsilonFn = (x, t) => {
      const a = schedule.alphasCumprod[t]!;
      return tf.div(tf.sub(x, Math.sqrt(a) * x0), Math.sqrt(1 - a)) as tf.Tensor4D;
    };
    const before = tf.memory().numTensors;
    const one = sample(oracle, { schedule, steps: 1, sampler: 'ddim', eta: 0, shape: [5, 1, 1, 1], seed: 1, clip: false });
    expect(maxDiff(values(one), [x0, x0, x0, x0, x0])).toBeLessThan(1e-5);
    const a = sample(oracle, { schedule, steps: 20, sampler: 'ddim', eta: 0, shape: [5, 2, 2, 1], seed: 3, clip: false });
    expect(maxDiff(values(a), Array(20).fill(x0) as number[])).toBeLessThan(1e-5);
    tf.dispose([one, a]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('DDIM with η = 1 is the DDPM ancestral step; with η = 0 the noise is ignored', () => {
    tf.tidy(() => {
      const rng = Rng.fromSeed(5);
      const x = tf.tensor4d(rng.fill(12, (r) => r.normal()), [3, 2, 2, 1]);
      const eps = tf.tensor4d(rng.fill(12, (r) => r.normal()), [3, 2, 2, 1]);
      const z = tf.tensor4d(rng.fill(12, (r) => r.normal()), [3, 2, 2, 1]);
      const [a, ap] = [schedule.alphasCumprod[600]!, schedule.alphasCumprod[580]!];
      expect(maxDiff(values(ddimStep(x, eps, a, ap, 1, z, false)), values(ddpmStep(x, eps, a, ap, z, false)))).toBeLessThan(1e-5);
      expect(values(ddimStep(x, eps, a, ap, 0, z, false))).toEqual(values(ddimStep(x, eps, a, ap, 0, tf.zerosLike(z), false)));
      // The DDPM step's spread around its mean is √β̃ for consecutive timesteps.
      const spread = tf.sub(ddpmStep(x, eps, a, schedule.alphasCumprod[599]!, z, false), ddpmStep(x, eps, a, schedule.alphasCumprod[599]!, tf.zerosLike(z), false));
      expect(maxDiff(values(spread), values(tf.mul(z, Math.sqrt(posteriorVariance(schedule, 600)))))).toBeLessThan(1e-5);
    });
  });

  it('1-D Gaussian toy: with the optimal ε, DDIM and DDPM reproduce N(μ, σ0²)', () => {
    const [mu, sigma0] = [0.5, 0.2];
    const oracle = gaussianOracle(schedule, mu, sigma0);
    const ddim = sample(oracle, { schedule, steps: 100, sampler: 'ddim', eta: 0, shape: [4000, 1, 1, 1], seed: 7, clip: false });
    const ddpm = sample(oracle, { schedule, steps: 250, sampler: 'ddpm', shape: [4000, 1, 1, 1], seed: 8, clip: false });
    for (const out of [ddim, ddpm]) {
      const m = moments(out);
      expect(Math.abs(m.mean - mu)).toBeLessThan(0.015);
      expect(Math.abs(m.std - sigma0)).toBeLessThan(0.015);
    }
    tf.dispose([ddim, ddpm]);
  });

  it('the optimal ε attains the closed-form minimum of the training loss, ᾱσ0²/(ᾱσ0² + 1 − ᾱ)', () => {
    const [mu, sigma0, t] = [0.5, 0.2, 400];
    const a = schedule.alphasCumprod[t]!;
    const rng = Rng.fromSeed(9);
    const loss = tf.tidy(() => {
      const x0 = tf.tensor4d(rng.fill(20000, (r) => mu + sigma0 * r.normal()), [20000, 1, 1, 1]);
      const batch = noiseBatch(x0, Array(20000).fill(0) as number[], schedule, rng, { classDropout: 0, nullClass: 1, fixedT: t });
      const l = epsilonLoss(gaussianOracle(schedule, mu, sigma0)(batch.xt, t), batch.noise).dataSync()[0]!;
      disposeBatch(batch);
      return l;
    });
    expect(loss).toBeCloseTo((a * sigma0 ** 2) / (a * sigma0 ** 2 + 1 - a), 2);
  });

  it('is seeded per sample: sample i is the same image whatever the batch size', () => {
    const eps = guidedEpsilon(tiny, [0, 1, 2], 1);
    const three = sample(eps, { schedule, steps: 3, sampler: 'ddpm', shape: [3, 8, 8, 1], seed: 42 });
    const one = sample(guidedEpsilon(tiny, [0], 1), { schedule, steps: 3, sampler: 'ddpm', shape: [1, 8, 8, 1], seed: 42 });
    const again = sample(eps, { schedule, steps: 3, sampler: 'ddpm', shape: [3, 8, 8, 1], seed: 42 });
    expect(values(again)).toEqual(values(three));
    // Not bit-equal: a BLAS blocks its sums by matrix size, so float32 rounding moves with the batch.
    expect(maxDiff(values(one), values(three).slice(0, 64))).toBeLessThan(1e-5);
    expect(Math.max(...values(three).map(Math.abs))).toBeLessThanOrEqual(1);
    tf.dispose([three, one, again]);
  });
});

describe('classifier-free guidance and class dropout', () => {
  it('ε = ε(∅) + s·(ε(y) − ε(∅)); s = 1 is the conditional model', () => {
    tf.tidy(() => {
      const x = tf.tensor4d(Rng.fromSeed(3).fill(2 * 64, (r) => r.normal()), [2, 8, 8, 1]);
      const cond = guidedEpsilon(tiny, [1, 3], 1)(x, 500);
      const uncond = guidedEpsilon(tiny, [1, 3], 0)(x, 500);
      const nullRun = guidedEpsilon(tiny, [4, 4], 1)(x, 500);
      expect(maxDiff(values(uncond), values(nullRun))).toBeLessThan(1e-6);
      const guided = guidedEpsilon(tiny, [1, 3], 4)(x, 500);
      const expected = tf.add(uncond, tf.mul(tf.sub(cond, uncond), 4));
      expect(maxDiff(values(guided), values(expected))).toBeLessThan(1e-4);
      expect(maxDiff(values(cond), values(uncond))).toBeGreaterThan(1e-3);
    });
    expect(() => guidedEpsilon(tiny, [5], 2)).toThrow(/outside/);
  });

  it('class dropout replaces labels with the null class at the given rate, seeded', () => {
    const labels = Array.from({ length: 20000 }, (_, i) => i % 10);
    const dropped = dropClasses(labels, 0.1, 10, Rng.fromSeed(1));
    const rate = dropped.filter((c) => c === 10).length / labels.length;
    expect(rate).toBeGreaterThan(0.09);
    expect(rate).toBeLessThan(0.11);
    expect(dropped.every((c, i) => c === 10 || c === labels[i])).toBe(true);
    expect(dropClasses(labels, 0.1, 10, Rng.fromSeed(1))).toEqual(dropped);
    expect(dropClasses(labels, 0, 10, Rng.fromSeed(1))).toEqual(labels);
  });
});
