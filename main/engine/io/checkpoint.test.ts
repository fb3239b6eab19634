import * as tf from '@tensorflow/tfjs';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { decodeImage } from '../data/decode';
import { inputSpec } from '../eval';
import { vitFeatures, vitForward, withImageSize } from '../models/vit';
import { CheckpointError, disposeModel, loadModelFolder, type LoadedModel } from './checkpoint';
import { readSafetensors, writeSafetensors, type HostTensor } from './safetensors';

// Fixtures made by scripts/make_vit_fixtures.py (PyTorch reference outputs, committed).
const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/vit/', import.meta.url));
const CASES = readdirSync(FIXTURES, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();
const TOLERANCE = 1e-4;

beforeAll(async () => {
  await initBackend();
});

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function toTensor4d(h: HostTensor): tf.Tensor4D {
  return tf.tensor4d(h.data as Float32Array, h.shape as [number, number, number, number]);
}

it('fixtures cover all four layouts', () => {
  const layouts = CASES.map((c) => (JSON.parse(readFileSync(path.join(FIXTURES, c, 'config.json'), 'utf8')) as { layout: string }).layout);
  expect(new Set(layouts)).toEqual(new Set(['hf', 'timm', 'torchvision', 'lucidrains']));
});

describe.each(CASES)('PyTorch parity: %s', (name) => {
  const dir = path.join(FIXTURES, name);
  let model: LoadedModel;
  let ref: Map<string, HostTensor>;
  beforeAll(async () => {
    model = await loadModelFolder(dir);
    ref = (await readSafetensors(path.join(dir, 'reference.safetensors'))).tensors;
  });
  afterAll(() => disposeModel(model));

  it('detects the layout named in config.json', () => {
    const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as { layout: string; num_labels: number };
    expect(model.layout).toBe(config.layout);
    expect(model.summary.classes).toHaveLength(config.num_labels);
    expect(model.paramCount).toBeGreaterThan(0);
  });

  it(`logits and pooled features within ${TOLERANCE}`, async () => {
    const before = tf.memory().numTensors;
    const [logits, features] = tf.tidy(() => {
      const x = toTensor4d(ref.get('pixel_values')!);
      return [vitForward(model.params, model.config, x), vitFeatures(model.params, model.config, x)];
    });
    expect(maxAbsDiff(await logits!.data(), ref.get('logits')!.data)).toBeLessThanOrEqual(TOLERANCE);
    expect(maxAbsDiff(await features!.data(), ref.get('features')!.data)).toBeLessThanOrEqual(TOLERANCE);
    tf.dispose([logits!, features!]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('position embeddings resampled to 2× resolution match PyTorch F.interpolate', async (ctx) => {
    const mode = (JSON.parse(readFileSync(path.join(dir, 'reference.json'), 'utf8')) as { interpolate: string }).interpolate;
    if (!mode) ctx.skip();
    const before = tf.memory().numTensors;
    const big = withImageSize(model.params, model.config, 2 * model.config.imageSize, mode as 'bilinear' | 'bicubic');
    const logits = tf.tidy(() => vitForward(big.params, big.config, toTensor4d(ref.get('pixel_values_2x')!)));
    expect(maxAbsDiff(await logits.data(), ref.get('logits_2x')!.data)).toBeLessThanOrEqual(TOLERANCE);
    tf.dispose([logits, big.params.pos_embed!]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('decoding image.png gives the reference logits', async (ctx) => {
    if (!ref.has('image_logits')) ctx.skip();
    const pixels = await decodeImage(path.join(dir, 'image.png'), inputSpec(model));
    const s = model.config.imageSize;
    const logits = tf.tidy(() => vitForward(model.params, model.config, tf.tensor4d(pixels, [1, s, s, model.config.numChannels])));
    expect(maxAbsDiff(await logits.data(), ref.get('image_logits')!.data)).toBeLessThanOrEqual(TOLERANCE);
    logits.dispose();
  });
});

describe('position-embedding resampling', () => {
  it('is the identity at the original size, for both modes', async () => {
    const model = await loadModelFolder(path.join(FIXTURES, 'hf_gelu_rgb'));
    for (const mode of ['bilinear', 'bicubic'] as const) {
      const same = withImageSize(model.params, model.config, model.config.imageSize, mode);
      expect(maxAbsDiff(await same.params.pos_embed!.data(), await model.params.pos_embed!.data())).toBeLessThan(1e-6);
      same.params.pos_embed!.dispose();
    }
    expect(() => withImageSize(model.params, model.config, 18)).toThrow(/not a multiple of the patch size 4/);
    disposeModel(model);
  });
});

describe('backbone-only checkpoints (no classifier)', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'checkpoint-backbone-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it.each([
    ['hf_gelu_rgb', ['classifier.weight', 'classifier.bias'], true],
    ['timm_avg_fcnorm', ['head.weight', 'head.bias'], false],
  ])('%s without its head loads with 0 classes and the reference features', async (base, headKeys, addPooler) => {
    const dir = path.join(tmp, base);
    cpSync(path.join(FIXTURES, base), dir, { recursive: true });
    const { tensors } = await readSafetensors(path.join(dir, 'model.safetensors'));
    for (const key of headKeys) tensors.delete(key);
    if (addPooler) {
      // HF ViTModel's pooler is known and ignored, not an unexpected key.
      tensors.set('vit.pooler.dense.weight', { dtype: 'float32', shape: [24, 24], data: new Float32Array(576) });
      tensors.set('vit.pooler.dense.bias', { dtype: 'float32', shape: [24], data: new Float32Array(24) });
    }
    await writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
    const model = await loadModelFolder(dir);
    expect(model.config.numLabels).toBe(0);
    expect(model.summary.classes).toEqual([]);
    const ref = (await readSafetensors(path.join(dir, 'reference.safetensors'))).tensors;
    const [features, logits] = tf.tidy(() => {
      const x = toTensor4d(ref.get('pixel_values')!);
      return [vitFeatures(model.params, model.config, x), vitForward(model.params, model.config, x)];
    });
    expect(maxAbsDiff(await features!.data(), ref.get('features')!.data)).toBeLessThanOrEqual(TOLERANCE);
    expect(logits!.shape).toEqual([3, 0]);
    tf.dispose([features!, logits!]);
    disposeModel(model);
  });
});

describe('importer errors name what is wrong', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'checkpoint-test-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  let n = 0;
  /** Copies a fixture, lets the test edit its weights and/or config, returns the folder. */
  async function variant(
    base: string,
    edit: { weights?: (t: Map<string, HostTensor>) => void; config?: (c: Record<string, unknown>) => void },
  ): Promise<string> {
    const dir = path.join(tmp, `v${n++}`);
    cpSync(path.join(FIXTURES, base), dir, { recursive: true });
    if (edit.weights) {
      const { tensors } = await readSafetensors(path.join(dir, 'model.safetensors'));
      edit.weights(tensors);
      await writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
    }
    if (edit.config) {
      const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
      edit.config(config);
      writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    }
    return dir;
  }
  async function fails(dir: string, message: RegExp): Promise<void> {
    const before = tf.memory().numTensors;
    const err = await loadModelFolder(dir).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(CheckpointError);
    expect(err!.message).toMatch(message);
    expect(err!.message).not.toContain('\n');
    expect(tf.memory().numTensors).toBe(before);
  }

  it('missing keys', async () => {
    const dir = await variant('timm_avg_fcnorm', { weights: (t) => t.delete('blocks.1.mlp.fc2.bias') });
    await fails(dir, /missing timm keys: blocks\.1\.mlp\.fc2\.bias \(1\)/);
  });

  it('unexpected keys, first few and a count', async () => {
    const extra: HostTensor = { dtype: 'float32', shape: [1], data: new Float32Array(1) };
    const dir = await variant('hf_gelu_rgb', {
      weights: (t) => {
        for (let i = 0; i < 6; i++) t.set(`vit.pooler.extra${i}`, extra);
      },
    });
    await fails(dir, /unexpected hf keys: vit\.pooler\.extra0, vit\.pooler\.extra1, vit\.pooler\.extra2, vit\.pooler\.extra3, … \(6 in all\)/);
  });

  it('more layers in the weights than num_hidden_layers', async () => {
    const dir = await variant('lucidrains_headdim_relu', { config: (c) => (c.num_hidden_layers = 1) });
    await fails(dir, /unexpected lucidrains keys: transformer\.layers\.1\./);
  });

  it('qkv_bias in config but not in the weights', async () => {
    const dir = await variant('hf_gelutanh_nobias_grey', { config: (c) => (c.qkv_bias = true) });
    await fails(dir, /missing hf keys: vit\.encoder\.layer\.0\.attention\.attention\.query\.bias/);
  });

  it('shapes that disagree with config.json', async () => {
    const dir = await variant('torchvision_f16', { config: (c) => (c.intermediate_size = 64) });
    await fails(dir, /mlp\.0\.weight gives blocks\.0\.mlp\.fc1\.weight \[16, 32\] but config\.json implies \[16, 64\]/);
  });

  it('a layout in config.json that the keys contradict', async () => {
    const dir = await variant('timm_token_relu_nobias', { config: (c) => (c.layout = 'hf') });
    await fails(dir, /layout "hf" but the weights use the timm layout/);
  });

  it('unrecognised key layout', async () => {
    const dir = await variant('timm_token_relu_nobias', {
      weights: (t) => {
        t.set('something.else', t.get('patch_embed.proj.weight')!);
        t.delete('patch_embed.proj.weight');
      },
    });
    await fails(dir, /key layout not recognised/);
  });

  it('unsupported activation and bad config values', async () => {
    await fails(await variant('hf_gelu_rgb', { config: (c) => (c.hidden_act = 'swish') }), /hidden_act "swish" is not supported/);
    await fails(await variant('hf_gelu_rgb', { config: (c) => (c.hidden_size = 'big') }), /config\.json: hidden_size: /);
    await fails(await variant('hf_gelu_rgb', { config: (c) => (c.id2label = { 0: 'a' }) }), /id2label has no entry "1"/);
  });

  it('a corrupt model.safetensors', async () => {
    const dir = await variant('hf_gelu_rgb', {});
    const file = path.join(dir, 'model.safetensors');
    const bytes = readFileSync(file);
    bytes.write('#', 8); // first header byte: the JSON no longer parses
    writeFileSync(file, bytes);
    await fails(dir, /model\.safetensors: header is not valid JSON/);
  });

  it('a missing model.safetensors', async () => {
    const dir = await variant('hf_gelu_rgb', {});
    rmSync(path.join(dir, 'model.safetensors'));
    await fails(dir, /model\.safetensors: not found/);
  });
});
