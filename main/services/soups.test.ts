import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeDigitFolder } from '../../test/digits';
import { tempStudio } from '../../test/studio';
import { disposeModel, loadModelFolder } from '../engine/io/checkpoint';
import { importModel } from './models';
import { sharedHeldOut } from './soups';

// A tiny greyscale ViT (8×8 input) from the parity fixtures: digits are resized to it.
const TINY_MODEL = join(__dirname, '../../test/fixtures/vit/hf_gelutanh_nobias_grey');

describe('soup service', () => {
  let current: ReturnType<typeof tempStudio> | undefined;
  const folders: string[] = [];
  afterEach(async () => {
    await current?.studio.close();
    current = undefined;
    for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  });

  it('soups two runs trained by the real trainer: scores uniform and greedy on shared held-out images, keeps the average as a model', async () => {
    current = tempStudio();
    const { studio, dispatch } = current;
    const folder = mkdtempSync(join(tmpdir(), 'studio-soup-data-'));
    folders.push(folder);
    await writeDigitFolder(folder, { '0': 10, '1': 10 });
    const datasetId = studio.datasets.create('zeros and ones').id;
    await studio.imports.start(datasetId, { kind: 'folder', path: folder });
    await studio.imports.idle();
    // A val split of the dataset: every run validates on the same images, whatever its seed.
    studio.labeling.makeSplits({ datasetId, train: 0.7, val: 0.3, test: 0, seed: 1, reassign: true });
    const model = await importModel(studio.store, TINY_MODEL);
    const train = (seed: number, lr: number, methodOptions: Record<string, unknown> = {}) =>
      studio.runs.create({ datasetId, modelId: model.id, method: 'lora', steps: 6, methodOptions, batchSize: 4, lr, seed, valFraction: 0.2, evalEvery: 3, checkpointEvery: 3 });
    const a = await train(1, 1e-2);
    const b = await train(2, 3e-2);
    const narrow = await train(3, 1e-2, { r: 2 });
    await studio.runs.idle();
    for (const run of [a, b, narrow]) expect(studio.runs.get(run.id).status).toBe('done');

    const report = await studio.soups.make([a.id, b.id]);
    const valCount = studio.store.images.page(datasetId, { split: 'val' }, 0, 100).total;
    expect(report.heldOut).toBe(valCount);
    // Seeds 1 and 2: the new heads started from different random weights.
    expect(report.sharedStart).toBe(false);
    expect(report.classes).toEqual(['0', '1']);
    expect(report.ingredients.map((i) => i.runId)).toEqual([a.id, b.id]);
    // Each ingredient's score is evaluate()'s on the same images.
    for (const ingredient of report.ingredients) {
      expect(ingredient.accuracy).toBeCloseTo((await studio.evaluation.evaluate(ingredient.runId, 'val')).accuracy, 10);
    }
    expect(report.uniform.runIds).toEqual([a.id, b.id]);
    const best = [...report.ingredients].sort((x, y) => y.accuracy - x.accuracy)[0]!;
    expect(report.greedy.runIds[0]).toBe(best.runId);
    expect(report.greedy.accuracy).toBeGreaterThanOrEqual(best.accuracy);
    expect(report.greedy.steps).toHaveLength(2);
    // The second step tried the uniform soup of both: the same score.
    expect(report.greedy.steps[1]!.accuracy).toBeCloseTo(report.uniform.accuracy, 10);
    expect(report.greedy.steps[1]!.kept).toBe(report.uniform.accuracy >= best.accuracy);

    // Kept: a model folder whose weights are the average of the two runs' trained models.
    const before = tf.memory().numTensors;
    const kept = await studio.soups.keep([a.id, b.id], 'uniform');
    expect(kept.name).toBe(`uniform soup of ${a.name} + ${b.name}`);
    expect(kept.classes).toEqual(['0', '1']);
    expect(studio.store.models.list().map((m) => m.id)).toContain(kept.id);
    const soup = await loadModelFolder(kept.path);
    const [ma, mb] = [await studio.evaluation.loadRunModel(a.id), await studio.evaluation.loadRunModel(b.id)];
    for (const name of ['head.weight', 'blocks.0.attn.qkv.weight', 'blocks.1.attn.proj.weight']) {
      const expected = tf.tidy(() => tf.div(tf.add(ma.model.params[name]!, mb.model.params[name]!), 2));
      const got = await soup.params[name]!.data();
      const want = await expected.data();
      expected.dispose();
      want.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 5));
    }
    disposeModel(soup);
    ma.dispose();
    mb.dispose();
    expect(tf.memory().numTensors).toBe(before);

    // Another LoRA rank trains other shapes: refused, naming the runs.
    await expect(studio.soups.make([a.id, narrow.id])).rejects.toMatchObject({ code: 'conflict', message: expect.stringMatching(/different shapes/) });
    // Through the contract: at least two runs to make, finished runs only.
    expect(await dispatch('soups.make', { runIds: [a.id] })).toMatchObject({ ok: false, error: { code: 'validation' } });
    const failed = studio.store.runs.create('never trained', datasetId, model.id, 'lora', {});
    studio.store.runs.setStatus(failed, 'failed', 'boom');
    expect(await dispatch('soups.make', { runIds: [a.id, failed] })).toMatchObject({ ok: false, error: { code: 'conflict', message: expect.stringMatching(/has not finished/) } });
    expect(await dispatch('soups.keep', { runIds: [a.id, 999], recipe: 'greedy' })).toMatchObject({ ok: false, error: { code: 'not_found' } });
  });

  it('the held-out set is the images every run held out, matched by file and class', () => {
    const classes = ['cat', 'dog'];
    const held = sharedHeldOut([
      { classes, items: [{ file: 'x', label: 0, split: 'val' }, { file: 'y', label: 1, split: 'val' }, { file: 'z', label: 1, split: null }] },
      { classes: ['dog', 'cat'], items: [{ file: 'y', label: 0, split: null }, { file: 'z', label: 1, split: null }] },
    ]);
    // y is a dog in both; z is a dog in one and a cat in the other; x only one run held out.
    expect(held).toEqual({ classes, items: [{ file: 'y', label: 1, split: 'val' }] });
  });
});
