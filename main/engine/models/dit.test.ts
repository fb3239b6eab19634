// DiT forward parity with the PyTorch reference (scripts/make_dit_fixtures.py) and the importer.
import * as tf from '@tensorflow/tfjs';
import { mkdtemp, rm, writeFile, copyFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { loadDitFolder } from '../diffusion/dit-folder';
import { CheckpointError } from '../io/checkpoint';
import { readSafetensors, writeSafetensors } from '../io/safetensors';
import { ditEpsilon, ditForward, sincosPosEmbed } from './dit';

const FIXTURES = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'dit');

beforeAll(async () => {
  await initBackend();
});

async function maxAbsDiff(a: tf.Tensor, b: Float32Array): Promise<number> {
  const x = await a.data();
  expect(x.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(x[i]! - b[i]!));
  return m;
}

describe('DiT forward', () => {
  for (const name of ['dit_tiny_grey', 'dit_sigma_rgb']) {
    it(`${name}: matches the PyTorch reference within 1e-4, without leaking tensors`, async () => {
      const dir = path.join(FIXTURES, name);
      const model = await loadDitFolder(dir);
      const { tensors } = await readSafetensors(path.join(dir, 'reference.safetensors'));
      const get = (k: string) => tensors.get(k)!;
      const x = tf.tensor4d(get('x').data, get('x').shape as [number, number, number, number]);
      const t = tf.tensor1d(get('t').data as Float32Array);
      const y = tf.tensor1d(get('y').data as Float32Array);
      const before = tf.memory().numTensors;
      const out = tf.tidy(() => ditForward(model.params, model.config, { x, t, y }));
      expect(tf.memory().numTensors).toBe(before + 1);
      expect(out.shape).toEqual(get('output').shape);
      expect(await maxAbsDiff(out, get('output').data as Float32Array)).toBeLessThanOrEqual(1e-4);
      // ε is the first C channels of a learn-sigma output.
      const eps = tf.tidy(() => ditEpsilon(model.params, model.config, { x, t, y }));
      expect(eps.shape[3]).toBe(model.config.inChannels);
      tf.dispose([x, t, y, out, eps, ...Object.values(model.params)]);
    });
  }

  it('computes the fixed sin-cos position embeddings that the checkpoint stores', async () => {
    const { tensors } = await readSafetensors(path.join(FIXTURES, 'dit_tiny_grey', 'model.safetensors'));
    const stored = tensors.get('pos_embed')!.data as Float32Array;
    const computed = sincosPosEmbed(24, 4);
    expect(computed.length).toBe(stored.length);
    expect(Math.max(...computed.map((v, i) => Math.abs(v - stored[i]!)))).toBeLessThan(1e-6);
  });

  it('imports a checkpoint without pos_embed and refuses unknown keys', async () => {
    const src = path.join(FIXTURES, 'dit_tiny_grey');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'dit-'));
    try {
      await copyFile(path.join(src, 'config.json'), path.join(dir, 'config.json'));
      const { tensors } = await readSafetensors(path.join(src, 'model.safetensors'));
      tensors.delete('pos_embed');
      await writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
      const full = await loadDitFolder(src);
      const noPos = await loadDitFolder(dir);
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(full.params['pos_embed']!, noPos.params['pos_embed']!))).dataSync()[0]!);
      expect(diff).toBeLessThan(1e-6);
      tf.dispose([...Object.values(full.params), ...Object.values(noPos.params)]);

      tensors.set('blocks.0.extra.weight', { dtype: 'float32', shape: [1], data: new Float32Array(1) });
      await writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
      await expect(loadDitFolder(dir)).rejects.toThrow(CheckpointError);
      await expect(loadDitFolder(dir)).rejects.toThrow(/unexpected DiT keys: blocks\.0\.extra\.weight/);
      await writeFile(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'dit', input_size: 8 }));
      await expect(loadDitFolder(dir)).rejects.toThrow(/patch_size/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
