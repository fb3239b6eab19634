// The edit guidance against closed-form values with fake ε functions, its timestep window, the
// SDEdit start (t0 = 0 is the identity), determinism by seed and tensor hygiene on a real DiT.
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { loadDitFolder, type LoadedDit } from './dit-folder';
import { betaAt, composeEditGuidance, ditClassEpsilon, editImages, startTimestep, type ClassEpsilonFn } from './edit';
import { linearSchedule } from './schedule';

let tiny: LoadedDit;

beforeAll(async () => {
  await initBackend();
  tiny = await loadDitFolder(path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'dit', 'dit_tiny_grey'));
});
afterAll(() => tf.dispose(Object.values(tiny.params)));

const values = (t: tf.Tensor) => Array.from(t.dataSync());
const full = (v: number) => tf.fill([1, 2, 2, 1], v) as tf.Tensor4D;

/** A fake model whose ε is a constant per class (classes[i] + offset), recording each call's timestep. */
function constantEps(offset: number, calls: number[]): ClassEpsilonFn {
  return (x, t, classes) => {
    calls.push(t);
    const [, h, w, c] = x.shape;
    return tf.tidy(() => tf.mul(tf.ones([classes.length, h, w, c]), tf.reshape(tf.add(tf.tensor1d([...classes]), offset), [classes.length, 1, 1, 1]))) as tf.Tensor4D;
  };
}

describe('edit guidance', () => {
  it('ε = ε∅ + s·[(1−β)·ε_target + β·ε_ft − ε∅] for closed-form values', () => {
    const [u, c, f] = [full(0.5), full(2), full(-1)];
    for (const [s, beta] of [[3, 0.25], [1, 0], [0, 0.7], [7.5, 1]] as const) {
      const eps = composeEditGuidance(u, c, f, s, beta);
      const expected = 0.5 + s * ((1 - beta) * 2 + beta * -1 - 0.5);
      for (const v of values(eps)) expect(v).toBeCloseTo(expected, 5);
      eps.dispose();
    }
    tf.dispose([u, c, f]);
  });

  it('β = 0 is plain classifier-free guidance and needs no fine-tuned ε; β ≠ 0 without one is refused', () => {
    const [u, c] = [full(1), full(4)];
    const eps = composeEditGuidance(u, c, null, 2, 0);
    expect(values(eps)).toEqual([7, 7, 7, 7]);
    expect(() => composeEditGuidance(u, c, null, 2, 0.5)).toThrow(/fine-tuned/);
    tf.dispose([u, c, eps]);
  });

  it('β applies only inside the window (inclusive), as fractions of the schedule', () => {
    expect(betaAt(999, 1000, 0.6, { from: 0.5, to: 1 })).toBe(0.6);
    expect(betaAt(500, 1000, 0.6, { from: 0.5, to: 1 })).toBe(0.6);
    expect(betaAt(499, 1000, 0.6, { from: 0.5, to: 1 })).toBe(0);
    expect(betaAt(0, 1000, 0.6, { from: 0.2, to: 0.8 })).toBe(0);
  });

  it('the fine-tuned model is asked only at the window’s timesteps; the base model at every one', () => {
    const schedule = linearSchedule(100, 1e-4, 0.02);
    const baseCalls: number[] = [];
    const ftCalls: number[] = [];
    const x0 = tf.zeros([2, 4, 4, 1]) as tf.Tensor4D;
    const out = editImages(constantEps(0, baseCalls), x0, {
      schedule,
      targetClasses: [1, 2],
      nullClass: 10,
      scale: 2,
      beta: 0.5,
      window: { from: 0.5, to: 1 },
      t0: 1,
      steps: 10,
      seed: 3,
      fineTuned: { eps: constantEps(0, ftCalls), classes: [0, 0] },
    });
    expect(baseCalls).toEqual([99, 88, 77, 66, 55, 44, 33, 22, 11, 0]);
    expect(ftCalls).toEqual([99, 88, 77, 66, 55]);
    tf.dispose([x0, out]);
  });

  it('without a fine-tuned model β is 0: the result is the same whatever β', () => {
    const schedule = linearSchedule(100, 1e-4, 0.02);
    const x0 = tf.randomUniform([1, 4, 4, 1], -1, 1, 'float32', 1) as tf.Tensor4D;
    const run = (beta: number) =>
      editImages(constantEps(0.1, []), x0, { schedule, targetClasses: [3], nullClass: 10, scale: 3, beta, window: { from: 0, to: 1 }, t0: 0.6, steps: 5, seed: 1 });
    const [a, b] = [run(0), run(0.9)];
    expect(values(a)).toEqual(values(b));
    tf.dispose([x0, a, b]);
  });
});

describe('editImages on a DiT', () => {
  const options = (seed: number, t0: number) => ({
    schedule: linearSchedule(1000, 1e-4, 0.02),
    targetClasses: [1, 2],
    nullClass: tiny.config.numClasses,
    scale: 2,
    beta: 0.5,
    window: { from: 0.3, to: 1 },
    t0,
    steps: 4,
    seed,
    fineTuned: { eps: ditClassEpsilon(tiny), classes: [0, 0] },
  });
  const input = () => tf.randomUniform([2, tiny.config.imageSize, tiny.config.imageSize, tiny.config.inChannels], -1, 1, 'float32', 7) as tf.Tensor4D;

  it('t0 = 0 returns the input unchanged', () => {
    const x0 = input();
    const out = editImages(ditClassEpsilon(tiny), x0, options(1, 0));
    expect(values(out)).toEqual(values(x0));
    expect(startTimestep(1000, 0)).toBe(-1);
    expect(startTimestep(1000, 1)).toBe(999);
    tf.dispose([x0, out]);
  });

  it('the same seed gives the same edit, another seed another; the result stays in [-1, 1]; no tensor leaks', () => {
    const x0 = input();
    const before = tf.memory().numTensors;
    const a = editImages(ditClassEpsilon(tiny), x0, options(5, 0.6));
    const b = editImages(ditClassEpsilon(tiny), x0, options(5, 0.6));
    const c = editImages(ditClassEpsilon(tiny), x0, options(6, 0.6));
    expect(values(a)).toEqual(values(b));
    expect(values(a)).not.toEqual(values(c));
    expect(Math.max(...values(a).map(Math.abs))).toBeLessThanOrEqual(1 + 1e-6);
    tf.dispose([a, b, c]);
    expect(tf.memory().numTensors).toBe(before);
    x0.dispose();
  });
});
