import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SoupProgress } from '../../preload/api';
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

  /** A studio with a digits dataset (a val split every run validates on, whatever its seed) and the tiny model. */
  async function digitStudio() {
    current = tempStudio();
    const { studio } = current;
    const folder = mkdtempSync(join(tmpdir(), 'studio-soup-data-'));
    folders.push(folder);
    await writeDigitFolder(folder, { '0': 10, '1': 10 });
    const datasetId = studio.datasets.create('zeros and ones').id;
    await studio.imports.start(datasetId, { kind: 'folder', path: folder });
    await studio.imports.idle();
    studio.labeling.makeSplits({ datasetId, train: 0.7, val: 0.3, test: 0, seed: 1, reassign: true });
    const model = await importModel(studio.store, TINY_MODEL);
    const train = (seed: number, lr: number, methodOptions: Record<string, unknown> = {}) =>
      studio.runs.create({ datasetId, modelId: model.id, method: 'lora', steps: 6, methodOptions, batchSize: 4, lr, seed, valFraction: 0.2, evalEvery: 3, checkpointEvery: 3 });
    return { ...current, datasetId, model, train };
  }

  it('soups two runs trained by the real trainer: scores uniform and greedy on shared held-out images, keeps the average as a model', async () => {
    const { studio, dispatch, datasetId, model, train } = await digitStudio();
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

  it('reports its stages and images in order up to the total; a cancel stops it between batches, frees its tensors, and the next soup works', async () => {
    const { studio, dispatch, datasetId, train } = await digitStudio();
    const a = await train(1, 1e-2);
    const b = await train(1, 3e-2);
    await studio.runs.idle();
    const heldOut = studio.store.images.page(datasetId, { split: 'val' }, 0, 100).total;
    const seen: SoupProgress[] = [];
    const unsubscribe = studio.events.subscribe((event, payload) => event === 'soups.progress' && seen.push(payload as SoupProgress));

    const report = await studio.soups.make([a.id, b.id], 'soup-1');
    // Run i of 2 loaded, each run scored alone, the uniform soup, greedy step 1 of 1 (b tried after a, or a after b).
    const stages = [...new Set(seen.map((p) => `${p.stage} ${p.index}/${p.count} ${p.runName ?? ''}`.trim()))];
    const second = report.greedy.steps[1]!.runId === a.id ? a.name : b.name;
    expect(stages).toEqual([`loading 1/2 ${a.name}`, `loading 2/2 ${b.name}`, `ingredient 1/2 ${a.name}`, `ingredient 2/2 ${b.name}`, 'uniform 1/1', `greedy 1/1 ${second}`]);
    expect(seen.every((p) => p.jobId === 'soup-1')).toBe(true);
    // Overall images scored only grow, and end at 2n scorings of the held-out images.
    for (const [i, p] of seen.entries()) {
      expect(p.done).toBeGreaterThanOrEqual(seen[i - 1]?.done ?? 0);
      expect(p.done).toBeLessThanOrEqual(p.total);
      if (p.stage !== 'loading') expect(p.imagesTotal).toBe(heldOut);
    }
    expect(seen.at(-1)).toMatchObject({ stage: 'greedy', imagesDone: heldOut, done: 4 * heldOut, total: 4 * heldOut });
    // Without a jobId: no events.
    seen.length = 0;
    await studio.soups.make([a.id, b.id]);
    expect(seen).toEqual([]);

    // Cancelled while scoring a run alone, and while scoring a greedy step's average (its own tensors).
    const before = tf.memory().numTensors;
    for (const stage of ['ingredient', 'greedy'] as const) {
      seen.length = 0;
      const jobId = `cancel-at-${stage}`;
      let cancelled: Promise<unknown> | undefined;
      const stop = studio.events.subscribe((event, payload) => {
        if (event === 'soups.progress' && (payload as SoupProgress).stage === stage) cancelled ??= dispatch('jobs.cancel', { jobId });
      });
      const making = dispatch('soups.make', { runIds: [a.id, b.id], jobId });
      expect(await making).toMatchObject({ ok: false, error: { code: 'conflict', message: expect.stringMatching(/cancelled/) } });
      stop();
      expect(await cancelled).toEqual({ ok: true, value: { cancelled: true } });
      // Stopped at the first batch of that stage: nothing after it was scored.
      expect(seen.at(-1)).toMatchObject({ stage, index: 1, imagesDone: 0 });
      expect(tf.memory().numTensors).toBe(before);
    }
    // A finished job is no longer cancellable, and the service makes the same soup again.
    expect(await dispatch('jobs.cancel', { jobId: 'soup-1' })).toEqual({ ok: true, value: { cancelled: false } });
    expect(await dispatch('soups.make', { runIds: [a.id, b.id], jobId: 'soup-2' })).toEqual({ ok: true, value: report });
    expect(tf.memory().numTensors).toBe(before);
    unsubscribe();
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
