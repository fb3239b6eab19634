import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { NamedTensors } from '../methods/types';
import { clipByGlobalNorm, clipFactor, decays, initOptimizerState, optimizerStep, type OptimizerConfig, type OptimizerState } from './optim';

/** The per-tensor update the fused optimizer replaced (torch.optim formulas), as the reference. */
function perTensorStep(config: OptimizerConfig, params: NamedTensors, grads: NamedTensors, state: OptimizerState, lr: number) {
  const t = state.t + 1;
  const out: NamedTensors = {};
  const slots: Record<string, NamedTensors> = config.kind === 'adamw' ? { m: {}, v: {} } : { momentum: {} };
  for (const [name, p] of Object.entries(params)) {
    const g = grads[name]!;
    const wd = decays(name, p.shape) ? config.weightDecay : 0;
    if (config.kind === 'adamw') {
      const m = tf.add(tf.mul(state.slots.m![name]!, config.beta1), tf.mul(g, 1 - config.beta1));
      const v = tf.add(tf.mul(state.slots.v![name]!, config.beta2), tf.mul(tf.square(g), 1 - config.beta2));
      const decayed = wd > 0 ? tf.mul(p, 1 - lr * wd) : p;
      const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(1 - config.beta2 ** t)), config.eps);
      out[name] = tf.sub(decayed, tf.mul(tf.div(m, denom), lr / (1 - config.beta1 ** t)));
      slots.m![name] = m;
      slots.v![name] = v;
    } else {
      const gd = wd > 0 ? tf.add(g, tf.mul(p, wd)) : g;
      const buf = t === 1 ? tf.clone(gd) : tf.add(tf.mul(state.slots.momentum![name]!, config.momentum), gd);
      out[name] = tf.sub(p, tf.mul(buf, lr));
      slots.momentum![name] = buf;
    }
  }
  return { params: out, state: { t, slots } };
}

const SHAPES: Record<string, number[]> = {
  'blocks.0.attn.qkv.weight': [6, 18],
  'blocks.0.attn.qkv.bias': [18],
  'blocks.0.norm1.weight': [6],
  'head.weight': [6, 3],
  cls_token: [1, 1, 6],
  'blocks.0.prompts': [2, 6],
};

const disposeAll = (params: NamedTensors, state: OptimizerState) =>
  tf.dispose([...Object.values(params), ...Object.values(state.slots).flatMap((s) => Object.values(s))]);

describe('fused optimizer step', () => {
  for (const kind of ['adamw', 'sgd'] as const) {
    it(`${kind}: equals the per-tensor update over mixed decay groups and several steps, leaking nothing`, async () => {
      const config: OptimizerConfig = { kind, weightDecay: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8, momentum: 0.9 };
      const init = () => Object.fromEntries(Object.entries(SHAPES).map(([n, s], i) => [n, tf.randomNormal(s, 0, 1, 'float32', i + 1)]));
      let fused = { params: init(), state: initOptimizerState(config, init()) };
      let ref = { params: init(), state: initOptimizerState(config, init()) };
      const before = tf.memory().numTensors;
      for (let step = 0; step < 4; step++) {
        const grads = Object.fromEntries(Object.entries(SHAPES).map(([n, s], i) => [n, tf.randomNormal(s, 0, 1, 'float32', 100 * step + i)]));
        const kept = (r: { params: NamedTensors; state: OptimizerState }) => ({ params: r.params, slots: r.state.slots, t: r.state.t });
        const f = tf.tidy(() => kept(optimizerStep(config, fused.params, grads, fused.state, 0.01)));
        const r = tf.tidy(() => kept(perTensorStep(config, ref.params, grads, ref.state, 0.01)));
        disposeAll(fused.params, fused.state);
        disposeAll(ref.params, ref.state);
        tf.dispose(Object.values(grads));
        fused = { params: f.params, state: { t: f.t, slots: f.slots } };
        ref = { params: r.params, state: { t: r.t, slots: r.slots } };
        expect(fused.state.t).toBe(step + 1);
      }
      expect(tf.memory().numTensors).toBe(before);
      for (const name of Object.keys(SHAPES)) {
        expect(fused.params[name]!.shape).toEqual(SHAPES[name]);
        expect(Array.from(await fused.params[name]!.data())).toEqual(Array.from(await ref.params[name]!.data()));
        for (const slot of Object.keys(ref.state.slots)) {
          expect(fused.state.slots[slot]![name]!.shape).toEqual(SHAPES[name]);
          expect(Array.from(await fused.state.slots[slot]![name]!.data())).toEqual(Array.from(await ref.state.slots[slot]![name]!.data()));
        }
      }
      disposeAll(fused.params, fused.state);
      disposeAll(ref.params, ref.state);
    });
  }

  for (const kind of ['adamw', 'sgd'] as const) {
    it(`${kind}: gradScale (the clip factor on the flattened gradients) equals stepping on clipped gradients, bit for bit`, async () => {
      const config: OptimizerConfig = { kind, weightDecay: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8, momentum: 0.9 };
      const params = Object.fromEntries(Object.entries(SHAPES).map(([n, s], i) => [n, tf.randomNormal(s, 0, 1, 'float32', i + 1)]));
      const grads = Object.fromEntries(Object.entries(SHAPES).map(([n, s], i) => [n, tf.randomNormal(s, 0, 4, 'float32', i + 50)]));
      const state = initOptimizerState(config, params);
      const names = Object.keys(SHAPES);
      const before = tf.memory().numTensors;
      const [scaled, clipped] = tf.tidy(() => {
        const list = names.map((n) => grads[n]!);
        const { factor } = clipFactor(list, 1);
        const viaScale = optimizerStep(config, params, grads, state, 0.01, factor);
        const each = clipByGlobalNorm(list, 1).grads;
        const viaClip = optimizerStep(config, params, Object.fromEntries(names.map((n, i) => [n, each[i]!])), state, 0.01);
        return [viaScale, viaClip].map((r) => [...Object.values(r.params), ...Object.values(r.state.slots).flatMap((x) => Object.values(x))]);
      });
      expect(scaled!.length).toBe(clipped!.length);
      for (let i = 0; i < scaled!.length; i++) expect(Array.from(await scaled![i]!.data())).toEqual(Array.from(await clipped![i]!.data()));
      tf.dispose([...scaled!, ...clipped!]);
      expect(tf.memory().numTensors).toBe(before);
      disposeAll(params, state);
      tf.dispose(Object.values(grads));
    });
  }

  it('clipping by global norm matches the per-tensor norm within float tolerance', async () => {
    const grads = Object.values(SHAPES).map((s, i) => tf.randomNormal(s, 0, 3, 'float32', i + 7));
    const [norm, reference, first] = tf.tidy(() => {
      const r = clipByGlobalNorm(grads, 1);
      return [r.norm, tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g))))), r.grads[0]!];
    });
    const n = (await norm!.data())[0]!;
    expect(n).toBeCloseTo((await reference!.data())[0]!, 4);
    const g0 = await grads[0]!.data();
    const c0 = await first!.data();
    c0.forEach((x, i) => expect(x).toBeCloseTo((g0[i]! * 1) / (n + 1e-6), 5));
    tf.dispose([...grads, norm!, reference!, first!]);
  });
});
