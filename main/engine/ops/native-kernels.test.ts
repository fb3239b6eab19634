import * as tf from '@tensorflow/tfjs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { nativeMatMulActive, registerNativeKernels } from './native-kernels';

let backendName = '';
beforeAll(async () => {
  backendName = (await initBackend()).name;
});

/** Plain-JS batched product of row-major data with broadcast batch dimensions, the reference. */
function reference(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): { shape: number[]; values: number[] } {
  const av = a.dataSync();
  const bv = b.dataSync();
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const [m, k] = transposeA ? [ac, ar] : [ar, ac];
  const n = transposeB ? br : bc;
  const outer = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  // Index of the matrix of x that outer position `flat` reads (size-1 or missing dims broadcast).
  const matrixOf = (xOuter: number[], flat: number) => {
    let index = 0;
    let rest = flat;
    const dims = outer.map((d, i) => ({ d, x: xOuter[i - (outer.length - xOuter.length)] ?? 1 }));
    const digits = dims.map(() => 0);
    for (let i = dims.length - 1; i >= 0; i--) {
      digits[i] = rest % dims[i]!.d;
      rest = Math.floor(rest / dims[i]!.d);
    }
    dims.forEach(({ x }, i) => {
      index = index * x + (x === 1 ? 0 : digits[i]!);
    });
    return index;
  };
  const values: number[] = [];
  const batch = outer.reduce((x, y) => x * y, 1);
  for (let i = 0; i < batch; i++) {
    const aBase = matrixOf(a.shape.slice(0, -2), i) * ar * ac;
    const bBase = matrixOf(b.shape.slice(0, -2), i) * br * bc;
    for (let r = 0; r < m; r++) {
      for (let c = 0; c < n; c++) {
        let sum = 0;
        for (let j = 0; j < k; j++) {
          const x = transposeA ? av[aBase + j * ac + r]! : av[aBase + r * ac + j]!;
          const y = transposeB ? bv[bBase + c * bc + j]! : bv[bBase + j * bc + c]!;
          sum += x * y;
        }
        values.push(sum);
      }
    }
  }
  return { shape: [...outer, m, n], values };
}

const filled = (shape: number[], seed: number) => {
  const size = shape.reduce((x, y) => x * y, 1);
  return tf.tensor(Array.from({ length: size }, (_, i) => Math.sin(seed * 7.1 + i * 0.37)), shape);
};

