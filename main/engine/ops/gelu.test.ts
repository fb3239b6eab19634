// The GELU gradients equal tfjs's own differentiation of the formulas, and the forwards equal the
// formulas (the fused native erf pass within its polynomials' accuracy).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { Rng } from '../train/rng';
import { geluErf, geluTanh } from './gelu';

beforeAll(async () => {
  await initBackend();
});

const formulas: [string, (x: tf.Tensor) => tf.Tensor, (x: tf.Tensor) => tf.Tensor][] = [
  ['gelu (erf)', geluErf, (x) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))))],
  ['gelu (tanh)', geluTanh, (x) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI)))))],
];

describe('GELU with closed-form gradients', () => {
  for (const [name, ours, reference] of formulas) {
    it(`${name}: values and gradients match the formula`, () => {
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        const rng = Rng.fromSeed(5);
        const x = tf.tensor2d(rng.fill(6 * 9, (r) => 2.5 * r.normal()), [6, 9]);
        const w = tf.tensor2d(rng.fill(6 * 9, (r) => r.normal()), [6, 9]);
        expect(tf.max(tf.abs(tf.sub(ours(x), reference(x)))).dataSync()[0]).toBeLessThan(1e-6);
        const grad = (f: (x: tf.Tensor) => tf.Tensor) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), w)))(x);
        expect(tf.max(tf.abs(tf.sub(grad(ours), grad(reference)))).dataSync()[0]).toBeLessThan(1e-5);
      });
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('gelu (erf) stays exact at the tails and for extreme inputs', () => {
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const xs = [-1e4, -100, -20, -9, -5.5, -3, -1, -1e-3, 0, 1e-3, 1, 3, 5.5, 9, 20, 100, 1e4];
      const x = tf.tensor1d(xs);
      const values = Array.from(geluErf(x).dataSync());
      const grads = Array.from(tf.grad((t: tf.Tensor) => tf.sum(geluErf(t)))(x).dataSync());
      // Far tails: GELU(x) → 0 below and → x above; the slope → 0 and → 1.
      xs.forEach((v, i) => {
        const expectedValue = v <= -9 ? 0 : v >= 9 ? v : values[i]!;
        expect(values[i]).toBeCloseTo(expectedValue, 6);
        if (Math.abs(v) >= 9) expect(grads[i]).toBeCloseTo(v > 0 ? 1 : 0, 6);
        expect(Number.isFinite(values[i]) && Number.isFinite(grads[i])).toBe(true);
      });
      expect(values[xs.indexOf(0)]).toBe(0);
      expect(grads[xs.indexOf(0)]).toBeCloseTo(0.5, 6);
    });
    expect(tf.memory().numTensors).toBe(before);
  });
});
