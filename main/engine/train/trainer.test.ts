import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { loadModelFolder, disposeModel, type LoadedModel } from '../io/checkpoint';
import { readSafetensors } from '../io/safetensors';
import { forwardParams, parseOptions, targetConfig } from '../methods/framework';
import { getMethod, listMethods } from '../methods/registry';
import { randomVitParams, TINY_VIT } from '../methods/tiny-vit';
import { vitForward, vitParamShapes, type VitConfig } from '../models/vit';
import { loadCheckpoint, loadLatestCheckpoint } from './checkpoint';
import { crossEntropy } from './loss';
import { clipByGlobalNorm, decays, initOptimizerState, optimizerStep, type OptimizerConfig } from './optim';
import { Rng } from './rng';
import { learningRate } from './schedule';
import { parseTrainSpec, type TrainSpecInput } from './spec';
import { limitPerClass, stratifiedSplit } from './split';
import { syntheticDataset } from './synthetic';
import { Trainer, type TrainEvent } from './trainer';

beforeAll(async () => {
  await initBackend();
});

const close = (a: ArrayLike<number>, b: number[], tol: number) => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < b.length; i++) expect(Math.abs(a[i]! - b[i]!), `[${i}] ${a[i]} vs ${b[i]}`).toBeLessThanOrEqual(tol);
};

describe('schedule', () => {
  it('linear warmup then cosine to minLr', () => {
    const s = { lr: 1, minLr: 0, warmupSteps: 2, totalSteps: 6 };
    close([0, 1, 2, 3, 4, 5, 6].map((k) => learningRate(k, s)), [0.5, 1, 1, 0.8535534, 0.5, 0.1464466, 0], 1e-6);
    close([3, 6].map((k) => learningRate(k, { ...s, minLr: 0.1 })), [0.1 + 0.9 * 0.8535534, 0.1], 1e-6);
    expect(learningRate(0, { ...s, warmupSteps: 0 })).toBe(1);
  });
});

describe('optimizers (reference values computed with the torch.optim formulas in float64)', () => {
  const grads = [
    [0.5, -1],
    [0.1, 0.2],
  ];
  const run = async (config: OptimizerConfig) => {
    let params = { w: tf.tensor2d([[1, -2]]) };
    let state = initOptimizerState(config, params);
    const seen: number[][] = [];
    for (const g of grads) {
      const next = tf.tidy(() => {
        const r = optimizerStep(config, params, { w: tf.tensor2d([g]) }, state, 0.1);
        return { params: r.params, slots: r.state.slots, t: r.state.t };
      });
      tf.dispose([params.w, ...Object.values(state.slots).flatMap((s) => Object.values(s))]);
      params = next.params as { w: tf.Tensor2D };
      state = { t: next.t, slots: next.slots };
      seen.push(Array.from(await params.w.data()));
    }
    tf.dispose([params.w, ...Object.values(state.slots).flatMap((s) => Object.values(s))]);
    return { seen, t: state.t };
  };
  const base = { weightDecay: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, momentum: 0.9 };

  it('AdamW', async () => {
    const { seen, t } = await run({ kind: 'adamw', ...base });
    close(seen[0]!, [0.899, -1.898], 1e-6);
    close(seen[1]!, [0.8177969, -1.8449994], 1e-6);
    expect(t).toBe(2);
  });

  it('SGD with momentum and L2 weight decay', async () => {
    const { seen } = await run({ kind: 'sgd', ...base });
    close(seen[0]!, [0.949, -1.898], 1e-6);
    close(seen[1]!, [0.892151, -1.824302], 1e-6);
  });

  it('weight decay skips biases, norms, tokens and prompts', () => {
    expect(decays('blocks.0.attn.qkv.weight', [8, 24])).toBe(true);
    expect(decays('blocks.0.attn.query.lora_A', [8, 2])).toBe(true);
    expect(decays('head.weight', [8, 3])).toBe(true);
    expect(decays('blocks.0.attn.qkv.bias', [24])).toBe(false);
    expect(decays('blocks.0.norm1.weight', [8])).toBe(false);
    expect(decays('pos_embed', [5, 8])).toBe(false);
    expect(decays('cls_token', [8])).toBe(false);
    expect(decays('blocks.3.prompts', [10, 8])).toBe(false);
  });

  it('clips by global norm', async () => {
    const [a, b, n] = tf.tidy(() => {
      const { grads, norm } = clipByGlobalNorm([tf.tensor1d([3]), tf.tensor1d([4])], 1);
      return [grads[0]!, grads[1]!, norm];
    });
    close(await a!.data(), [0.6], 1e-6);
    close(await b!.data(), [0.8], 1e-6);
    close(await n!.data(), [5], 1e-6);
    const kept = tf.tidy(() => clipByGlobalNorm([tf.tensor1d([0.3, 0.4])], 1).grads[0]!);
    close(await kept.data(), [0.3, 0.4], 1e-6);
    tf.dispose([a!, b!, n!, kept]);
  });
});

