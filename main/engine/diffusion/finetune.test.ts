// Diffusion fine-tuning through the methods registry on the tiny DiT fixture.
import * as tf from '@tensorflow/tfjs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { readSafetensors, writeSafetensors, type HostTensor } from '../io/safetensors';
import { ditEpsilon } from '../models/dit';
import { Rng } from '../train/rng';
import { loadDitFolder, type LoadedDit } from './dit-folder';
import { DIFFUSION_METHODS, diffusionStep, disposeTuner, initDiffusionTuner, loadDiffusionAdapter, saveDiffusionAdapter, tunedModel, type DiffusionTuner } from './finetune';
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

/** ε of the base model with a tuner's method applied, on fixed noisy inputs (a fixed seed's sample step). */
function tunedEpsilon(tuner: Pick<DiffusionTuner, 'method' | 'options' | 'trainable'>): Float32Array {
  return tf.tidy(() => {
    const { params, hooks } = tunedModel(model.params, model.config, tuner);
    const inputs = { x: x0, t: tf.tensor1d([10, 200, 500, 999]), y: tf.tensor1d([0, 1, 2, 4], 'int32') };
    return ditEpsilon(params, model.config, inputs, hooks).dataSync() as Float32Array;
  });
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

/** A tuner two steps in, so every trainable tensor (LoRA's zero-initialised B included) is non-trivial. */
function trainedTuner(method: (typeof DIFFUSION_METHODS)[number], options: object): DiffusionTuner {
  const tuner = initDiffusionTuner(model.params, model.config, method, options, Rng.fromSeed(1));
  const rng = Rng.fromSeed(2);
  for (let i = 0; i < 2; i++) diffusionStep(model.params, model.config, tuner, { x0, labels: [0, 1, 2, 3] }, makeSchedule(model.schedule), rng, { lr: 1e-2, classDropout: 0 });
  return tuner;
}

describe('diffusion adapter export (Hugging Face PEFT layout)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dit-adapter-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('LoRA: PEFT keys on the DiT module paths and PEFT adapter_config.json; loads back to the same denoiser output', async () => {
    const tuner = trainedTuner('lora', { targets: ['qkv', 'fc1'], layers: [1], r: 2, alpha: 4 });
    const folder = path.join(dir, 'lora');
    const tensors = tf.memory().numTensors;
    await saveDiffusionAdapter(folder, tuner, model.config, { baseModel: 'dit_tiny_grey', steps: 2 });
    expect(tf.memory().numTensors).toBe(tensors);

    const { tensors: file } = await readSafetensors(path.join(folder, 'adapter_model.safetensors'));
    const d = model.config.hiddenSize;
    const shapes = Object.fromEntries([...file].map(([name, h]) => [name, h.shape]));
    expect(shapes).toEqual({
      'base_model.model.blocks.1.attn.qkv.lora_A.weight': [2, d],
      'base_model.model.blocks.1.attn.qkv.lora_B.weight': [3 * d, 2],
      'base_model.model.blocks.1.mlp.fc1.lora_A.weight': [2, d],
      'base_model.model.blocks.1.mlp.fc1.lora_B.weight': [model.config.mlpSize, 2],
    });
    // PyTorch's [out, in]: the file holds the transpose of our [in, out] factor.
    const ourB = tuner.trainable['blocks.1.attn.qkv.lora_B']!;
    expect(Array.from(file.get('base_model.model.blocks.1.attn.qkv.lora_B.weight')!.data)).toEqual(Array.from(tf.tidy(() => tf.transpose(ourB).dataSync())));

    const config = JSON.parse(await readFile(path.join(folder, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({
      peft_type: 'LORA',
      r: 2,
      lora_alpha: 4,
      target_modules: ['qkv', 'fc1'],
      layers_to_transform: [1],
      layers_pattern: 'blocks',
      modules_to_save: [],
      base_model_name_or_path: 'dit_tiny_grey',
      base_layout: 'dit',
      peft_studio: { task: 'diffusion', method: 'lora', steps: 2 },
    });

    const loaded = await loadDiffusionAdapter(folder, model.config);
    expect(tf.memory().numTensors).toBe(tensors + Object.keys(loaded.trainable).length);
    expect(loaded.method).toBe('lora');
    expect(loaded.options).toEqual(tuner.options);
    expect(snapshot(loaded.trainable)).toEqual(snapshot(Object.fromEntries(Object.keys(loaded.trainable).map((n) => [n, tuner.trainable[n]!]))));
    expect(Object.keys(loaded.trainable).sort()).toEqual(Object.keys(tuner.trainable).sort());
    const before = tunedEpsilon(tuner);
    expect(maxAbsDiff(before, tunedEpsilon({ method: 'full', options: {}, trainable: {} }))).toBeGreaterThan(1e-4);
    expect(maxAbsDiff(tunedEpsilon(loaded), before)).toBeLessThan(1e-6);
    tf.dispose(Object.values(loaded.trainable));
    disposeTuner(tuner);
  });

  for (const [method, options] of [['sara', {}], ['ssf', {}], ['full', {}]] as const) {
    it(`${method}: canonical key names as the classifier export writes them; loads back to the same denoiser output`, async () => {
      const tuner = trainedTuner(method, options);
      const folder = path.join(dir, method);
      await saveDiffusionAdapter(folder, tuner, model.config, { baseModel: 'dit_tiny_grey', steps: 2 });
      const { tensors: file } = await readSafetensors(path.join(folder, 'adapter_model.safetensors'));
      expect([...file.keys()].sort()).toEqual(Object.keys(tuner.trainable).sort());
      const config = JSON.parse(await readFile(path.join(folder, 'adapter_config.json'), 'utf8'));
      expect(config).toMatchObject({ peft_type: method.toUpperCase(), key_names: 'canonical', base_layout: 'dit', peft_studio: { task: 'diffusion', method } });
      const tensors = tf.memory().numTensors;
      const loaded = await loadDiffusionAdapter(folder, model.config);
      expect(maxAbsDiff(tunedEpsilon(loaded), tunedEpsilon(tuner))).toBeLessThan(1e-6);
      tf.dispose(Object.values(loaded.trainable));
      expect(tf.memory().numTensors).toBe(tensors);
      disposeTuner(tuner);
    });
  }

  it('still loads an adapter written before the PEFT layout (task at the top, canonical names)', async () => {
    const tuner = trainedTuner('lora', {});
    const folder = path.join(dir, 'legacy');
    await mkdir(folder);
    const host: Record<string, HostTensor> = {};
    for (const [name, t] of Object.entries(tuner.trainable)) host[name] = { dtype: 'float32', shape: t.shape, data: t.dataSync() as Float32Array };
    await writeSafetensors(path.join(folder, 'adapter_model.safetensors'), host, { task: 'diffusion', method: 'lora' });
    await writeFile(path.join(folder, 'adapter_config.json'), JSON.stringify({ task: 'diffusion', method: 'lora', options: tuner.options, base_model: 'dit_tiny_grey', steps: 2 }));
    const loaded = await loadDiffusionAdapter(folder, model.config);
    expect(maxAbsDiff(tunedEpsilon(loaded), tunedEpsilon(tuner))).toBeLessThan(1e-6);
    tf.dispose(Object.values(loaded.trainable));
    disposeTuner(tuner);
  });
});
