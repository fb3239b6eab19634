// One test table for every registered method (methods added to registry.ts are covered without
// touching this file): gradients, frozen weights, adapter save/load, merge, parameter counts and
// tensor hygiene, on tiny random ViTs.
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { readSafetensors, writeSafetensors, type HostTensor } from '../io/safetensors';
import { vitForward, vitForwardFrom, vitParamShapes, vitTokensAt, type VitConfig, type VitParams } from '../models/vit';
import { crossEntropy } from '../train/loss';
import { Rng } from '../train/rng';
import { forwardParams, headSideShapes, initTrainable, mergedParams, parseOptions, targetConfig, trainableParamCount } from './framework';
import { listMethods } from './registry';
import { randomVitParams, TINY_VIT } from './tiny-vit';
import type { NamedTensors, PeftMethod } from './types';

const NUM_LABELS = 3;
const BATCH = 4;

/** Two geometries: head-side norm (CLS + pooled norm), and a per-token norm under mean pooling. */
const CONFIGS: Record<string, VitConfig> = {
  'cls/pooled-norm': TINY_VIT,
  'mean/token-norm': { ...TINY_VIT, pooling: 'mean', finalNorm: 'tokens', qkvBias: false, activation: 'relu' },
};

/** Options each method is exercised with besides its defaults (keys: method names). */
const EXTRA_OPTIONS: Record<string, Record<string, unknown>[]> = {
  lora: [
    { targets: ['qkv', 'proj', 'fc1', 'fc2'], r: 2, alpha: 4, rsLora: true },
    { targets: 'key,value', r: 3, dropout: 0.5 },
    // Late layers only (HF PEFT layers_to_transform): block 0 is a frozen prefix.
    { targets: 'qkv', r: 2, alpha: 2, layers: [1] },
  ],
  vpt: [{ mode: 'shallow', promptLength: 3, dropout: 0 }],
  side: [{ reduction: 2, layers: [1] }],
  sara: [{ targets: 'qkv,fc2', sparsity: 0.3, reselectAtStep: 1 }],
};

/** Closed-form trainable counts written out by hand for the built-in methods. */
function expectedCount(method: string, c: VitConfig, options: Record<string, unknown>): number | undefined {
  const d = c.hiddenSize;
  const inner = c.numHeads * c.headDim;
  const head = d * c.numLabels + c.numLabels + (c.finalNorm === 'pooled' || c.pooling === 'cls' ? 2 * d : 0);
  switch (method) {
    case 'linear-probe':
      return head;
    case 'full':
      return [...vitParamShapes(c).values()].reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
    case 'lora': {
      const r = (options.r as number | undefined) ?? 8;
      const targets = typeof options.targets === 'string' ? options.targets.split(',') : ((options.targets as string[] | undefined) ?? ['query', 'value']);
      const perTarget: Record<string, number> = {
        qkv: r * (d + 3 * inner),
        query: r * (d + inner),
        key: r * (d + inner),
        value: r * (d + inner),
        proj: r * (inner + d),
        fc1: r * (d + c.mlpSize),
        fc2: r * (c.mlpSize + d),
      };
      const blocks = (options.layers as number[] | undefined)?.length ?? c.depth;
      return head + blocks * targets.reduce((n, t) => n + perTarget[t]!, 0);
    }
  }
  return undefined;
}

beforeAll(async () => {
  await initBackend();
});

function images(config: VitConfig, seed: number): tf.Tensor4D {
  const rng = Rng.fromSeed(seed);
  const s = config.imageSize;
  return tf.tensor4d(rng.fill(BATCH * s * s * config.numChannels, (r) => r.normal()), [BATCH, s, s, config.numChannels]);
}

const LABELS = [0, 2, 1, 2];

/** Names that train: float32 tensors (int32 ones are method buffers, see PeftMethod.buffers). */
function trainedNames(trainable: NamedTensors): string[] {
  return Object.keys(trainable).filter((n) => trainable[n]!.dtype === 'float32');
}

