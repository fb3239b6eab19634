// Diffusion fine-tuning through the methods registry on the tiny DiT fixture.
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { ditEpsilon } from '../models/dit';
import { Rng } from '../train/rng';
import { loadDitFolder, type LoadedDit } from './dit-folder';
import { DIFFUSION_METHODS, diffusionStep, disposeTuner, initDiffusionTuner, tunedModel } from './finetune';
import { makeSchedule } from './schedule';

let model: LoadedDit;
let x0: tf.Tensor4D;

beforeAll(async () => {
  await initBackend();
  model = await loadDitFolder(path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'dit', 'dit_tiny_grey'));
  x0 = tf.tensor4d(Rng.fromSeed(4).fill(4 * 64, (r) => Math.tanh(r.normal())), [4, 8, 8, 1]);
});
afterAll(() => tf.dispose([x0, ...Object.values(model.params)]));

const snapshot = (t: Record<string, tf.Tensor>) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Array.from(v.dataSync())]));

describe('diffusion fine-tuning', () => {
  for (const method of DIFFUSION_METHODS) {
    it(`${method}: a step changes only the method's parameters, and no tensor leaks`, () => {
      const schedule = makeSchedule(model.schedule);
      const baseBefore = snapshot(model.params);
      const options = method === 'ssf' ? { initStd: 0 } : method === 'lora' ? { targets: ['qkv', 'fc1'] } : {};
      const tuner = initDiffusionTuner(model.params, model.config, method, options, Rng.fromSeed(1));
      const trainableBefore = snapshot(tuner.trainable);
      const floats = Object.keys(tuner.trainable).filter((n) => tuner.trainable[n]!.dtype === 'float32');
      expect(floats.length).toBeGreaterThan(0);
      const rng = Rng.fromSeed(2);
      diffusionStep(model.params, model.config, tuner, { x0, labels: [0, 1, 2, 3] }, schedule, rng, { lr: 1e-2, classDropout: 0.1 });
      const tensors = tf.memory().numTensors;
      const loss = diffusionStep(model.params, model.config, tuner, { x0, labels: [0, 1, 2, 3] }, schedule, rng, { lr: 1e-2, classDropout: 0.1 });
      expect(tf.memory().numTensors).toBe(tensors);
      expect(Number.isFinite(loss)).toBe(true);
      expect(snapshot(model.params)).toEqual(baseBefore);
      const after = snapshot(tuner.trainable);
      expect(Object.keys(after).sort()).toEqual(Object.keys(trainableBefore).sort());
      const changed = floats.filter((n) => after[n]!.some((v, i) => v !== trainableBefore[n]![i]));
      expect(changed.length).toBeGreaterThan(0);
      if (method === 'full') expect(Object.keys(after)).not.toContain('pos_embed');
      if (method === 'lora') expect(floats.every((n) => n.includes('.lora_'))).toBe(true);
      disposeTuner(tuner);
    });
  }

  it('LoRA, SaRA and SSF (initStd 0) start from the base model exactly', () => {
    for (const [method, options] of [['lora', {}], ['ssf', { initStd: 0 }], ['sara', {}]] as const) {
      const tuner = initDiffusionTuner(model.params, model.config, method, options, Rng.fromSeed(1));
      const inputs = { x: x0, t: tf.tensor1d([10, 200, 500, 999]), y: tf.tensor1d([0, 1, 2, 4], 'int32') };
      const [plain, tuned] = tf.tidy(() => {
        const { params, hooks } = tunedModel(model.params, model.config, tuner);
        return [ditEpsilon(model.params, model.config, inputs), ditEpsilon(params, model.config, inputs, hooks)];
      });
      expect(Math.max(...Array.from(tf.sub(plain!, tuned!).abs().dataSync()))).toBeLessThan(1e-6);
      tf.dispose([plain!, tuned!, inputs.t, inputs.y]);
      disposeTuner(tuner);
    }
  });
});
