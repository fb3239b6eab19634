// Side-tuning: closed-form counts, cached taps reproduce the hooked forward and its gradients, the
// backbone never enters the backward pass, and the ladder gates mix as σ(α/T) says.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../backend';
import { vitForward, type VitConfig } from '../../models/vit';
import { Rng } from '../../train/rng';
import { forwardParams, initTrainable, parseOptions, targetConfig, trainableParamCount } from '../framework';
import { randomVitParams, TINY_VIT } from '../tiny-vit';
import type { NamedTensors } from '../types';
import { side } from '.';

const B = 3;
let x: tf.Tensor4D;
let labels: tf.Tensor1D;

beforeAll(async () => {
  await initBackend();
  x = tf.tensor4d(Rng.fromSeed(42).fill(B * 8 * 8 * 3, (r) => r.normal()), [B, 8, 8, 3]);
  labels = tf.tensor1d([0, 2, 1], 'int32');
});
afterAll(() => tf.dispose([x, labels]));

const WIDE: VitConfig = targetConfig({ ...TINY_VIT, hiddenSize: 16, numHeads: 4, headDim: 4, mlpSize: 32, depth: 3 }, 3);
const MEAN: VitConfig = targetConfig({ ...TINY_VIT, pooling: 'mean', finalNorm: 'tokens', depth: 3 }, 3);

/** Random values everywhere (gates included), so every path carries signal. */
function randomSide(config: VitConfig, raw: object, seed: number): { base: NamedTensors; trainable: NamedTensors; options: ReturnType<typeof parse> } {
  const options = parse(raw);
  const base = randomVitParams(config, Rng.fromSeed(seed));
  const init = initTrainable(side, base, config, options, Rng.fromSeed(seed + 1));
  const rng = Rng.fromSeed(seed + 2);
  const trainable = Object.fromEntries(Object.entries(init).map(([k, t]) => [k, tf.add(t, tf.tensor(rng.fill(t.size, (r) => 0.3 * r.normal()), t.shape))]));
  tf.dispose(Object.values(init));
  return { base, trainable, options };
}
const parse = (raw: object) => parseOptions(side, raw);
const maxAbsDiff = async (a: tf.Tensor, b: tf.Tensor) => Math.max(...(await tf.sub(a, b).abs().data()));
const hooked = (base: NamedTensors, trainable: NamedTensors, config: VitConfig, options: ReturnType<typeof parse>) =>
  vitForward(forwardParams(base, trainable), config, x, side.hooks(trainable, config, options, { training: true, rng: Rng.fromSeed(1) }));