describe('matrix products on the system BLAS (native/blas)', () => {
  it('is active where an optimised BLAS and the built addon exist (CI installs both)', () => {
    const status = registerNativeKernels();
    if (process.env.CI) expect([status.library, status.fused], status.reason).toEqual([expect.any(String), true]);
    if (backendName === 'wasm' && status.library) expect(nativeMatMulActive()).toBe(true);
    expect(status.library ?? status.reason).toBeTruthy();
  });

  // [a shape, b shape, transposeA, transposeB]: 2-D with every transpose, attention's batched
  // products, a single matrix on either side broadcast against a batch.
  it.each([
    [[7, 5], [5, 3], false, false],
    [[5, 7], [5, 3], true, false],
    [[7, 5], [3, 5], false, true],
    [[5, 7], [3, 5], true, true],
    [[6, 9, 4], [6, 4, 9], false, false],
    [[6, 4, 9], [6, 9, 4], true, true],
    [[2, 3, 9, 4], [2, 3, 9, 4], false, true],
    [[2, 3, 9, 4], [2, 3, 9, 5], true, false],
    [[9, 4], [6, 4, 3], false, false],
    [[6, 9, 4], [4, 3], false, false],
    [[1, 9, 4], [6, 3, 4], false, true],
  ] as const)('%j · %j (transposeA %s, transposeB %s) equals the plain product', (aShape, bShape, ta, tb) => {
    const before = tf.memory().numTensors;
    const [a, b] = [filled([...aShape], 1), filled([...bShape], 2)];
    const out = tf.matMul(a, b, ta, tb);
    const expected = reference(a, b, ta, tb);
    expect(out.shape).toEqual(expected.shape);
    expect(Array.from(out.dataSync())).toEqual(expected.values.map((v) => expect.closeTo(v, 4)));
    tf.dispose([a, b, out]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('broadcasts both batches ([2,1]·[1,3] → 6 products), which tfjs-backend-wasm gets wrong (max(2, 3) products)', (ctx) => {
    if (!nativeMatMulActive()) {
      if (process.env.CI) throw new Error('CI must run the native matrix products');
      ctx.skip('SKIPPED: the native matrix products are not in use here (no addon or no optimised BLAS)');
    }
    const before = tf.memory().numTensors;
    const [a, b] = [filled([2, 1, 5, 4], 1), filled([1, 3, 4, 2], 2)];
    const out = tf.matMul(a, b);
    const expected = reference(a, b, false, false);
    expect(out.shape).toEqual([2, 3, 5, 2]);
    expect(Array.from(out.dataSync())).toEqual(expected.values.map((v) => expect.closeTo(v, 4)));
    tf.dispose([a, b, out]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gives the same gradients as the analytic ones for a batched attention-like product', async () => {
    const before = tf.memory().numTensors;
    const [q, kT, g] = [filled([3, 5, 4], 3), filled([3, 6, 4], 4), filled([3, 5, 6], 5)];
    // loss = Σ (Q·Kᵀ) ⊙ G ⇒ dQ = G·K, dK = Gᵀ·Q
    const [dq, dk] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, false, true), g)))([q, kT]);
    expect(Array.from(await dq!.data())).toEqual(reference(g, kT, false, false).values.map((v) => expect.closeTo(v, 4)));
    expect(Array.from(await dk!.data())).toEqual(reference(g, q, true, false).values.map((v) => expect.closeTo(v, 4)));
    tf.dispose([q, kT, g, dq!, dk!]);
    expect(tf.memory().numTensors).toBe(before);
  });

  // Leading axes (column sums, native) and every other reduction (wasm's kernel), checked against
  // plain sums; keepDims keeps the reduced axes as 1s.
  it.each([
    [[6, 5], [0], false],
    [[6, 5], 0, true],
    [[2, 3, 4], [0, 1], false],
    [[2, 3, 4], [1, 0], true],
    [[2, 3, 4], [0], false],
    [[2, 3, 4], [-1], false],
    [[2, 3, 4], [0, 2], false],
    [[2, 3, 4], [0, 1, 2], false],
    [[0, 4], [0], false],
  ] as const)('sum of %j over %j (keepDims %s) equals the plain sum', (shapeAsGiven, axis, keepDims) => {
    const before = tf.memory().numTensors;
    const shape: number[] = [...shapeAsGiven];
    const x = filled([...shape], 6);
    const axes = tf.util.parseAxisParam(typeof axis === 'number' ? axis : [...axis], [...shape]);
    const values = x.dataSync();
    const outShape: number[] = shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const expected = new Array<number>(outShape.reduce((p, q) => p * q, 1)).fill(0);
    const strides = (dims: readonly number[]) => dims.map((_, i) => dims.slice(i + 1).reduce((p, q) => p * q, 1));
    const [inStrides, outStrides] = [strides(shape), strides(outShape)];
    values.forEach((v, flat) => {
      const target = shape.reduce((acc, _, i) => acc + (axes.includes(i) ? 0 : Math.floor(flat / inStrides[i]!) % shape[i]!) * outStrides[i]!, 0);
      expected[target]! += v;
    });
    const out = tf.sum(x, typeof axis === 'number' ? axis : [...axis], keepDims);
    expect(out.shape).toEqual(keepDims ? outShape : shape.filter((_, i) => !axes.includes(i)));
    expect(Array.from(out.dataSync())).toEqual(expected.map((v) => expect.closeTo(v, 4)));
    tf.dispose([x, out]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('PEFT_STUDIO_BLAS=off keeps the wasm kernels and says so in the backend line', () => {
    const script = "require('./main/engine/backend.ts').initBackend().then((b) => console.log(b.reason))";
    const root = path.resolve(__dirname, '..', '..', '..');
    const line = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], {
      cwd: root,
      env: { ...process.env, PEFT_STUDIO_BLAS: 'off', PEFT_STUDIO_BACKEND: 'wasm' },
      encoding: 'utf8',
    });
    expect(line).toMatch(/matrix products in wasm: PEFT_STUDIO_BLAS=off/);
  });
});
