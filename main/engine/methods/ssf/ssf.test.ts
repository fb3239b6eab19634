// SSF: closed-form counts, identity at initStd 0, and merge checked against a plain-JS fold.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../backend';
import { vitForward, type VitConfig } from '../../models/vit';
import { Rng } from '../../train/rng';
import { initTrainable, mergedParams, parseOptions, targetConfig, trainableParamCount } from '../framework';
import { randomVitParams, TINY_VIT } from '../tiny-vit';
import type { NamedTensors } from '../types';
import { ssf } from '.';

const B = 2;
let x: tf.Tensor4D;

beforeAll(async () => {
  await initBackend();
  x = tf.tensor4d(Rng.fromSeed(32).fill(B * 8 * 8 * 3, (r) => r.normal()), [B, 8, 8, 3]);
});
afterAll(() => x.dispose());

const GEOMETRIES: VitConfig[] = [TINY_VIT, { ...TINY_VIT, pooling: 'mean', finalNorm: 'tokens', qkvBias: false }];

describe('ssf', () => {
  it('trains γ and β for every channel of every site (qkv scale only without a qkv bias)', () => {
    for (const g of GEOMETRIES) {
      const c = targetConfig(g, 3);
      const { hiddenSize: d, mlpSize: m } = c;
      const qkv = 3 * c.numHeads * c.headDim;
      const head = d * 3 + 3 + (c.pooling === 'cls' ? 2 * d : 0);
      const perBlock = 2 * (d + qkv + d + d + m + d) - (c.qkvBias ? 0 : qkv);
      const finalNorm = c.pooling === 'cls' ? 0 : 2 * d;
      const expected = head + 2 * d + c.depth * perBlock + finalNorm;
      const options = parseOptions(ssf, {});
      expect(trainableParamCount(ssf, c, options)).toBe(expected);
      const base = randomVitParams(g, Rng.fromSeed(30));
      const t = initTrainable(ssf, base, c, options, Rng.fromSeed(31));
      expect(Object.values(t).reduce((n, v) => n + v.size, 0)).toBe(expected);
      tf.dispose([...Object.values(t), ...Object.values(base)]);
    }
  });

  it("draws the paper's init γ ~ N(1, 0.02²), β ~ N(0, 0.02²), and initStd 0 is the identity", async () => {
    const config = { ...TINY_VIT, mlpSize: 512 };
    const base = randomVitParams(config, Rng.fromSeed(33));
    const t = ssf.init(base, config, parseOptions(ssf, {}), Rng.fromSeed(34));
    const stats = async (suffix: string) => {
      const v = (await Promise.all(Object.entries(t).filter(([k]) => k.endsWith(suffix)).map(([, x]) => x.data()))).flatMap((a) => Array.from(a));
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      return { mean, std: Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length), n: v.length };
    };
    const scale = await stats('ssf_scale');
    const shift = await stats('ssf_shift');
    expect(scale.n).toBeGreaterThan(1000);
    expect(Math.abs(scale.mean - 1)).toBeLessThan(0.002);
    expect(Math.abs(shift.mean)).toBeLessThan(0.002);
    for (const s of [scale.std, shift.std]) expect(Math.abs(s - 0.02)).toBeLessThan(0.002);
    tf.dispose(Object.values(t));

    const identity = ssf.init(base, config, parseOptions(ssf, { initStd: 0 }), Rng.fromSeed(34));
    const [a, b] = tf.tidy(() => [vitForward(base, config, x, ssf.hooks(identity, config, parseOptions(ssf, {}), { training: false, rng: Rng.fromSeed(1) })), vitForward(base, config, x)]);
    expect(Array.from(await a!.data())).toEqual(Array.from(await b!.data()));
    tf.dispose([a!, b!, ...Object.values(identity), ...Object.values(base)]);
  });

  it('merge scales each weight column by γ and maps the bias to γ·b + β (plain-JS fold)', async () => {
    for (const g of GEOMETRIES) {
      const config = targetConfig(g, 3);
      const base = randomVitParams(config, Rng.fromSeed(35));
      const options = parseOptions(ssf, { initStd: 0.3 });
      const trainable = initTrainable(ssf, base, config, options, Rng.fromSeed(36));
      const { params, owned } = mergedParams(ssf, base, trainable, config, options);
      const expected: Record<string, Float32Array> = {};
      for (const name of Object.keys(trainable).filter((k) => k.endsWith('.ssf_scale'))) {
        const module = name.slice(0, -'.ssf_scale'.length);
        const gamma = trainable[name]!.dataSync();
        const beta = trainable[`${module}.ssf_shift`]?.dataSync();
        const w = base[`${module}.weight`]!;
        const wv = w.dataSync();
        const cols = gamma.length;
        expected[`${module}.weight`] = Float32Array.from(wv, (v, i) => v * gamma[i % cols]!);
        if (beta) expected[`${module}.bias`] = Float32Array.from(base[`${module}.bias`]!.dataSync(), (v, j) => gamma[j]! * v + beta[j]!);
      }
      expect(Object.keys(expected).length).toBeGreaterThan(10);
      for (const [k, v] of Object.entries(expected)) {
        const got = await params[k]!.data();
        for (let i = 0; i < v.length; i++) expect(Math.abs(got[i]! - v[i]!), `${k}[${i}]`).toBeLessThan(1e-6 * (1 + Math.abs(v[i]!)));
      }
      const [hooked, merged] = tf.tidy(() => [
        vitForward({ ...base, ...trainable }, config, x, ssf.hooks(trainable, config, options, { training: false, rng: Rng.fromSeed(1) })),
        vitForward(params, config, x),
      ]);
      expect(Math.max(...(await tf.sub(hooked!, merged!).abs().data()))).toBeLessThan(1e-4);
      tf.dispose([hooked!, merged!, ...owned, ...Object.values(trainable as NamedTensors), ...Object.values(base)]);
    }
  });
});
