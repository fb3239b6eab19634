import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend';

beforeAll(async () => {
  await initBackend();
});

describe('initBackend', () => {
  it('picks a working backend, says why, and is idempotent', async () => {
    const first = await initBackend();
    const second = await initBackend();
    expect(second).toBe(first);
    expect(tf.getBackend()).toBe(first.name);
    expect(first.reason.length).toBeGreaterThan(0);
    if (process.env.PEFT_STUDIO_BACKEND) expect(first.reason).toMatch(/forced by PEFT_STUDIO_BACKEND/);
    else if (first.name === 'wasm') expect(first.reason).toMatch(/^wasm: .*tfjs-node/);
  });
});

/** Plain-JS matmul of row-major matrices, the reference for the gradients below. */
function mm(a: number[][], b: number[][]): number[][] {
  return a.map((row) => b[0]!.map((_, j) => row.reduce((s, v, k) => s + v * b[k]![j]!, 0)));
}
const T = (m: number[][]) => m[0]!.map((_, j) => m.map((row) => row[j]!));
const rand = (r: number, c: number, seed: number) =>
  Array.from({ length: r }, (_, i) => Array.from({ length: c }, (_, j) => Math.sin(seed * 7.1 + i * 3.3 + j * 1.7)));

function close(actual: number[][], expected: number[][]): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(expected[i]![j]!, 4)));
}

describe('BatchMatMul gradient (re-registered with explicit transposes for 2-D)', () => {
  // loss = sum(op(A) · op(B) ⊙ G) ⇒ d/dop(A) = G · op(B)ᵀ, d/dop(B) = op(A)ᵀ · G.
  it.each([
    [false, false],
    [false, true],
    [true, false],
    [true, true],
  ])('transposeA=%s transposeB=%s matches the analytic gradient', async (ta, tb) => {
    const before = tf.memory().numTensors;
    const opA = rand(3, 4, 1);
    const opB = rand(4, 5, 2);
    const g = rand(3, 5, 3);
    const a = ta ? T(opA) : opA;
    const b = tb ? T(opB) : opB;
    const grads = tf.tidy(() =>
      tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D, ta, tb), tf.tensor2d(g))))([
        tf.tensor2d(a),
        tf.tensor2d(b),
      ]),
    );
    const [da, db] = (await Promise.all(grads.map((t) => t.array()))) as [number[][], number[][]];
    const dOpA = mm(g, T(opB));
    const dOpB = mm(T(opA), g);
    close(da, ta ? T(dOpA) : dOpA);
    close(db, tb ? T(dOpB) : dOpB);
    tf.dispose(grads);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('batched (3-D) operands keep the stock gradient', async () => {
    const a = [rand(2, 3, 4), rand(2, 3, 5)];
    const b = [rand(3, 2, 6), rand(3, 2, 7)];
    const g = [rand(2, 2, 8), rand(2, 2, 9)];
    const [da, db] = tf.tidy(() =>
      tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y), tf.tensor3d(g))))([tf.tensor3d(a), tf.tensor3d(b)]),
    ) as [tf.Tensor, tf.Tensor];
    const daArr = (await da.array()) as number[][][];
    const dbArr = (await db.array()) as number[][][];
    for (let i = 0; i < 2; i++) {
      close(daArr[i]!, mm(g[i]!, T(b[i]!)));
      close(dbArr[i]!, mm(T(a[i]!), g[i]!));
    }
    tf.dispose([da, db]);
  });
});

describe('batched matmul (wasm: one XNNPACK product per matrix over aliased memory)', () => {
  /** [batch][rows][cols] deterministic values. */
  const rand3 = (batch: number, r: number, c: number, seed: number) => Array.from({ length: batch }, (_, i) => rand(r, c, seed + 13 * i));

  it.each([
    [false, false],
    [false, true],
    [true, false],
    [true, true],
  ])('matches plain-JS products, transposeA=%s transposeB=%s, rank 4, no leaks', async (ta, tb) => {
    const [batch, m, k, n] = [6, 40, 36, 33]; // above the per-matrix size where the fast path starts
    const opA = rand3(batch, m, k, 1);
    const opB = rand3(batch, k, n, 2);
    const a = ta ? opA.map(T) : opA;
    const b = tb ? opB.map(T) : opB;
    const before = tf.memory();
    const rank4 = (x: number[][][]) => tf.tensor3d(x).reshape([2, 3, x[0]!.length, x[0]![0]!.length]);
    const out = tf.tidy(() => tf.matMul(rank4(a), rank4(b), ta, tb));
    expect(out.shape).toEqual([2, 3, m, n]);
    const got = (await out.array()) as number[][][][];
    got.flat().forEach((matrix, i) => close(matrix, mm(opA[i]!, opB[i]!)));
    out.dispose();
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
  });

  it('broadcast batches and small matrices still give the right answer', async () => {
    const a = rand3(3, 40, 36, 5);
    const w = rand(36, 33, 6);
    const shared = tf.tidy(() => tf.matMul(tf.tensor3d(a), tf.tensor3d([w]).tile([1, 1, 1])));
    const got = (await shared.array()) as number[][][];
    got.forEach((matrix, i) => close(matrix, mm(a[i]!, w)));
    const small = tf.tidy(() => tf.matMul(tf.tensor3d(rand3(2, 3, 4, 7)), tf.tensor3d(rand3(2, 4, 2, 8))));
    ((await small.array()) as number[][][]).forEach((matrix, i) => close(matrix, mm(rand3(2, 3, 4, 7)[i]!, rand3(2, 4, 2, 8)[i]!)));
    tf.dispose([shared, small]);
  });
});
