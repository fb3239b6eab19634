import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { truncated } from '../../test/bad-files';
import { digitPng, writeDigitFolder } from '../../test/digits';
import { sharedPath } from '../../test/shared';
import { tempStudio } from '../../test/studio';
import { importModel } from './models';
import { topClasses } from './previews';

// A tiny greyscale ViT (8×8 input, patch 2: a 4×4 grid, 3 classes) from the parity fixtures.
const TINY_MODEL = join(__dirname, '../../test/fixtures/vit/hf_gelutanh_nobias_grey');

const upload = async (digit: number, index = 0) => ({ kind: 'upload' as const, name: `${digit}.png`, base64: (await digitPng(digit, index)).toString('base64') });

describe('preview service', () => {
  let current: ReturnType<typeof tempStudio> | undefined;
  const folders: string[] = [];
  afterEach(async () => {
    await current?.studio.close();
    current = undefined;
    for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  });

  it('predicts a dropped image under a model and under a run: top classes, probabilities and a rollout map over the patch grid', async () => {
    current = tempStudio();
    const { studio, dispatch } = current;
    const model = await importModel(studio.store, TINY_MODEL);
    const result = await studio.previews.predict({ model: { kind: 'model', id: model.id }, image: await upload(3) });
    expect(result.modelName).toBe(model.name);
    expect(result.top.map((t) => t.label).sort()).toEqual(['class_0', 'class_1', 'class_2']);
    expect(result.top.reduce((a, t) => a + t.probability, 0)).toBeCloseTo(1, 5);
    for (let i = 1; i < result.top.length; i++) expect(result.top[i]!.probability).toBeLessThanOrEqual(result.top[i - 1]!.probability);
    expect(result).toMatchObject({ width: 28, height: 28, saliency: { rows: 4, cols: 4 } });
    expect(result.saliency.values).toHaveLength(16);
    expect(Math.max(...result.saliency.values)).toBe(1);
    expect(Math.min(...result.saliency.values)).toBeGreaterThan(0);

    // A run's trained model (2 classes), and an image already in the studio, by hash.
    const folder = mkdtempSync(join(tmpdir(), 'studio-preview-data-'));
    folders.push(folder);
    await writeDigitFolder(folder, { '0': 6, '1': 6 });
    const datasetId = studio.datasets.create('zeros and ones').id;
    await studio.imports.start(datasetId, { kind: 'folder', path: folder });
    await studio.imports.idle();
    const run = await studio.runs.create({
      datasetId, modelId: model.id, method: 'lora', steps: 4, methodOptions: {},
      batchSize: 4, lr: 1e-2, seed: 3, valFraction: 0.25, evalEvery: 2, checkpointEvery: 2,
    });
    await studio.runs.idle();
    const stored = studio.store.images.page(datasetId, {}, 0, 1).items[0]!;
    const envelope = await dispatch('previews.predict', { model: { kind: 'run', id: run.id }, image: { kind: 'stored', hash: stored.hash } });
    expect(envelope).toMatchObject({ ok: true, value: { modelName: run.name, width: 28, height: 28 } });
    const value = (envelope as { value: { top: { label: string }[] } }).value;
    expect(value.top.map((t) => t.label).sort()).toEqual(['0', '1']);
  });

  it('refuses what is not an image, unknown images and models, and paths', async () => {
    current = tempStudio();
    const { studio, dispatch } = current;
    const model = await importModel(studio.store, TINY_MODEL);
    const ref = { kind: 'model', id: model.id };
    const cut = truncated(await digitPng(1, 0)).toString('base64');
    expect(await dispatch('previews.predict', { model: ref, image: { kind: 'upload', name: 'cut.png', base64: cut } })).toMatchObject({
      ok: false,
      error: { code: 'validation', message: expect.stringMatching(/^cut\.png: truncated or corrupt image/) },
    });
    const text = Buffer.from('not an image').toString('base64');
    expect(await dispatch('previews.predict', { model: ref, image: { kind: 'upload', name: 'a.txt', base64: text } })).toMatchObject({
      ok: false,
      error: { code: 'validation', message: 'a.txt: not an image (unrecognised file format)' },
    });
    expect(await dispatch('previews.predict', { model: ref, image: { kind: 'stored', hash: 'a'.repeat(64) } })).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(await dispatch('previews.predict', { model: { kind: 'model', id: 999 }, image: await upload(1) })).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(await dispatch('previews.predict', { model: ref, image: { kind: 'path', path: '/etc/passwd' } })).toMatchObject({ ok: false, error: { code: 'validation' } });
    expect(await dispatch('previews.predict', { model: ref, image: { kind: 'stored', hash: '../../etc/passwd' } })).toMatchObject({ ok: false, error: { code: 'validation' } });
  });

  it('vit-mnist reads real handwritten digits', async () => {
    const mnist = sharedPath('models/vit-mnist');
    if (!mnist) return;
    current = tempStudio();
    const { studio } = current;
    const model = await importModel(studio.store, mnist);
    for (const digit of [0, 3, 7]) {
      const result = await studio.previews.predict({ model: { kind: 'model', id: model.id }, image: await upload(digit, 1) });
      expect(result.top).toHaveLength(5);
      expect(result.top[0]!.label).toBe(String(digit));
      expect(result.saliency).toMatchObject({ rows: 7, cols: 7 });
    }
  });

  it('top classes are the k most probable, most probable first', () => {
    expect(topClasses([0.1, 0.5, 0.05, 0.3, 0.02, 0.03], ['a', 'b', 'c', 'd', 'e', 'f'], 3)).toEqual([
      { label: 'b', probability: 0.5 },
      { label: 'd', probability: 0.3 },
      { label: 'a', probability: 0.1 },
    ]);
  });
});