/** Replaces every trained tensor by random values, so zero-initialised parts (LoRA B) carry gradient. */
function randomise(trainable: NamedTensors, seed: number): NamedTensors {
  const rng = Rng.fromSeed(seed);
  const out: NamedTensors = {};
  for (const [k, t] of Object.entries(trainable)) out[k] = t.dtype === 'int32' ? tf.clone(t) : tf.tensor(rng.fill(t.size, (r) => 0.5 * r.normal()), t.shape);
  tf.dispose(Object.values(trainable));
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const cases = listMethods().flatMap((method) =>
  Object.entries(CONFIGS).flatMap(([geometry, config]) =>
    [{}, ...(EXTRA_OPTIONS[method.name] ?? [])].map((raw) => ({ label: `${method.name} ${JSON.stringify(raw)} on ${geometry}`, method, config, raw })),
  ),
);

describe.each(cases)('$label', ({ method, config: baseConfig, raw }) => {
  const m = method as PeftMethod<object>;
  const config = targetConfig(baseConfig, NUM_LABELS);
  let base: NamedTensors;
  let options: object;
  let x: tf.Tensor4D;
  let labels: tf.Tensor1D;
  const frozenRng = Rng.fromSeed(99);
  const loss = (params: VitParams, trainable: NamedTensors) =>
    crossEntropy(vitForward(params, config, x, m.hooks(trainable, config, options, { training: false, rng: frozenRng })), labels);

  beforeAll(() => {
    base = randomVitParams(baseConfig, Rng.fromSeed(1));
    options = parseOptions(m, raw);
    x = images(config, 2);
    labels = tf.tensor1d(LABELS, 'int32');
  });
  afterAll(() => {
    tf.dispose([...Object.values(base), x, labels]);
  });

  it('trainable tensors match shapes() and the closed-form count', () => {
    const trainable = initTrainable(m, base, config, options, Rng.fromSeed(3));
    const actual = trainedNames(trainable).reduce((n, k) => n + trainable[k]!.size, 0);
    expect(actual).toBe(trainableParamCount(m, config, options));
    const expected = expectedCount(m.name, config, raw);
    if (expected !== undefined) expect(actual).toBe(expected);
    for (const name of headSideShapes(config).keys()) expect(trainable[name]).toBeDefined();
    tf.dispose(Object.values(trainable));
  });

  it('a fresh init leaves the pretrained function intact apart from the head', async () => {
    // With the head side taken from the trainable set and every other canonical weight from base,
    // hooks at init must not change the pooled features (LoRA's B = 0; PEFT methods start at the
    // pretrained model). Methods that add tokens (VPT) legitimately change them: they declare it
    // by returning a tokens hook.
    const trainable = initTrainable(m, base, config, options, Rng.fromSeed(3));
    const hooks = m.hooks(trainable, config, options, { training: false, rng: frozenRng });
    if (hooks.tokens || hooks.encoded || hooks.posEmbed || m.perturbsAtInit) {
      tf.dispose(Object.values(trainable));
      return;
    }
    const plain = { ...base, ...Object.fromEntries(Object.entries(trainable).filter(([k]) => k in base && headSideShapes(config).has(k))) };
    const [a, b] = tf.tidy(() => [vitForward(forwardParams(base, trainable), config, x, hooks), vitForward(plain, config, x)]);
    expect(maxAbsDiff(await a!.data(), await b!.data())).toBeLessThan(1e-5);
    tf.dispose([a!, b!, ...Object.values(trainable)]);
  });

  it('analytic gradients of the trainable tensors match central differences', async () => {
    const trainable = randomise(initTrainable(m, base, config, options, Rng.fromSeed(3)), 4);
    const names = trainedNames(trainable);
    const f = (...ts: tf.Tensor[]) => {
      const t = { ...trainable, ...Object.fromEntries(names.map((n, i) => [n, ts[i]!])) };
      return loss(forwardParams(base, t), t);
    };
    const grads = tf.tidy(() => tf.grads(f)(names.map((n) => trainable[n]!)));
    const pick = Rng.fromSeed(5);
    // A handful of tensors × coordinates keeps the full method's check fast.
    const checked = pick.shuffle([...names]).slice(0, 8);
    const eps = 1e-2;
    for (const name of checked) {
      const i = names.indexOf(name);
      const g = await grads[i]!.data();
      const values = await trainable[name]!.data();
      for (let k = 0; k < 2; k++) {
        const c = pick.int(values.length);
        const at = (delta: number) =>
          tf.tidy(() => {
            const v = Float32Array.from(values);
            v[c] = v[c]! + delta;
            const t = { ...trainable, [name]: tf.tensor(v, trainable[name]!.shape) };
            return loss(forwardParams(base, t), t).dataSync()[0]!;
          });
        const numeric = (at(eps) - at(-eps)) / (2 * eps);
        const analytic = g[c]!;
        expect(Math.abs(numeric - analytic), `${name}[${c}]: numeric ${numeric} vs analytic ${analytic}`).toBeLessThanOrEqual(
          3e-3 + 3e-2 * Math.max(Math.abs(numeric), Math.abs(analytic)),
        );
      }
    }
    // Every trainable tensor is connected to the loss.
    for (let i = 0; i < names.length; i++) {
      const g = await grads[i]!.abs().max().data();
      expect(g[0], names[i]).toBeGreaterThan(0);
    }
    tf.dispose([...grads, ...Object.values(trainable)]);
  });

  it('a declared frozen prefix is hook-free: the rest of the network from its cached tokens gives the same loss and gradients', async (ctx) => {
    if (!m.frozenPrefix) ctx.skip();
    const block = m.frozenPrefix!(config, options);
    const trainable = randomise(initTrainable(m, base, config, options, Rng.fromSeed(3)), 10);
    const names = trainedNames(trainable);
    // The prefix from the frozen base alone, as the trainer caches it.
    const entering = tf.tidy(() => vitTokensAt(base, config, x, block));
    const lossAndGrads = (fromPrefix: boolean) =>
      tf.tidy(() =>
        tf.valueAndGrads((...ts: tf.Tensor[]) => {
          const t = { ...trainable, ...Object.fromEntries(names.map((n, i) => [n, ts[i]!])) };
          const hooks = m.hooks(t, config, options, { training: false, rng: frozenRng });
          const logits = fromPrefix ? vitForwardFrom(forwardParams(base, t), config, entering, block, hooks) : vitForward(forwardParams(base, t), config, x, hooks);
          return crossEntropy(logits, labels);
        })(names.map((n) => trainable[n]!)),
      );
    const whole = lossAndGrads(false);
    const split = lossAndGrads(true);
    expect(maxAbsDiff(await split.value.data(), await whole.value.data())).toBeLessThan(1e-5);
    for (let i = 0; i < names.length; i++) expect(maxAbsDiff(await split.grads[i]!.data(), await whole.grads[i]!.data()), names[i]).toBeLessThan(1e-5);
    tf.dispose([entering, whole.value, split.value, ...whole.grads, ...split.grads, ...Object.values(trainable)]);
  });

  it('a gradient step changes only trainable tensors, never the frozen base, and leaks no tensor', async () => {
    const all = randomise(initTrainable(m, base, config, options, Rng.fromSeed(3)), 6);
    const names = trainedNames(all);
    const buffers = Object.fromEntries(Object.entries(all).filter(([k]) => !names.includes(k)));
    let trainable = Object.fromEntries(names.map((n) => [n, all[n]!]));
    const snapshot = Object.fromEntries(Object.entries(base).map(([k, t]) => [k, t.dataSync().slice()]));
    const before = tf.memory().numTensors;
    const rng = Rng.fromSeed(7);
    for (let step = 0; step < 3; step++) {
      const next = tf.tidy(() => {
        const f = (...ts: tf.Tensor[]) => {
          const t = { ...buffers, ...Object.fromEntries(names.map((n, i) => [n, ts[i]!])) };
          return crossEntropy(vitForward(forwardParams(base, t), config, x, m.hooks(t, config, options, { training: true, rng })), labels);
        };
        const grads = tf.grads(f)(names.map((n) => trainable[n]!));
        return Object.fromEntries(names.map((n, i) => [n, tf.sub(trainable[n]!, tf.mul(grads[i]!, 0.1))]));
      });
      tf.dispose(Object.values(trainable));
      trainable = next;
      expect(tf.memory().numTensors).toBe(before);
    }
    for (const [k, t] of Object.entries(base)) expect(Buffer.from(t.dataSync().buffer).equals(Buffer.from(snapshot[k]!.buffer)), k).toBe(true);
    tf.dispose([...Object.values(trainable), ...Object.values(buffers)]);
  });

  it('adapter tensors survive safetensors save → load and give the same outputs', async () => {
    const trainable = randomise(initTrainable(m, base, config, options, Rng.fromSeed(3)), 8);
    const dir = mkdtempSync(path.join(tmpdir(), 'peft-adapter-'));
    try {
      for (const layout of ['hf', 'timm', 'torchvision', 'lucidrains'] as const) {
        const exported = m.adapterTensors(trainable, config, options, layout);
        const host: Record<string, HostTensor> = {};
        for (const [k, t] of Object.entries(exported)) {
          host[k] = t.dtype === 'int32' ? { dtype: 'int32', shape: t.shape, data: (await t.data()) as Int32Array } : { dtype: 'float32', shape: t.shape, data: (await t.data()) as Float32Array };
        }
        tf.dispose(Object.values(exported));
        const file = path.join(dir, `${layout}.safetensors`);
        await writeSafetensors(file, host);
        const read = (await readSafetensors(file)).tensors;
        const loadedRaw = Object.fromEntries([...read].map(([k, h]) => [k, tf.tensor(h.data, h.shape)]));
        const loaded = m.fromAdapterTensors(loadedRaw, config, options, layout);
        tf.dispose(Object.values(loadedRaw));
        expect(Object.keys(loaded).sort()).toEqual(Object.keys(trainable).sort());
        const [a, b] = tf.tidy(() => [loss(forwardParams(base, trainable), trainable), loss(forwardParams(base, loaded), loaded)]);
        expect((await b!.data())[0]).toBe((await a!.data())[0]);
        const config_ = m.adapterConfig(config, options, layout);
        expect(typeof config_.peft_type).toBe('string');
        tf.dispose([a!, b!, ...Object.values(loaded)]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      tf.dispose(Object.values(trainable));
    }
  });

  it('merged weights give the hooked outputs, and unmerge restores the base weights', async (ctx) => {
    if (!m.merge) ctx.skip();
    const trainable = randomise(initTrainable(m, base, config, options, Rng.fromSeed(3)), 9);
    const { params, owned } = mergedParams(m, base, trainable, config, options);
    const [hooked, merged] = tf.tidy(() => [
      vitForward(forwardParams(base, trainable), config, x, m.hooks(trainable, config, options, { training: false, rng: frozenRng })),
      vitForward(params, config, x),
    ]);
    expect(maxAbsDiff(await hooked!.data(), await merged!.data())).toBeLessThan(1e-4);
    if (m.unmerge) {
      const restored = m.unmerge(params, trainable, config, options);
      for (const [k, t] of Object.entries(restored)) expect(maxAbsDiff(await t.data(), await base[k]!.data()), k).toBeLessThan(1e-5);
      tf.dispose(Object.values(restored));
    }
    tf.dispose([hooked!, merged!, ...owned, ...Object.values(trainable)]);
  });
});

describe('registry', () => {
  it('lists methods with unique kebab-case names, descriptions and described options', () => {
    const names = listMethods().map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(expect.arrayContaining(['linear-probe', 'full', 'lora']));
    for (const m of listMethods()) {
      expect(m.name).toMatch(/^[a-z][a-z0-9-]*$/);
      expect(m.description.length).toBeGreaterThan(10);
      expect(() => parseOptions(m, {})).not.toThrow();
    }
  });

  it('rejects unknown and invalid options with one line', () => {
    const lora = listMethods().find((m) => m.name === 'lora')!;
    expect(() => parseOptions(lora, { rank: 4 })).toThrow(/method lora: .*rank/);
    expect(() => parseOptions(lora, { targets: 'qkv,query' })).toThrow(/cannot be combined/);
    expect(parseOptions(lora, { targets: 'query,value', r: 4 })).toMatchObject({ targets: ['query', 'value'], r: 4, alpha: 16, layers: null });
  });

  it('LoRA layers: block indices as list, number or text; no repeats, no negatives; a block the model lacks is named at build time', () => {
    const lora = listMethods().find((m) => m.name === 'lora')!;
    expect(parseOptions(lora, { layers: [5, 4] })).toMatchObject({ layers: [5, 4] });
    expect(parseOptions(lora, { layers: 3 })).toMatchObject({ layers: [3] });
    expect(parseOptions(lora, { layers: '4, 5' })).toMatchObject({ layers: [4, 5] });
    expect(() => parseOptions(lora, { layers: [1, 1] })).toThrow(/layers: layers repeat a block/);
    expect(() => parseOptions(lora, { layers: [-1] })).toThrow(/method lora: layers/);
    expect(() => parseOptions(lora, { layers: [1.5] })).toThrow(/method lora: layers/);
    expect(() => parseOptions(lora, { layers: 'last' })).toThrow(/method lora: layers/);
    expect(() => parseOptions(lora, { layers: [] })).toThrow(/method lora: layers/);
    const options = parseOptions(lora, { layers: [1, 2, 7] });
    expect(() => lora.shapes(TINY_VIT, options)).toThrow('LoRA layers 2, 7 do not exist: this model has 2 blocks (0–1)');
    const late = parseOptions(lora, { layers: [1], targets: 'qkv' });
    expect(lora.frozenPrefix!(TINY_VIT, late)).toBe(1);
    expect(lora.frozenPrefix!(TINY_VIT, parseOptions(lora, {}))).toBe(0);
    expect(lora.adapterConfig(TINY_VIT, late, 'hf')).toMatchObject({ layers_to_transform: [1], layers_pattern: 'layer' });
    expect(lora.adapterConfig(TINY_VIT, late, 'lucidrains')).toMatchObject({ layers_to_transform: [1], layers_pattern: 'layers' });
    expect(lora.adapterConfig(TINY_VIT, parseOptions(lora, {}), 'hf')).not.toHaveProperty('layers_to_transform');
  });
});
