// The copy-free wasm kernels give exactly what the stock ones define: slices (contiguous or not,
// any rank), unstack and split pieces, and clones that outlive their source.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';

beforeAll(async () => {
  await initBackend();
});

/** Row-major values 0, 1, 2, … of a shape, and the value at a multi-index. */
const iota = (shape: number[]) => tf.range(0, shape.reduce((a, b) => a * b, 1), 1, 'float32').reshape(shape);
const flat = (shape: number[], index: number[]) => index.reduce((acc, i, a) => acc * shape[a]! + i, 0);

function expectedSlice(shape: number[], begin: number[], size: number[]): number[] {
  const out: number[] = [];
  const walk = (axis: number, index: number[]) => {
    if (axis === shape.length) return void out.push(flat(shape, index));
    for (let i = 0; i < size[axis]!; i++) walk(axis + 1, [...index, begin[axis]! + i]);
  };
  walk(0, []);
  return out;
}

describe('copy-free wasm kernels', () => {
  it('runs on the wasm backend', () => {
    expect(tf.getBackend()).toBe('wasm');
  });

  it('slice: contiguous and strided windows of ranks 1–5 match the definition', () => {
    const cases: [number[], number[], number[]][] = [
      [[10], [3], [4]],
      [[4, 6], [1, 0], [2, 6]],
      [[4, 6], [1, 2], [3, 3]],
      [[3, 4, 5], [0, 1, 2], [3, 2, 3]],
      [[3, 128, 5, 4], [1, 0, 0, 0], [1, 128, 5, 4]],
      [[2, 3, 4, 5], [1, 1, 0, 2], [1, 2, 4, 2]],
      [[2, 3, 2, 3, 4], [0, 1, 1, 0, 1], [2, 2, 1, 3, 2]],
    ];
    for (const [shape, begin, size] of cases) {
      const got = tf.tidy(() => Array.from(tf.slice(iota(shape), begin, size).dataSync()));
      expect(got, JSON.stringify([shape, begin, size])).toEqual(expectedSlice(shape, begin, size));
    }
  });

  it('unstack and split give the pieces along any axis', () => {
    const shape = [3, 4, 5];
    tf.tidy(() => {
      const x = iota(shape);
      for (let axis = 0; axis < 3; axis++) {
        const parts = tf.unstack(x, axis);
        parts.forEach((p, i) => {
          const begin = [0, 0, 0];
          const size = [...shape];
          begin[axis] = i;
          size[axis] = 1;
          expect(Array.from(p.dataSync())).toEqual(expectedSlice(shape, begin, size));
          expect(p.shape).toEqual(shape.filter((_, a) => a !== axis));
        });
      }
      const [a, b] = tf.split(x, [1, 4], 2);
      expect(Array.from(a!.dataSync())).toEqual(expectedSlice(shape, [0, 0, 0], [3, 4, 1]));
      expect(Array.from(b!.dataSync())).toEqual(expectedSlice(shape, [0, 0, 1], [3, 4, 4]));
    });
  });

  it('gather: rows along any axis, repeated and out of order, match the definition', () => {
    const shape = [4, 3, 70];
    tf.tidy(() => {
      const x = iota(shape);
      const picks = [2, 0, 2, 1];
      for (let axis = 0; axis < 3; axis++) {
        const got = tf.gather(x, tf.tensor1d(picks.map((i) => i % shape[axis]!), 'int32'), axis);
        const expected: number[] = [];
        const walk = (a: number, index: number[]) => {
          if (a === shape.length) return void expected.push(flat(shape, index));
          const range = a === axis ? picks.map((i) => i % shape[axis]!) : Array.from({ length: shape[a]! }, (_, i) => i);
          for (const i of range) walk(a + 1, [...index, i]);
        };
        walk(0, []);
        expect(got.shape).toEqual(shape.map((n, a) => (a === axis ? picks.length : n)));
        expect(Array.from(got.dataSync()), `axis ${axis}`).toEqual(expected);
      }
      const ints = tf.gather(tf.tensor2d([[1, 2], [3, 4], [5, 6]], [3, 2], 'int32'), tf.tensor2d([[2, 0], [1, 1]], [2, 2], 'int32'));
      expect(ints.shape).toEqual([2, 2, 2]);
      expect(Array.from(ints.dataSync())).toEqual([5, 6, 1, 2, 3, 4, 3, 4]);
      expect(() => tf.gather(x, tf.tensor1d([4], 'int32'))).toThrow(/not in \[0, 3\]/);
    });
  });

  it('a clone shares memory safely: it outlives its source and nothing leaks', () => {
    const before = tf.memory().numTensors;
    const x = tf.tensor1d([1, 2, 3]);
    const y = tf.clone(x);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3]);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