describe('label smoothing', () => {
  it('matches (1 − ε)·onehot + ε/K cross-entropy', async () => {
    const logits = tf.tensor2d([
      [2, 0, -1],
      [0.5, 1.5, 0],
    ]);
    const labels = tf.tensor1d([0, 2], 'int32');
    const plain = crossEntropy(logits.slice([0, 0], [1, 3]) as tf.Tensor2D, labels.slice([0], [1]));
    const smooth = crossEntropy(logits, labels, 0.1);
    close(await plain.data(), [0.169846], 1e-5);
    close(await smooth.data(), [(0.3365127 + 1.8977021) / 2], 1e-5);
    tf.dispose([logits, labels, plain, smooth]);
  });
});

describe('rng and split', () => {
  it('restores its state exactly and is seed-stable', () => {
    const a = Rng.fromSeed(42);
    a.next();
    const saved = a.state();
    const xs = [a.nextUint32(), a.nextUint32(), a.normal()];
    const b = Rng.fromState(saved);
    expect([b.nextUint32(), b.nextUint32(), b.normal()]).toEqual(xs);
    expect(Rng.fromSeed(42).nextUint32()).toBe(Rng.fromSeed(42).nextUint32());
    expect(Rng.fromSeed(42).nextUint32()).not.toBe(Rng.fromSeed(43).nextUint32());
    const r = Rng.fromSeed(1);
    const draws = Array.from({ length: 20000 }, () => r.next());
    const mean = draws.reduce((s, x) => s + x, 0) / draws.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
  });

  it('splits each class in proportion, reproducibly', () => {
    const labels = Array.from({ length: 100 }, (_, i) => (i < 60 ? 0 : i < 90 ? 1 : 2));
    const all = labels.map((_, i) => i);
    const { train, val } = stratifiedSplit(all, (i) => labels[i]!, 0.2, 7);
    const count = (ix: number[], c: number) => ix.filter((i) => labels[i] === c).length;
    expect([0, 1, 2].map((c) => count(val, c))).toEqual([12, 6, 2]);
    expect(train.length + val.length).toBe(100);
    expect(new Set([...train, ...val]).size).toBe(100);
    expect(stratifiedSplit(all, (i) => labels[i]!, 0.2, 7)).toEqual({ train, val });
    expect(stratifiedSplit(all, (i) => labels[i]!, 0.2, 8).val).not.toEqual(val);
    expect(limitPerClass(labels, 5)).toEqual([0, 1, 2, 3, 4, 60, 61, 62, 63, 64, 90, 91, 92, 93, 94]);
  });
});

function tinyModel(config: VitConfig, seed = 1): LoadedModel {
  const params = randomVitParams(config, Rng.fromSeed(seed));
  const id2label = Array.from({ length: config.numLabels }, (_, i) => `old${i}`);
  const paramCount = Object.values(params).reduce((n, t) => n + t.size, 0);
  return {
    config,
    params,
    preprocess: { resize: null, rescale: 1 / 255, normalize: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] } },
    layout: 'timm',
    id2label,
    paramCount,
    summary: { name: 'tiny', layout: 'timm', paramCount, imageSize: config.imageSize, numChannels: config.numChannels, classes: id2label },
  };
}

