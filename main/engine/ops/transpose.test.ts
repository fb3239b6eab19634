// Transpose (the addon's kernel where the last axis stays last, ops/native-kernels.ts; wasm's
// otherwise) against the definition: ranks 1–6, int32, empty and identity cases.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';

beforeAll(async () => {
  await initBackend();
});

/** out[i0…] = x[i_perm…] for row-major values, out axis a being x axis perm[a]. */
function permuted(values: ArrayLike<number>, shape: number[], perm: number[]): number[] {
  const outShape = perm.map((p) => shape[p]!);
  const strides = shape.map((_, a) => shape.slice(a + 1).reduce((x, y) => x * y, 1));
  const out: number[] = [];
  const walk = (axis: number, offset: number) => {
    if (axis === outShape.length) return void out.push(values[offset]!);
    for (let i = 0; i < outShape[axis]!; i++) walk(axis + 1, offset + i * strides[perm[axis]!]!);
  };
  walk(0, 0);
  return out;
}

describe('native transpose', () => {
  it('permutes float32 and int32 tensors of ranks 1–6 as defined', () => {
    const cases: [number[], number[]][] = [
      [[7], [0]],
      [[4, 6], [1, 0]],
      [[65, 3, 3, 8], [1, 2, 0, 3]],
      [[3, 65, 8], [1, 0, 2]],
      [[2, 3, 4, 5], [3, 1, 0, 2]],
      [[2, 3, 2, 3, 2], [4, 0, 3, 1, 2]],
      [[2, 1, 3, 2, 2, 3], [5, 4, 3, 2, 1, 0]],
      [[2, 3, 4], [0, 1, 2]],
      [[2, 0, 4], [1, 0, 2]],
      [[2, 0, 3], [2, 0, 1]],
      [[3, 2, 2], [1, 0, 2]],
    ];
    for (const [shape, perm] of cases) {
      for (const dtype of ['float32', 'int32'] as const) {
        tf.tidy(() => {
          const x = tf.range(0, shape.reduce((a, b) => a * b, 1), 1, dtype).reshape(shape);
          const y = tf.transpose(x, perm);
          expect(y.dtype).toBe(dtype);
          expect(y.shape, JSON.stringify([shape, perm])).toEqual(perm.map((p) => shape[p]));
          expect(Array.from(y.dataSync()), JSON.stringify([shape, perm, dtype])).toEqual(permuted(x.dataSync(), shape, perm));
        });
      }
    }
  });

  it("gives attention's head split the same gradient as the definition (the inverse permutation)", () => {
    tf.tidy(() => {
      const x = tf.randomNormal([10, 3, 2, 4], 0, 1, 'float32', 5);
      const w = tf.randomNormal([3, 2, 10, 4], 0, 1, 'float32', 6);
      const dx = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.transpose(v, [1, 2, 0, 3]), w)))(x);
      expect(Array.from(dx.dataSync())).toEqual(permuted(w.dataSync(), [3, 2, 10, 4], [2, 0, 1, 3]));
    });
  });
});