describe('side', () => {
  it('counts: embed_down + per tap (down, gate, narrow block) + norm + up, besides the head side', () => {
    for (const [config, raw] of [
      [WIDE, { reduction: 2 }],
      [WIDE, { reduction: 4, layers: [0, 2] }],
      [MEAN, {}],
    ] as const) {
      const options = parse(raw);
      const d = config.hiddenSize;
      const w = Math.max(4, Math.floor(d / options.reduction));
      const m = Math.max(4, Math.floor(config.mlpSize / options.reduction));
      const taps = options.layers?.length ?? config.depth;
      const block = 2 * w + (w * 3 * w + 3 * w) + (w * w + w) + 2 * w + (w * m + m) + (m * w + w);
      const head = d * 3 + 3 + (config.pooling === 'cls' ? 2 * d : 0);
      const expected = head + (d * w + w) + taps * (d * w + w + 1 + block) + 2 * w + (w * d + d);
      expect(trainableParamCount(side, config, options)).toBe(expected);
    }
    expect(() => side.shapes(WIDE, parse({ layers: [3] }))).toThrow(/layer 3 does not exist/);
    expect(() => parse({ layers: [1, 0] })).toThrow(/ascending/);
  });

  for (const [label, config, raw] of [
    ['cls, every block', WIDE, { reduction: 4 }],
    ['mean pooling, blocks 0 and 1 of 3', MEAN, { layers: [0, 1] }],
  ] as const) {
    it(`cached taps give the hooked logits and gradients (${label})`, async () => {
      const { base, trainable, options } = randomSide(config, raw, 50);
      const names = Object.keys(trainable);
      const taps = side.tapCache!.taps(base, config, options, x);
      expect(taps.map((t) => t.shape)).toEqual(Array.from({ length: 1 + (options.layers?.length ?? config.depth) }, () => [B, 5, config.hiddenSize]));
      const lossVia = (useTaps: boolean) => (...ts: tf.Tensor[]) => {
        const t = Object.fromEntries(names.map((n, i) => [n, ts[i]!]));
        const logits = useTaps ? side.tapCache!.logits(base, t, config, options, taps) : hooked(base, t, config, options);
        return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, 3), logits);
      };
      const xs = names.map((n) => trainable[n]!);
      const [a, b] = tf.tidy(() => [hooked(base, trainable, config, options), side.tapCache!.logits(base, trainable, config, options, taps)]);
      expect(await maxAbsDiff(a!, b!)).toBeLessThan(1e-5);
      const viaHooks = tf.grads(lossVia(false))(xs);
      const viaTaps = tf.grads(lossVia(true))(xs);
      for (let i = 0; i < names.length; i++) expect(await maxAbsDiff(viaHooks[i]!, viaTaps[i]!), names[i]).toBeLessThan(1e-5);

      // Structural: the backward pass runs the same kernels whether or not the backbone ran inside
      // the differentiated function, so no backbone activation takes part in the gradient
      // computation. Identity and Reshape are left out: under a tape tfjs clones every op's saved
      // tensors, and the backbone's final norm reshapes [B·N, D] rows where the tap path does not;
      // so is 'forward', the profile's name for a tf.customGrad call (LayerNorm), not a kernel.
      const kernels = async (f: () => tf.Tensor | tf.Tensor[]) => {
        const counts: Record<string, number> = {};
        for (const k of (await tf.profile(() => tf.tidy(f))).kernels) if (!['Identity', 'Reshape', 'forward'].includes(k.name)) counts[k.name] = (counts[k.name] ?? 0) + 1;
        return counts;
      };
      const minus = (a: Record<string, number>, b: Record<string, number>) =>
        Object.fromEntries(Object.entries(a).map(([k, n]) => [k, n - (b[k] ?? 0)]).filter(([, n]) => n !== 0));
      const forward = async (useTaps: boolean) => kernels(() => lossVia(useTaps)(...xs));
      const backward = async (useTaps: boolean) => minus(await kernels(() => tf.grads(lossVia(useTaps))(xs)), await forward(useTaps));
      const backbone = minus(await forward(false), await forward(true));
      expect(backbone.BatchMatMul).toBeGreaterThanOrEqual(3 * 4);
      const [withBackbone, fromTaps] = [await backward(false), await backward(true)];
      expect(fromTaps.BatchMatMul).toBeGreaterThan(0);
      expect(withBackbone).toEqual(fromTaps);
      tf.dispose([a!, b!, ...viaHooks, ...viaTaps, ...taps, ...Object.values(base), ...Object.values(trainable)]);
    });
  }

  it('gates mix σ(α/T): α → +∞ ignores the embedding stream, α → −∞ ignores the taps', async () => {
    const { base, trainable, options } = randomSide(WIDE, { reduction: 4 }, 60);
    const withGates = (alpha: number) => ({ ...trainable, ...Object.fromEntries([0, 1, 2].map((j) => [`side.blocks.${j}.gate`, tf.fill([1], alpha)])) });
    // A non-uniform change: the side LayerNorms would cancel a shift of every channel alike.
    const perturb = (t: NamedTensors, name: string) => ({ ...t, [name]: tf.add(t[name]!, tf.linspace(-1, 1, t[name]!.size)) });
    const change = (t: NamedTensors, name: string) =>
      tf.tidy(() => {
        const logits = (u: NamedTensors) => vitForward(forwardParams(base, u), WIDE, x, side.hooks(u, WIDE, options, { training: false, rng: Rng.fromSeed(1) }));
        return tf.max(tf.abs(tf.sub(logits(t), logits(perturb(t, name))))).dataSync()[0]!;
      });
    const open = withGates(10); // σ(100) is 1 in float32
    const shut = withGates(-10);
    const half = withGates(0);
    expect(change(open, 'side.embed_down.bias')).toBe(0);
    expect(change(shut, 'side.blocks.1.down.bias')).toBe(0);
    expect(change(half, 'side.embed_down.bias')).toBeGreaterThan(1e-3);
    expect(change(half, 'side.blocks.1.down.bias')).toBeGreaterThan(1e-3);
    tf.dispose([...Object.values(base), ...Object.values(trainable), ...[open, shut, half].flatMap((g) => [0, 1, 2].map((j) => g[`side.blocks.${j}.gate`]!))]);
  });
});