describe('trainer', () => {
  let dir: string;
  let model: LoadedModel;
  const dataset = syntheticDataset(48, 3, 8, 3, 5);
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'peft-train-'));
    model = tinyModel(TINY_VIT);
  });
  afterAll(() => {
    disposeModel(model);
    rmSync(dir, { recursive: true, force: true });
  });

  const spec = (extra: Partial<TrainSpecInput>) =>
    parseTrainSpec({ method: 'lora', steps: 6, batchSize: 8, lr: 0.01, seed: 3, valFraction: 0.25, evalEvery: 3, checkpointEvery: 2, ...extra });

  it('linear probe trains on cached features: loss falls, no tensor leaks, events in order', async () => {
    const events: TrainEvent[] = [];
    const tensorsAtStep: number[] = [];
    const out = path.join(dir, 'probe');
    const trainer = new Trainer({
      model,
      dataset,
      spec: spec({ method: 'linear-probe', steps: 40, lr: 0.05, warmupSteps: 0, evalEvery: 10, checkpointEvery: 20 }),
      outDir: out,
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'step') tensorsAtStep.push(tf.memory().numTensors);
      },
    });
    const before = tf.memory().numTensors;
    const summary = await trainer.run();
    expect(tf.memory().numTensors).toBe(before);
    expect(new Set(tensorsAtStep).size).toBe(1);
    expect(summary).toMatchObject({ method: 'linear-probe', steps: 40, stopped: false, featureCache: true, trainSize: 36, valSize: 12 });
    // Head (8·3 + 3) and the pooled-norm LayerNorm (2·8).
    expect(summary.trainableParams).toBe(43);
    const steps = events.filter((e) => e.type === 'step');
    expect(steps.map((e) => e.step)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const mean = (xs: { loss: number }[]) => xs.reduce((a, e) => a + e.loss, 0) / xs.length;
    // Random tiny-ViT features separate the synthetic classes only partly: expect steady progress.
    expect(mean(steps.slice(-5))).toBeLessThan(mean(steps.slice(0, 5)) * 0.9);
    expect(events.filter((e) => e.type === 'eval').map((e) => e.step)).toEqual([10, 20, 30, 40]);
    expect(events.filter((e) => e.type === 'checkpoint').map((e) => e.step)).toEqual([20, 40]);
    expect(events[0]!.type).toBe('start');
    expect(events.at(-1)).toEqual({ type: 'done', summary });
    expect(summary.valAccuracy).toBeGreaterThanOrEqual(0.5);
  });

  it.each(listMethods().filter((m) => m.featureCacheable || m.tapCache).map((m) => m.name))(
    '%s: training on cached backbone outputs follows the uncached trajectory',
    async (name) => {
      const s = spec({ method: name, steps: 4, augment: { flip: false, cropScale: null, colorJitter: 0 }, evalEvery: 4, checkpointEvery: 100 });
      const run = async (cacheFeatures: boolean) => {
        const losses: number[] = [];
        const summary = await new Trainer({
          model,
          dataset,
          spec: { ...s, cacheFeatures },
          outDir: path.join(dir, `cache-${name}-${cacheFeatures}`),
          onEvent: (e) => void (e.type === 'step' && losses.push(e.loss)),
        }).run();
        return { losses, summary };
      };
      const cachedRun = await run(true);
      const direct = await run(false);
      expect(cachedRun.summary.featureCache).toBe(true);
      expect(direct.summary.featureCache).toBe(false);
      close(cachedRun.losses, direct.losses, 1e-4);
      expect(Math.abs(cachedRun.summary.valLoss! - direct.summary.valLoss!)).toBeLessThan(1e-4);
    },
  );

  const NO_AUGMENT = { flip: false, cropScale: null, colorJitter: 0 };

  it.each([
    ['lora', { targets: 'qkv', r: 2, layers: [1] }, 1],
    ['lora', { r: 2, dropout: 0.2, targets: 'query,value,fc1' }, 0],
    ['vpt', { mode: 'shallow', promptLength: 3 }, 0],
    ['vpt', { mode: 'deep', promptLength: 2 }, 0],
  ] as const)('%s %j: training from the cached frozen prefix follows the uncached run (losses, val loss, adapter), no leaks', async (name, methodOptions, block) => {
    const s = spec({ method: name, methodOptions, steps: 4, augment: NO_AUGMENT, evalEvery: 4, checkpointEvery: 100 });
    const run = async (cacheFeatures: boolean) => {
      const losses: number[] = [];
      const tensorsAtStep: number[] = [];
      let note: string | undefined;
      const before = tf.memory().numTensors;
      const summary = await new Trainer({
        model,
        dataset,
        spec: { ...s, cacheFeatures },
        outDir: path.join(dir, `prefix-${name}-${block}-${JSON.stringify(methodOptions).length}-${cacheFeatures}`),
        onEvent: (e) => {
          if (e.type === 'start') note = e.cacheNote;
          if (e.type === 'step') {
            losses.push(e.loss);
            tensorsAtStep.push(tf.memory().numTensors);
          }
        },
      }).run();
      expect(tf.memory().numTensors).toBe(before);
      expect(new Set(tensorsAtStep).size).toBe(1);
      const adapter = (await readSafetensors(path.join(summary.adapterDir!, 'adapter_model.safetensors'))).tensors;
      return { losses, summary, note, adapter };
    };
    const cachedRun = await run(true);
    const direct = await run(false);
    expect(cachedRun.summary.featureCache).toBe(true);
    // 48 images × (1 + 4 patches) tokens × width 8 × 4 bytes.
    expect(cachedRun.note).toBe(`tokens entering block ${block} cached once per image (${((48 * 5 * 8 * 4) / 2 ** 20).toFixed(1)} MiB)`);
    expect(direct.summary.featureCache).toBe(false);
    close(cachedRun.losses, direct.losses, 1e-5);
    expect(Math.abs(cachedRun.summary.valLoss! - direct.summary.valLoss!)).toBeLessThan(1e-5);
    expect([...cachedRun.adapter.keys()].sort()).toEqual([...direct.adapter.keys()].sort());
    for (const [key, h] of direct.adapter) close(cachedRun.adapter.get(key)!.data, Array.from(h.data), 1e-5);
  });

  it('the frozen-prefix cache is skipped under augmentation and over its memory budget (the start event says why)', async () => {
    const late = { targets: 'qkv', r: 2, layers: [1] };
    const starts: Extract<TrainEvent, { type: 'start' }>[] = [];
    const onEvent = (e: TrainEvent) => void (e.type === 'start' && starts.push(e));
    const augmented = await new Trainer({
      model,
      dataset,
      spec: spec({ methodOptions: late, steps: 2, augment: { flip: true, cropScale: null, colorJitter: 0 } }),
      outDir: path.join(dir, 'prefix-augmented'),
      onEvent,
    }).run();
    expect(augmented.featureCache).toBe(false);
    expect(starts[0]!.cacheNote).toBeUndefined();
    const budget = 48 * 5 * 8 * 4;
    const fits = await new Trainer({ model, dataset, spec: spec({ methodOptions: late, steps: 2, augment: NO_AUGMENT }), outDir: path.join(dir, 'prefix-fits'), prefixCacheBytes: budget, onEvent }).run();
    expect(fits.featureCache).toBe(true);
    const over = await new Trainer({ model, dataset, spec: spec({ methodOptions: late, steps: 2, augment: NO_AUGMENT }), outDir: path.join(dir, 'prefix-over'), prefixCacheBytes: budget - 1, onEvent }).run();
    expect(over.featureCache).toBe(false);
    expect(starts[2]!.cacheNote).toMatch(/^tokens entering block 1 not cached: [\d.]+ MiB for 48 images is over the [\d.]+ MiB budget$/);
    // Patch-based training crops every step: no prefix cache, whatever the base method declares.
    const patch = await new Trainer({
      model,
      dataset,
      spec: spec({ method: 'patch-lora', methodOptions: { baseOptions: late }, steps: 2, augment: NO_AUGMENT }),
      outDir: path.join(dir, 'prefix-patch'),
      onEvent,
    }).run();
    expect(patch.featureCache).toBe(false);
    expect(starts[3]!.cacheNote).toBeUndefined();
  });

  it.each(listMethods().map((m) => m.name))('%s trains through the Trainer, resumes exactly, exports, leaks nothing', async (name) => {
    const s = spec({ method: name, steps: 4, evalEvery: 4, checkpointEvery: 2, augment: { flip: false, cropScale: null, colorJitter: 0 } });
    const before = tf.memory().numTensors;
    const whole = new Map<number, number>();
    const a = await new Trainer({ model, dataset, spec: s, outDir: path.join(dir, `all-${name}`), onEvent: (e) => void (e.type === 'step' && whole.set(e.step, e.loss)) }).run();
    expect(a.steps).toBe(4);
    expect([...whole.values()].every(Number.isFinite)).toBe(true);
    expect(existsSync(path.join(a.adapterDir!, 'adapter_model.safetensors'))).toBe(true);
    expect(a.modelDir !== null).toBe(getMethod(name).merge !== undefined);
    const resumed = new Map<number, number>();
    await new Trainer({
      model,
      dataset,
      spec: s,
      outDir: path.join(dir, `all-${name}-resumed`),
      resume: path.join(dir, `all-${name}`, 'checkpoints', 'step-00000002'),
      onEvent: (e) => void (e.type === 'step' && resumed.set(e.step, e.loss)),
    }).run();
    expect([...resumed]).toEqual([...whole].slice(2));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('resuming in a fresh trainer reproduces the uninterrupted losses exactly (LoRA, dropout, augmentation)', async () => {
    const s = spec({ methodOptions: { r: 2, dropout: 0.2, targets: 'qkv,fc1' }, augment: { flip: true, cropScale: 0.5, colorJitter: 0.3 } });
    const collect = (target: Map<number, number>, stopAt?: { step: number; trainer: () => Trainer }) => (e: TrainEvent) => {
      if (e.type === 'step') target.set(e.step, e.loss);
      if (e.type === 'checkpoint' && stopAt && e.step === stopAt.step) stopAt.trainer().stop();
    };
    const full = new Map<number, number>();
    const a = await new Trainer({ model, dataset, spec: s, outDir: path.join(dir, 'a'), onEvent: collect(full) }).run();
    expect(a.steps).toBe(6);

    const first = new Map<number, number>();
    let interrupted: Trainer | undefined = undefined;
    interrupted = new Trainer({ model, dataset, spec: s, outDir: path.join(dir, 'b'), onEvent: collect(first, { step: 4, trainer: () => interrupted! }) });
    const b1 = await interrupted.run();
    expect(b1).toMatchObject({ stopped: true, steps: 4, adapterDir: null });
    expect([...first.keys()]).toEqual([1, 2, 3, 4]);

    const second = new Map<number, number>();
    const b2 = await new Trainer({ model, dataset, spec: s, outDir: path.join(dir, 'b'), resume: path.join(dir, 'b'), onEvent: collect(second) }).run();
    expect(b2).toMatchObject({ stopped: false, steps: 6 });
    expect([...second.keys()]).toEqual([5, 6]);
    expect([...first, ...second]).toEqual([...full]);
    expect(b2.valAccuracy).toBe(a.valAccuracy);

    // A changed setting is refused rather than silently continuing another run.
    await expect(
      new Trainer({ model, dataset, spec: { ...s, lr: 0.02 }, outDir: path.join(dir, 'b'), resume: path.join(dir, 'b', 'checkpoints', 'step-00000004') }).run(),
    ).rejects.toThrow(/lr 0.01 \(now 0.02\)/);
    // So is a base model the checkpoint's tensors do not fit.
    const other = tinyModel({ ...TINY_VIT, mlpSize: 12 });
    await expect(
      new Trainer({ model: other, dataset, spec: s, outDir: path.join(dir, 'b2'), resume: path.join(dir, 'b') }).run(),
    ).rejects.toThrow(/"blocks.0.mlp.fc1.lora_B" is \[2, 16\] but this model needs \[2, 12\]/);
    disposeModel(other);
  });

  it('a corrupt checkpoint is never loaded: the newest valid one is used instead', async () => {
    const root = path.join(dir, 'b', 'checkpoints');
    const newest = path.join(root, 'step-00000006');
    const file = path.join(newest, 'state.safetensors');
    const bytes = readFileSync(file);
    bytes[bytes.length - 3] ^= 0xff;
    writeFileSync(file, bytes);
    await expect(loadCheckpoint(newest)).rejects.toThrow(/sha256 .* does not match the manifest/);
    const latest = await loadLatestCheckpoint(path.join(dir, 'b'));
    expect(latest.state.step).toBe(4);
    expect(latest.skipped).toHaveLength(1);
    tf.dispose([...Object.values(latest.state.trainable), ...Object.values(latest.state.optimizer.slots).flatMap((x) => Object.values(x))]);
  });

  it.each([
    ['timm (CLS + pooled norm)', TINY_VIT],
    ['lucidrains (mean over all tokens)', { ...TINY_VIT, pooling: 'mean_all', qkvBias: false } as VitConfig],
    ['timm (patch mean + token norm)', { ...TINY_VIT, pooling: 'mean', finalNorm: 'tokens' } as VitConfig],
  ])('exports an adapter and a merged model that loadModelFolder reads back: %s', async (_label, config) => {
    const m = tinyModel(config, 9);
    try {
      const out = path.join(dir, `export-${config.pooling}-${config.finalNorm}`);
      const s = spec({ steps: 3, methodOptions: { r: 2, targets: 'query,value,proj' }, valFraction: 0 });
      const summary = await new Trainer({ model: m, dataset, spec: s, outDir: out }).run();
      expect(summary.valAccuracy).toBeNull();
      const merged = await loadModelFolder(summary.modelDir!);
      expect(merged.id2label).toEqual(dataset.classes);
      expect(merged.config).toEqual(targetConfig(config, 3));

      // The adapter applied to the base through hooks gives the merged model's logits.
      const method = getMethod('lora');
      const options = parseOptions(method, s.methodOptions);
      const adapterConfig = JSON.parse(readFileSync(path.join(summary.adapterDir!, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
      expect(adapterConfig).toMatchObject({ peft_type: 'LORA', r: 2, lora_alpha: 16, target_modules: ['query', 'value', 'proj'] });
      const host = (await readSafetensors(path.join(summary.adapterDir!, 'adapter_model.safetensors'))).tensors;
      expect([...host.keys()]).toContain('base_model.model.blocks.0.attn.proj.lora_A.weight');
      const raw = Object.fromEntries([...host].map(([k, h]) => [k, tf.tensor(h.data, h.shape)]));
      const trainable = method.fromAdapterTensors(raw, merged.config, options, 'timm');
      const x = tf.tensor4d(Rng.fromSeed(4).fill(2 * 8 * 8 * 3, (r) => r.normal()), [2, 8, 8, 3]);
      const [hooked, direct] = tf.tidy(() => [
        vitForward(forwardParams(m.params, trainable), merged.config, x, method.hooks(trainable, merged.config, options, { training: false, rng: Rng.fromSeed(0) })),
        vitForward(merged.params, merged.config, x),
      ]);
      close(await direct!.data(), Array.from(await hooked!.data()), 1e-4);
      expect(merged.paramCount).toBe([...vitParamShapes(merged.config).values()].reduce((n, sh) => n + sh.reduce((a, b) => a * b, 1), 0));
      tf.dispose([hooked!, direct!, x, ...Object.values(raw), ...Object.values(trainable)]);
      disposeModel(merged);
    } finally {
      disposeModel(m);
    }
  });
});
